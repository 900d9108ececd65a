"""The digest dead-lettered in place of a record too large for the dead-letter topic."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from worker.core.digest import HEAD_BYTES, MAX_KEPT_KEY_BYTES, dead_letter_digest

pytestmark = pytest.mark.unit


def test_digest_names_size_hash_and_first_bytes_of_the_value() -> None:
    """The digest is small JSON with the value's size, SHA-256 and first bytes; key kept."""
    value = bytes(range(256)) * 8_000
    digest = dead_letter_digest(b"team:cand", value)
    body = json.loads(digest.value)
    assert body["truncated"] is True
    assert body["value"] == {"size": len(value), "sha256": hashlib.sha256(value).hexdigest(),
                             "head_base64": base64.b64encode(value[:HEAD_BYTES]).decode()}
    assert digest.key == b"team:cand"
    assert "key" not in body
    assert dict(digest.headers) == {"dlq.truncated": b"true",
                                    "dlq.original.size": str(len(value)).encode()}
    assert len(digest.value) < 2 * HEAD_BYTES


def test_a_huge_key_is_replaced_by_its_own_digest() -> None:
    """A key above the kept size goes into the value as a digest, the record gets no key."""
    key = b"k" * (MAX_KEPT_KEY_BYTES + 1)
    digest = dead_letter_digest(key, None)
    body = json.loads(digest.value)
    assert digest.key is None
    assert body["key"]["sha256"] == hashlib.sha256(key).hexdigest()
    assert body["value"]["size"] == 0
    assert dict(digest.headers)["dlq.original.size"] == b"0"
