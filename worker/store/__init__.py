"""The state store: id mapping, candidate sync state, effect ledger with claims, partition
leases, pending backfill notes, held events and redrive memory.

`StateStore` is the contract (``base.py``); `SqliteStateStore` the embedded default (one host)
and `PostgresStateStore` the shared one (several hosts), both written over the same SQL
(``sql.py``) and tested by the same contract suite. `open_state_store` (``factory.py``) opens
the one the configuration names.
"""

from worker.store.base import (
    Claim,
    ClaimStatus,
    EffectRecord,
    EffectStatus,
    Fence,
    HeldEvent,
    Lease,
    StateStore,
    StoreStatus,
)
from worker.store.errors import (
    FencedError,
    NotADatabaseError,
    SchemaTooNewError,
    StateStoreError,
    StoreClosedError,
    StoreUnavailableError,
    UnknownEffectError,
)
from worker.store.migrations import SCHEMA_VERSION
from worker.store.sqlite import SqliteStateStore

__all__ = [
    "SCHEMA_VERSION",
    "Claim",
    "ClaimStatus",
    "EffectRecord",
    "EffectStatus",
    "Fence",
    "FencedError",
    "HeldEvent",
    "Lease",
    "NotADatabaseError",
    "SchemaTooNewError",
    "SqliteStateStore",
    "StateStore",
    "StateStoreError",
    "StoreClosedError",
    "StoreStatus",
    "StoreUnavailableError",
    "UnknownEffectError",
]
