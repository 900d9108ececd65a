"""Errors raised by the state store.

```
StateStoreError                 anything the store cannot do; the worker cannot go on safely
├── NotADatabaseError           the file at the configured path is not an SQLite database
├── SchemaTooNewError           the file was written by a newer pinpoint-sync (its schema version is
│                               higher than this code knows); refuse rather than guess
├── StoreClosedError            the store was used after ``close()``
└── UnknownEffectError          ``complete_effect`` for a key that was never begun
```

None of these is retried: each means a misconfiguration or a programming error, so the worker
stops with the message rather than risk losing or duplicating effects.
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
            "point PINPOINT_SYNC_STATE_PATH at another file"
        )
        self.path = path
        self.found = found
        self.supported = supported


class StoreClosedError(StateStoreError):
    """The store was used after it was closed."""


class UnknownEffectError(StateStoreError, KeyError):
    """An effect was completed or discarded that was never begun."""

    def __str__(self) -> str:
        return f"no effect recorded under key {self.args[0]!r}"
