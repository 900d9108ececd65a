"""Errors raised by the state store.

```
StateStoreError                 anything the store cannot do; the worker cannot go on safely
├── NotADatabaseError           the file at the configured path is not an SQLite database
├── SchemaTooNewError           the file was written by a newer pinpoint-sync (its schema version is
│                               higher than this code knows); refuse rather than guess
├── StoreUnavailableError       the database server cannot be reached or refused the login
├── StoreClosedError            the store was used after ``close()``
├── UnknownEffectError          ``complete_effect`` for a key that was never claimed
└── FencedError                 a write under a fence whose partition's lease moved on
```

None of these is retried by the store: each but `FencedError` means a misconfiguration, an
outage or a programming error, so the worker stops with the message rather than risk losing or
duplicating effects. `FencedError` means this worker no longer owns the partition: it stops
working on it (another worker has taken it over) and must not send the effect.
"""

from __future__ import annotations


class StateStoreError(Exception):
    """Base class of every state-store error."""


class NotADatabaseError(StateStoreError):
    """The configured state file exists but is not an SQLite database."""


class SchemaTooNewError(StateStoreError):
    """The state file's schema version is newer than this code supports."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        super().__init__(
            f"state store {path!r} has schema version {found}, but this pinpoint-sync supports "
            f"up to {supported}: it was written by a newer release; upgrade pinpoint-sync or "
            "point PINPOINT_SYNC_STATE_URL / PINPOINT_SYNC_STATE_PATH at another store"
        )
        self.path = path
        self.found = found
        self.supported = supported


class StoreUnavailableError(StateStoreError):
    """The database server cannot be reached, or refused the connection."""


class StoreClosedError(StateStoreError):
    """The store was used after it was closed."""


class UnknownEffectError(StateStoreError, KeyError):
    """An effect was completed or discarded that was never begun."""

    def __str__(self) -> str:
        return f"no effect recorded under key {self.args[0]!r}"


class FencedError(StateStoreError):
    """A ledger write was made under a fence whose partition has a newer epoch (or no owner)."""

    def __init__(self, topic: str, partition: int, epoch: int, current: int | None) -> None:
        now = "no lease" if current is None else f"epoch {current}"
        super().__init__(
            f"fenced: partition {topic}[{partition}] epoch {epoch} is stale ({now} now); "
            "this worker no longer owns the partition"
        )
        self.topic = topic
        self.partition = partition
        self.epoch = epoch
        self.current = current
