"""The state store as the worker uses it: every call timed and its failures counted.

A wrapper rather than code in each store, so SQLite and PostgreSQL are measured alike and the
stores stay free of metrics. A `FencedError` is a lost lease, not a store fault: it is counted
as such (``pinpoint_sync_lease_lost_total``) and re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from worker.observability.metrics import Metrics
from worker.store.base import StateStore
from worker.store.errors import FencedError


class _MeteredStore:
    __slots__ = ("_metrics", "_store", "_wrapped")

    def __init__(self, store: StateStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._wrapped: dict[str, Callable[..., Awaitable[Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            wrapped = self._wrapped[name] = self._meter(name)
        return wrapped

    def _meter(self, name: str) -> Callable[..., Awaitable[Any]]:
        metrics, store = self._metrics, self._store

        @functools.wraps(getattr(store, name))
        async def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            failed = False
            try:
                return await getattr(store, name)(*args, **kwargs)
            except FencedError:
                metrics.lease_lost()
                raise
            except BaseException as exc:  # counted, then re-raised unchanged
                failed = isinstance(exc, Exception)  # not a cancellation or an exit
                raise
            finally:
                metrics.store_operation(name, time.perf_counter() - started, failed=failed)

        return call


def metered(store: StateStore, metrics: Metrics) -> StateStore:
    """``store`` with each call timed (``pinpoint_sync_store_operation_seconds``) and each
    failure counted (``pinpoint_sync_store_errors_total``), by operation."""
    return cast(StateStore, _MeteredStore(store, metrics))
