"""WorkerConfig: defaults, validation messages by variable name, Kafka options, generated docs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from worker.config import (
    ConfigError,
    LogFormat,
    WorkerConfig,
    load_config,
    render_config_doc,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PINPOINT_SYNC_* variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("PINPOINT_SYNC_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    """With no variables set, every default is DESIGN 5.4's."""
    config = load_config()
    assert config.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert config.group_id == "pinpoint-sync"
    assert config.events_topic == "sourcewhale.campaign-events"
    assert config.settings_topic == "sourcewhale.team-settings"
    assert config.outcomes_topic == "pinpoint-sync.outcomes"
    assert config.dlq_topic == "pinpoint-sync.dlq"
    assert config.pinpoint_base_url == "https://{subdomain}.pinpointhq.com"
    assert config.secrets_dir == Path("/var/run/secrets/pinpoint-sync")
    assert config.state_path == Path("./var/pinpoint-sync.db")
    assert config.http_port == 9400
    assert config.log_format is None
    assert config.drain_timeout_s < 30


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables with the prefix set the fields, with their types."""
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS", "a:9092, b:9093")
    monkeypatch.setenv("PINPOINT_SYNC_HTTP_PORT", "9500")
    monkeypatch.setenv("PINPOINT_SYNC_LOG_FORMAT", "console")
    monkeypatch.setenv("PINPOINT_SYNC_LOG_LEVEL", "debug")
    monkeypatch.setenv("PINPOINT_SYNC_PINPOINT_BASE_URL", "http://127.0.0.1:8080/tenants/{subdomain}")
    config = load_config()
    assert config.bootstrap_servers == ["a:9092", "b:9093"]
    assert config.http_port == 9500
    assert config.log_format is LogFormat.CONSOLE
    assert config.log_level == "DEBUG"
    assert config.pinpoint_url("acme") == "http://127.0.0.1:8080/tenants/acme"


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An override (a command-line flag) beats the variable; None means not given."""
    monkeypatch.setenv("PINPOINT_SYNC_SETTINGS_TOPIC", "from-env")
    assert load_config(settings_topic="from-flag").settings_topic == "from-flag"
    assert load_config(settings_topic=None).settings_topic == "from-env"


