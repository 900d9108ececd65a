"""The digest that stands in for a dead letter's bytes when they cannot fit the dead-letter topic.

Bad input never stops the worker (DESIGN 3), whatever its size: a record the dead-letter topic
refuses as too large (its ``max.message.bytes`` set below the events topic's, or an events topic
configured above the worker's limits) is dead-lettered as a small JSON document instead, naming
its size and SHA-256 and keeping its first bytes, so that it can be found again in the events
topic (its source coordinates are in the ``dlq.source.*`` headers) and told apart from others.
The headers say so: ``dlq.truncated: true`` and ``dlq.original.size`` (the value's size in
bytes). Such a dead letter cannot be redriven as it is: its event is read again from the source
coordinates.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Final

HEAD_BYTES: Final = 1_024
"""How many of the value's first bytes the digest keeps (base64)."""
MAX_KEPT_KEY_BYTES: Final = 1_024
"""A key up to this size is kept as the digest's key (same partition, same candidate); a larger
one is replaced by its own digest inside the value."""

TRUNCATED_HEADER: Final = "dlq.truncated"
ORIGINAL_SIZE_HEADER: Final = "dlq.original.size"


@dataclass(frozen=True, slots=True)
class DeadLetterDigest:
    """What is sent instead of the original record: its key, value and extra headers."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _summary(data: bytes) -> dict[str, object]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "head_base64": base64.b64encode(data[:HEAD_BYTES]).decode("ascii")}


def dead_letter_digest(key: bytes | None, value: bytes | None) -> DeadLetterDigest:
    """The digest of a record too large to be dead-lettered whole (a few kilobytes at most)."""
    original = value or b""
    document: dict[str, object] = {"truncated": True, "value": _summary(original)}
    kept_key = key
    if key is not None and len(key) > MAX_KEPT_KEY_BYTES:
        document["key"] = _summary(key)
        kept_key = None
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return DeadLetterDigest(
        key=kept_key, value=body,
        headers=((TRUNCATED_HEADER, b"true"), (ORIGINAL_SIZE_HEADER, str(len(original)).encode())),
    )
