"""The Kafka adapter's own plain types: what the rest of the worker sees of Kafka records.

Nothing above ``worker/kafka/`` handles kafka-python objects; records and partitions cross the
boundary as these small immutable values.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec


class PartitionId(NamedTuple):
    """A topic partition."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


class InboundRecord(msgspec.Struct, frozen=True, gc=False):
    """One consumed record: coordinates, raw key and value bytes, headers, broker timestamp.

    A frozen msgspec struct: immutable, built in C (one is made for every record consumed), and
    left out of the garbage collector's passes (it holds no reference cycles)."""

    tp: PartitionId
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    """As the producer set them: a header's value may be null (None)."""
    timestamp_ms: int

    @property
    def key_text(self) -> str | None:
        """The key as text (``team_id:candidate_id``), or None when absent or not UTF-8."""
        if self.key is None:
            return None
        try:
            return self.key.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def team_id(self) -> str:
        """The team part of the key (before the first ``:``); empty when unknown."""
        text = self.key_text
        if not text:
            return ""
        return text.split(":", 1)[0]
