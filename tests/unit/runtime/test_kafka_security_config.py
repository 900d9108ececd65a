"""Kafka security settings: the SASL password from the secrets directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.config import ConfigError, load_config

pytestmark = pytest.mark.unit

SASL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "svc"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PINPOINT_SYNC_* variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("PINPOINT_SYNC_"):
            monkeypatch.delenv(name)


def test_password_is_read_from_the_secrets_directory(tmp_path: Path) -> None:
    """Without KAFKA_SASL_PASSWORD, a kafka-sasl-password file (trailing newline cut) serves."""
    (tmp_path / "kafka-sasl-password").write_text("from-file\n")
    config = load_config(secrets_dir=tmp_path, **SASL)
    assert config.kafka_client_options()["sasl_plain_password"] == "from-file"
    assert "from-file" not in repr(config)


def test_the_variable_wins_over_the_file(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """KAFKA_SASL_PASSWORD, when set, is used rather than the file."""
    (tmp_path / "kafka-sasl-password").write_text("from-file")
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_SASL_PASSWORD", "from-env")
    config = load_config(secrets_dir=tmp_path, **SASL)
    assert config.kafka_client_options()["sasl_plain_password"] == "from-env"


def test_no_password_anywhere_is_refused_naming_both_ways(tmp_path: Path) -> None:
    """With neither the variable nor the file, the password is reported missing, and the
    message says the file would do too."""
    with pytest.raises(ConfigError) as info:
        load_config(secrets_dir=tmp_path, **SASL)
    assert [name for name, _ in info.value.problems] == ["PINPOINT_SYNC_KAFKA_SASL_PASSWORD"]
    assert "kafka-sasl-password file in SECRETS_DIR" in str(info.value)


def test_the_file_is_ignored_without_sasl(tmp_path: Path) -> None:
    """A password file beside other secrets does not make a PLAINTEXT configuration invalid."""
    (tmp_path / "kafka-sasl-password").write_text("x")
    options = load_config(secrets_dir=tmp_path).kafka_client_options()
    assert "sasl_plain_password" not in options
