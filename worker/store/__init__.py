"""The state store: id mapping, candidate sync state, effect ledger, pending backfill notes.

`StateStore` is the contract (``base.py``); `SqliteStateStore` the embedded default and
`InMemoryStateStore` a double with the same behaviour for component tests.
"""

from worker.store.base import EffectRecord, EffectStatus, StateStore
from worker.store.errors import (
    NotADatabaseError,
    SchemaTooNewError,
    StateStoreError,
    StoreClosedError,
    UnknownEffectError,
)
from worker.store.memory import InMemoryStateStore
from worker.store.sqlite import SCHEMA_VERSION, SqliteStateStore

__all__ = [
    "SCHEMA_VERSION",
    "EffectRecord",
    "EffectStatus",
    "InMemoryStateStore",
    "NotADatabaseError",
    "SchemaTooNewError",
    "SqliteStateStore",
    "StateStore",
    "StateStoreError",
    "StoreClosedError",
    "UnknownEffectError",
]
