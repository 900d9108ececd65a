"""SecretResolver: secrets directory first, then the environment; unsafe refs refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.runtime.secrets import InvalidSecretRef, SecretResolver, secret_env_name

pytestmark = pytest.mark.unit


def test_file_content_is_stripped(tmp_path: Path) -> None:
    """The key is the file's content without surrounding whitespace (mounted Secrets end in \\n)."""
    (tmp_path / "acme-key").write_text("  k-123\n")
    assert SecretResolver(tmp_path, environ={}).resolve("acme-key") == "k-123"


def test_environment_fallback(tmp_path: Path) -> None:
    """Without a file, PINPOINT_SYNC_SECRET_<REF> (upper-cased, non-alphanumerics as _) is used."""
    env = {"PINPOINT_SYNC_SECRET_ACME_PROD_KEY": "k-env"}
    assert SecretResolver(tmp_path, environ=env).resolve("acme-prod.key") == "k-env"
    assert secret_env_name("acme-prod.key") == "PINPOINT_SYNC_SECRET_ACME_PROD_KEY"


def test_file_wins_over_environment(tmp_path: Path) -> None:
    """When both hold a key, the file's is used."""
    (tmp_path / "ref").write_text("from-file")
    resolver = SecretResolver(tmp_path, environ={"PINPOINT_SYNC_SECRET_REF": "from-env"})
    assert resolver.resolve("ref") == "from-file"
    assert resolver.source("ref") == "file"


def test_missing_everywhere_is_none(tmp_path: Path) -> None:
    """Neither file nor variable: None (an empty file or variable counts as absent)."""
    (tmp_path / "empty").write_text("\n")
    resolver = SecretResolver(tmp_path, environ={"PINPOINT_SYNC_SECRET_BLANK": " "})
    assert resolver.resolve("nothing") is None
    assert resolver.resolve("empty") is None
    assert resolver.resolve("blank") is None
    assert resolver.source("nothing") is None


def test_missing_directory_falls_back_to_environment(tmp_path: Path) -> None:
    """A secrets directory that does not exist is not an error."""
    resolver = SecretResolver(tmp_path / "absent", environ={"PINPOINT_SYNC_SECRET_K": "v"})
    assert resolver.resolve("k") == "v"


def test_rotated_key_is_read_again(tmp_path: Path) -> None:
    """Each call reads the file again, so a rotated key is seen at once."""
    path = tmp_path / "ref"
    path.write_text("old")
    resolver = SecretResolver(tmp_path, environ={})
    assert resolver.resolve("ref") == "old"
    path.write_text("new")
    assert resolver.resolve("ref") == "new"


@pytest.mark.parametrize("ref", ["../etc/passwd", "a/b", "a\\b", "..", ".hidden", "", "x\x00y",
                                 " padded"])
def test_unsafe_refs_are_refused(tmp_path: Path, ref: str) -> None:
    """A ref that could reach outside the directory raises InvalidSecretRef."""
    with pytest.raises(InvalidSecretRef):
        SecretResolver(tmp_path, environ={}).resolve(ref)


def test_unreadable_file_falls_back(tmp_path: Path) -> None:
    """A directory in place of the file is logged and the environment is tried."""
    (tmp_path / "ref").mkdir()
    resolver = SecretResolver(tmp_path, environ={"PINPOINT_SYNC_SECRET_REF": "v"})
    assert resolver.resolve("ref") == "v"