def test_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable leaves the default in place."""
    monkeypatch.setenv("PINPOINT_SYNC_HTTP_PORT", "")
    assert load_config().http_port == 9400


@pytest.fixture
def pem(tmp_path: Path) -> str:
    """An existing file standing in for a PEM file."""
    path = tmp_path / "x.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


BAD = [
    ({"PINPOINT_SYNC_HTTP_PORT": "abc"}, ["PINPOINT_SYNC_HTTP_PORT"]),
    ({"PINPOINT_SYNC_HTTP_PORT": "70000"}, ["PINPOINT_SYNC_HTTP_PORT"]),
    ({"PINPOINT_SYNC_PINPOINT_BASE_URL": "https://pinpointhq.com"},
     ["PINPOINT_SYNC_PINPOINT_BASE_URL"]),
    ({"PINPOINT_SYNC_PINPOINT_BASE_URL": "ftp://{subdomain}.x"},
     ["PINPOINT_SYNC_PINPOINT_BASE_URL"]),
    ({"PINPOINT_SYNC_PINPOINT_BASE_URL": "https://{subdomain}.{region}.x"},
     ["PINPOINT_SYNC_PINPOINT_BASE_URL"]),
    ({"PINPOINT_SYNC_LOG_FORMAT": "xml"}, ["PINPOINT_SYNC_LOG_FORMAT"]),
    ({"PINPOINT_SYNC_LOG_LEVEL": "loud"}, ["PINPOINT_SYNC_LOG_LEVEL"]),
    ({"PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS": "localhost"},
     ["PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVERS"]),
    ({"PINPOINT_SYNC_MAX_INFLIGHT": "0"}, ["PINPOINT_SYNC_MAX_INFLIGHT"]),
    ({"PINPOINT_SYNC_COMMIT_INTERVAL_S": "-1"}, ["PINPOINT_SYNC_COMMIT_INTERVAL_S"]),
    ({"PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL": "TLS"}, ["PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL"]),
    ({"PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     ["PINPOINT_SYNC_KAFKA_SASL_MECHANISM", "PINPOINT_SYNC_KAFKA_SASL_USERNAME",
      "PINPOINT_SYNC_KAFKA_SASL_PASSWORD"]),
    ({"PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
      "PINPOINT_SYNC_KAFKA_SASL_MECHANISM": "GSSAPI", "PINPOINT_SYNC_KAFKA_SASL_USERNAME": "u",
      "PINPOINT_SYNC_KAFKA_SASL_PASSWORD": "p"}, ["PINPOINT_SYNC_KAFKA_SASL_MECHANISM"]),
    ({"PINPOINT_SYNC_KAFKA_SASL_USERNAME": "u"}, ["PINPOINT_SYNC_KAFKA_SASL_USERNAME"]),
    ({"PINPOINT_SYNC_KAFKA_SSL_CAFILE": "{pem}"}, ["PINPOINT_SYNC_KAFKA_SSL_CAFILE"]),
    ({"PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL": "SSL",
      "PINPOINT_SYNC_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     ["PINPOINT_SYNC_KAFKA_SSL_CAFILE"]),
    ({"PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL": "SSL",
      "PINPOINT_SYNC_KAFKA_SSL_CERTFILE": "{pem}"}, ["PINPOINT_SYNC_KAFKA_SSL_KEYFILE"]),
    ({"PINPOINT_SYNC_MAX_INFLIGHT": "10", "PINPOINT_SYNC_MAX_INFLIGHT_PER_TEAM": "20"},
     ["PINPOINT_SYNC_MAX_INFLIGHT_PER_TEAM"]),
    ({"PINPOINT_SYNC_PARTITION_BUFFER": "30000"}, ["PINPOINT_SYNC_PARTITION_BUFFER"]),
    ({"PINPOINT_SYNC_RETRY_BASE_DELAY_S": "60"}, ["PINPOINT_SYNC_RETRY_BASE_DELAY_S"]),
    ({"PINPOINT_SYNC_PINPOINT_CONNECT_TIMEOUT_S": "60"},
     ["PINPOINT_SYNC_PINPOINT_CONNECT_TIMEOUT_S"]),
    ({"PINPOINT_SYNC_SESSION_TIMEOUT_MS": "300000"}, ["PINPOINT_SYNC_SESSION_TIMEOUT_MS"]),
    ({"PINPOINT_SYNC_REVOKE_TIMEOUT_S": "400", "PINPOINT_SYNC_REBALANCE_STUCK_S": "1000"},
     ["PINPOINT_SYNC_REVOKE_TIMEOUT_S"]),
    ({"PINPOINT_SYNC_REBALANCE_STUCK_S": "10"}, ["PINPOINT_SYNC_REVOKE_TIMEOUT_S"]),
    ({"PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVER": "x:1"}, ["PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVER"]),
    ({"PINPOINT_SYNC_HTTP_PORT": "x", "PINPOINT_SYNC_LOG_FORMAT": "xml"},
     ["PINPOINT_SYNC_HTTP_PORT", "PINPOINT_SYNC_LOG_FORMAT"]),
]


@pytest.mark.parametrize(("env", "named"), BAD, ids=[",".join(n) for _, n in BAD])
def test_bad_configuration_names_each_variable(
    monkeypatch: pytest.MonkeyPatch, pem: str, env: dict[str, str], named: list[str]
) -> None:
    """Each bad configuration raises ConfigError naming exactly the bad variables."""
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{pem}", pem))
    with pytest.raises(ConfigError) as info:
        load_config()
    assert sorted(name for name, _ in info.value.problems) == sorted(named)
    for name in named:
        assert name in str(info.value)


def test_secret_never_in_messages_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SASL password appears in no error message and no repr."""
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_SASL_PASSWORD", "hunter2-secret")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "hunter2-secret" not in str(info.value)
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("PINPOINT_SYNC_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("PINPOINT_SYNC_HTTP_PORT", "nope")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "hunter2-secret" not in str(info.value)
    monkeypatch.delenv("PINPOINT_SYNC_HTTP_PORT")
    config = load_config()
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config.model_dump())


def test_unknown_override_is_reported() -> None:
    """An override that is not a field is refused by name."""
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_config(no_such_setting=1)


def test_kafka_client_options_plaintext() -> None:
    """Plaintext: only the bootstrap list and the protocol."""
    assert load_config().kafka_client_options() == {
        "bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


def test_kafka_client_options_sasl_ssl(pem: str) -> None:
    """SASL over TLS: mechanism, credentials and the CA file, as kafka-python names them."""
    config = load_config(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                         kafka_sasl_username="svc", kafka_sasl_password="pw",
                         kafka_ssl_cafile=pem)
    assert config.kafka_client_options() == {
        "bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN", "sasl_plain_username": "svc", "sasl_plain_password": "pw",
        "ssl_cafile": pem,
    }


def test_kafka_client_options_are_accepted_by_kafka_python(pem: str) -> None:
    """Every option key is one the consumer, producer and admin client all know."""
    config = load_config(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                         kafka_sasl_username="svc", kafka_sasl_password="pw",
                         kafka_ssl_cafile=pem, kafka_ssl_certfile=pem, kafka_ssl_keyfile=pem)
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(config.kafka_client_options()) <= set(client.DEFAULT_CONFIG)


def test_every_field_is_documented() -> None:
    """Each setting carries a description (it becomes the docs' meaning column)."""
    for name, field in WorkerConfig.model_fields.items():
        assert field.description, name


def test_configuration_doc_is_generated() -> None:
    """docs/configuration.md equals render_config_doc(); regenerate it when this fails."""
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == render_config_doc(), (
        "docs/configuration.md is out of date: run\n  .venv/bin/python -c \"from worker.config "
        "import render_config_doc as r; open('docs/configuration.md','w').write(r())\"")


def test_doc_lists_every_variable() -> None:
    """The rendered doc names every PINPOINT_SYNC_ variable of the model."""
    doc = render_config_doc()
    for name in WorkerConfig.model_fields:
        assert f"`PINPOINT_SYNC_{name.upper()}`" in doc
