"""Resolving a team's `api_key_ref` to its API key (DESIGN 5.2): never carried on Kafka.

A ref is looked up, in order:

1. as the file ``<secrets_dir>/<ref>`` (a mounted Kubernetes Secret: one file per key), its
   content stripped of surrounding whitespace;
2. as the environment variable ``PINPOINT_SYNC_SECRET_<REF>``, where ``<REF>`` is the ref
   upper-cased with every character other than a letter or a digit written as ``_``
   (``acme-prod.key`` → ``PINPOINT_SYNC_SECRET_ACME_PROD_KEY``).

Nothing is cached: the file is read again on every call, so a rotated key (Kubernetes updates
mounted Secrets in place) is picked up at the next resolution. Calls are rare (once per team
when its client is built, and again when a team paused for a rejected key is probed), so the
read costs nothing that matters. An empty file or variable counts as absent.

A ref naming anything outside the directory (a path separator, ``..``, a leading dot, a NUL)
is refused with `InvalidSecretRef`; the key itself never appears in a message or a log line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import structlog

SECRET_ENV_PREFIX = "PINPOINT_SYNC_SECRET_"  # noqa: S105  (a variable-name prefix, no secret)

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
_MAX_REF = 255

log = structlog.get_logger(__name__)


class InvalidSecretRef(ValueError):  # noqa: N818  (named for what it is, like InvalidSettings)
    """An `api_key_ref` that could name a file outside the secrets directory."""


def secret_env_name(ref: str) -> str:
    """The environment variable that may hold the key of ``ref``."""
    return SECRET_ENV_PREFIX + _NOT_ALNUM.sub("_", ref.upper())


def check_ref(ref: str) -> str:
    """``ref`` itself when it is a plain file name; else `InvalidSecretRef`."""
    if (
        not ref
        or len(ref) > _MAX_REF
        or "/" in ref
        or "\\" in ref
        or "\x00" in ref
        or ".." in ref
        or ref.startswith(".")
        or ref != ref.strip()
    ):
        raise InvalidSecretRef(f"api_key_ref {ref!r} is not a plain file name")
    return ref


class SecretResolver:
    """Resolves API key refs from a secrets directory, then from the environment."""

    def __init__(self, secrets_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self._dir = Path(secrets_dir)
        self._environ = os.environ if environ is None else environ

    @property
    def secrets_dir(self) -> Path:
        """The directory searched first."""
        return self._dir

    def resolve(self, ref: str) -> str | None:
        """The key named by ``ref``, or None when neither the file nor the variable holds one.

        Raises `InvalidSecretRef` for a ref that is not a plain file name.
        """
        check_ref(ref)
        path = self._dir / ref
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            # Unreadable (permissions, a directory, binary garbage): say so, fall back to the env.
            log.warning("secret_file_unreadable", api_key_ref=ref, error=type(exc).__name__)
            text = ""
        if text:
            return text
        value = self._environ.get(secret_env_name(ref), "").strip()
        return value or None

    def source(self, ref: str) -> str | None:
        """Where ``ref`` would be resolved from (``file`` or ``env``), for diagnostics."""
        check_ref(ref)
        path = self._dir / ref
        if path.is_file():
            return "file"
        if self._environ.get(secret_env_name(ref), "").strip():
            return "env"
        return None
