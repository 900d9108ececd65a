"""An asyncio face on one `kafka.KafkaProducer`: outcomes and dead letters are sent through it.

kafka-python's producer is thread-safe and does its network I/O on its own sender thread;
`send()` only appends to a batch, and the broker's acknowledgement arrives later as a callback
on the sender thread. `AsyncProducer` bridges that callback into an asyncio future with
`loop.call_soon_threadsafe`, so a coroutine awaits the acknowledgement without blocking the
event loop, and many sends are in flight at once (they are batched by the producer).

Delivery: ``acks=all`` with idempotence on (no duplicates from the producer's own retries, order
kept per partition), a few milliseconds of linger so concurrent sends share a batch, and a
delivery timeout after which the send fails with `KafkaUnavailable`.

The one blocking step in kafka-python's `send()` is waiting for a topic's metadata the first time
the topic is used; `send()` does that wait on a worker thread (`prepare()` does it up front).
`send_nowait()` calls kafka-python directly on the caller's thread: use it for prepared topics.

Cancelling an awaiting `send()` does not withdraw the record: it may still be written.
Errors are the adapter's own (`worker.kafka.errors`), never kafka-python's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from types import TracebackType
from typing import Any, Self

from kafka import KafkaProducer

from worker.kafka.errors import KafkaClosed, mapped_errors, translate

Headers = list[tuple[str, bytes]]

#: Producer settings fixed by the adapter (the caller's options give bootstrap and security).
DEFAULT_PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "batch_size": 64 * 1024,
    "compression_type": None,
    "delivery_timeout_ms": 60_000,
    "request_timeout_ms": 30_000,
    "max_block_ms": 30_000,
}


class AsyncProducer:
    """One kafka-python producer, awaitable from asyncio: ``await send(...)`` → coordinates."""

    def __init__(self, options: dict[str, Any], *, client_id: str,
                 **overrides: object) -> None:
        settings = {**DEFAULT_PRODUCER_SETTINGS, **overrides}
        with mapped_errors():
            self._producer = KafkaProducer(**options, client_id=client_id, **settings)
        self._prepared: set[str] = set()
        self._settlers: dict[asyncio.AbstractEventLoop, _Settler] = {}
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    async def create(cls, options: dict[str, Any], *, client_id: str,
                     **overrides: object) -> AsyncProducer:
        """Build the producer on a worker thread (connecting to the brokers may take a while)."""
        return await asyncio.to_thread(cls, options, client_id=client_id, **overrides)

    async def prepare(self, *topics: str) -> None:
        """Fetch the topics' metadata now, so later sends to them never block the loop."""
        for topic in topics:
            if topic not in self._prepared:
                await asyncio.to_thread(self._prepare_blocking, topic)

    def _prepare_blocking(self, topic: str) -> None:
        self._check_open()
        with mapped_errors():
            self._producer.partitions_for(topic)
        self._prepared.add(topic)

    async def send(self, topic: str, *, key: bytes | None, value: bytes | None,
                   headers: Headers | None = None) -> tuple[int, int]:
        """Send one record and wait for the brokers' acknowledgement: (partition, offset).

        Raises `KafkaUnavailable` (brokers unreachable, delivery timed out), `PublishError`
        (the broker refused the record) or `KafkaClosed`.
        """
        if topic not in self._prepared:
            await self.prepare(topic)
        return await self.send_nowait(topic, key=key, value=value, headers=headers)

    def send_nowait(self, topic: str, *, key: bytes | None, value: bytes | None,
                    headers: Headers | None = None) -> asyncio.Future[tuple[int, int]]:
        """Append one record now and return a future of its (partition, offset).

        Must be called from the event loop's thread. Blocks only if the topic was not
        prepared (metadata wait) or the producer's buffer is full.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._check_open()
        with mapped_errors():
            record = self._producer.send(topic, key=key, value=value, headers=headers or None)
        self._prepared.add(topic)
        settle = self._settler(loop)

        def on_success(metadata: Any) -> None:
            settle(done, (int(metadata.partition), int(metadata.offset)), None)

        def on_error(exc: BaseException) -> None:
            settle(done, None, translate(exc))

        record.add_callback(on_success)
        record.add_errback(on_error)
        return done

    def _settler(self, loop: asyncio.AbstractEventLoop) -> _Settler:
        settler = self._settlers.get(loop)
        if settler is None:
            settler = self._settlers[loop] = _Settler(loop)
        return settler

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record sent so far is acknowledged (or failed)."""
        self._check_open()

        def flush_blocking() -> None:
            with mapped_errors():
                self._producer.flush(timeout=timeout)

        await asyncio.to_thread(flush_blocking)

    async def close(self, timeout: float | None = None) -> None:
        """Flush what is pending (within ``timeout`` seconds) and close; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        def close_blocking() -> None:
            with mapped_errors():
                self._producer.close(timeout=timeout)

        await asyncio.to_thread(close_blocking)

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise KafkaClosed("the producer is closed")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


class _Settler:
    """Carries acknowledgements from the producer's network thread to the event loop.

    Acknowledgements arrive in bursts (one per record of each batch the broker acknowledges).
    Waking the event loop once per burst rather than once per record saves a self-pipe write
    and a loop iteration per record: the records settled meanwhile are all settled together.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready: deque[tuple[asyncio.Future[tuple[int, int]], tuple[int, int] | None,
                                 BaseException | None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def __call__(self, future: asyncio.Future[tuple[int, int]],
                 result: tuple[int, int] | None, error: BaseException | None) -> None:
        with self._lock:
            self._ready.append((future, result, error))
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits any more
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, deque()
            self._scheduled = False
        for future, result, error in ready:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]
