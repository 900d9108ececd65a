"""Keeping personal data and secrets out of log lines.

- `mask_pii` masks e-mail addresses (``jane.doe@example.com`` → ``j***@example.com``) and phone
  numbers (``+44 7700 900123`` → ``***23``) in any text.
- `mask_secrets_inline` masks values written after a secret-looking name inside text
  (``X-API-KEY: abc`` → ``X-API-KEY: [REDACTED]``), and any value passed to `register_secret`
  wherever it appears (the worker registers every resolved API key).
- `mask_event_dict` is the structlog processor applying both to every string in a log event,
  nested dicts and lists included, and redacting the whole value of any key that names a
  secret (``api_key``, ``x-api-key``, ``authorization``, ``password``, ``token``, ``secret``…;
  a key ending in ``_ref``, ``_dir``, ``_path``, ``_file`` or ``_name``, such as ``api_key_ref``
  or ``secrets_dir``, points at a secret without holding it and is kept).

Phone numbers are recognised conservatively, because offsets, ids, timestamps and durations are
digits too: 7 to 15 digits, either written with a leading ``+`` or split into groups by spaces,
hyphens or parentheses (``(555) 123-4567``, ``020 7946 0958``, ``555-123-4567``); dates, times,
IP addresses, version numbers, ranges (``1200-5000``) and bare digit runs are left alone. Lists of
large numbers written with spaces in free text (``9400 9401 9402``) may be masked: an excess of
caution that structured fields (numbers as values, not in text) never meet.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = [
    "REDACTED",
    "forget_secrets",
    "is_secret_key",
    "mask_event_dict",
    "mask_pii",
    "mask_secrets_inline",
    "mask_value",
    "register_secret",
]

REDACTED = "[REDACTED]"

_EMAIL = re.compile(r"(?<![\w.%+-])([\w.%+-]+)(@|%40)([\w-]+(?:\.[\w-]+)+)")

_PHONE = re.compile(
    r"(?<![\w+./-])"  # not glued to a word, number, path or version
    r"\+?\(?\d(?:[ \-().]{0,2}\d){6,14}"  # 7..15 digits with separators
    r"(?![\w:/]|[.\-]\d)"  # and not continued by one
)
_DATE = re.compile(r"\d{4}[-/.]\d{2}[-/.]\d{2}|\d{2}[-/.]\d{2}[-/.]\d{4}")
_DOTTED_PHONE = re.compile(r"\(?\d{3}\)?\.\d{3}\.\d{4}")
_DIGIT_GROUPS = re.compile(r"\d+")

_SECRET_WORDS = (
    "api_key",
    "apikey",
    "authorization",
    "password",
    "passwd",
    "token",
    "secret",
    "cookie",
    "credential",
    "private_key",
)
# Names that point at a secret without holding it: api_key_ref, secrets_dir, password_file.
_NOT_SECRET_SUFFIXES = ("_ref", "_dir", "_path", "_file", "_name")
_INLINE_SECRET = re.compile(
    r"(?i)\b(x-api-key|authorization|api[_-]?key|password|passwd|token|secret)"
    r"(\"?'?\s*[:=]\s*\"?'?)"
    r"((?:bearer\s+|basic\s+)?[^\s\"',;&}]+)"
)

_MIN_SECRET_LENGTH = 6
_secrets_lock = threading.Lock()
_known_secrets: frozenset[str] = frozenset()


def _mask_email(match: re.Match[str]) -> str:
    local, at, domain = match.groups()
    return f"{local[0]}***{at}{domain}"


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = "".join(_DIGIT_GROUPS.findall(text))
    if _DATE.match(text):
        return text
    if "." in text and not _DOTTED_PHONE.fullmatch(text):
        return text  # an IP address, a version, a decimal number
    if not text.startswith("+"):
        groups = _DIGIT_GROUPS.findall(text)
        if len(groups) < 2 or any(len(g) < 2 for g in groups[1:]):
            return text  # a bare digit run (offset, id) or a list of small numbers
        if len(groups) == 2 and "-" in text and not text.startswith("("):
            return text  # a range such as offsets 1200-5000
    return f"***{digits[-2:]}"


def mask_pii(text: str) -> str:
    """Mask e-mail addresses and phone numbers in ``text``; everything else is kept."""
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(_mask_email, text)
    return _PHONE.sub(_mask_phone, text)


def register_secret(value: str) -> None:
    """Mask ``value`` wherever it appears in a log line from now on (e.g. a resolved API key).

    Values shorter than 6 characters are ignored: they would mask ordinary words.
    """
    global _known_secrets  # noqa: PLW0603 -- one process-wide set, read lock-free by logging
    if len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _known_secrets = _known_secrets | {value}


def forget_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _known_secrets  # noqa: PLW0603 -- see register_secret
    with _secrets_lock:
        _known_secrets = frozenset()


def mask_secrets_inline(text: str) -> str:
    """Mask registered secret values and values written after secret-looking names."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def is_secret_key(key: object) -> bool:
    """True when a mapping key names a secret (``X-API-KEY``, ``password``…)."""
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    if normalised.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return any(word in normalised for word in _SECRET_WORDS)


def mask_value(value: Any) -> Any:
    """Mask one value: strings, nested mappings and sequences; exceptions become masked text."""
    if isinstance(value, str):
        return mask_pii(mask_secrets_inline(value))
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_key(k) else mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v) for v in value]
    if isinstance(value, BaseException):
        return mask_value(f"{type(value).__name__}: {value}")
    return value


# Keys structlog and the stdlib bridge use for their own objects; left for the renderers.
_PASS_THROUGH = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})


def mask_event_dict(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data and secrets in every value of the event."""
    del logger, method_name
    for key, value in list(event_dict.items()):
        if key in _PASS_THROUGH:
            continue
        event_dict[key] = REDACTED if is_secret_key(key) else mask_value(value)
    return event_dict
