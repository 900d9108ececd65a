"""An asyncio face on one librdkafka producer (``confluent-kafka``): outcome records and dead
letters are sent through it.

Why librdkafka rather than kafka-python here: the worker publishes one outcome record for every
event it consumes, so producing sits on the hot path of every event. kafka-python's producer
builds each record batch in Python and costs tens of microseconds per record, more than the whole
per-event budget of the skip path (DESIGN 7); librdkafka does the same in C for about one.
Consuming stays on kafka-python (DESIGN 4): the consumer and its group protocol live in
``worker/kafka/consumer.py``.

Threading: the adapter belongs to one event loop. ``produce`` only appends the record to
librdkafka's queue; librdkafka batches, sends and retries on its own C threads, and reports each
delivery when ``poll`` is called. The adapter calls ``poll`` on the loop itself (right after
producing and then every ``POLL_INTERVAL_S`` while records are unacknowledged), so delivery
callbacks and futures are always settled on the loop's thread without any hand-over.

Delivery: ``acks=all`` with idempotence on (no duplicates from the producer's own retries, order
kept per partition), a few milliseconds of linger so records share a batch, keys partitioned with
murmur2 as Java clients and kafka-python do, and a delivery timeout after which a record fails
with `KafkaUnavailable`. A full local queue (the brokers are not keeping up or are unreachable)
refuses the record at once with `KafkaUnavailable`: the caller retries later, nothing blocks.

Cancelling an awaiting `send()` does not withdraw the record: it may still be written.
Errors are the adapter's own (`worker.kafka.errors`), never librdkafka's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import confluent_kafka
import structlog

from worker.core.limits import MAX_DEAD_LETTER_BYTES
from worker.kafka.errors import (
    KafkaAdapterError,
    KafkaClosed,
    KafkaUnavailable,
    PublishError,
    translate_librdkafka,
)

Headers = list[tuple[str, bytes]]
_WireHeaders = list[tuple[str, str | bytes | None]] | None
Delivered = Callable[[KafkaAdapterError | None], None]
"""Called on the event loop once a record is acknowledged (None) or has failed (the error)."""

log = structlog.get_logger("pinpoint_sync.kafka.producer")

POLL_INTERVAL_S = 0.002
"""How often delivery reports are collected while records are unacknowledged."""
ERROR_REPEAT_S = 60.0
"""The same client-wide error is logged at most once in this many seconds."""

#: librdkafka settings fixed by the adapter (the caller's options give bootstrap and security;
#: ``config`` overrides any of these).
DEFAULT_PRODUCER_CONFIG: dict[str, object] = {
    "enable.idempotence": True,  # implies acks=all, bounded in-flight requests, ordered retries
    "acks": "all",
    "linger.ms": 5,
    "batch.size": 1024 * 1024,
    "compression.type": "none",
    "partitioner": "murmur2_random",  # the partition of a key as Java clients and kafka-python
    # Delivery timeout, retries included: librdkafka rides out a broker outage this long by
    # itself, keeping each partition's order; past it the caller is told and sends again.
    "message.timeout.ms": 300_000,
    "request.timeout.ms": 30_000,
    # A dead letter carries its event's bytes whole (up to the events topic's limit) plus its
    # headers: librdkafka's default (1,000,000 bytes) would refuse one near the limit. A record
    # above this is refused at once with `RecordTooLarge` (the caller sends a digest instead).
    "message.max.bytes": MAX_DEAD_LETTER_BYTES,
    "queue.buffering.max.kbytes": 64 * 1024,  # bounded memory: refuse beyond 64 MiB unsent
    "queue.buffering.max.messages": 200_000,
    # librdkafka's own log repeats every failed connection attempt; the same conditions reach
    # the error callback, which logs each kind once a minute. Only critical lines are kept.
    "log_level": 2,
    "log.connection.close": False,
}

_SECURITY_KEYS = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
}


def librdkafka_config(options: Mapping[str, Any]) -> dict[str, object]:
    """librdkafka's settings for the worker's Kafka client options (kafka-python's keywords, as
    `WorkerConfig.kafka_client_options` gives them)."""
    config: dict[str, object] = {}
    for key, value in options.items():
        if key == "bootstrap_servers":
            servers = value if isinstance(value, str) else ",".join(value)
            config["bootstrap.servers"] = servers
        elif key in _SECURITY_KEYS:
            if value is not None:
                config[_SECURITY_KEYS[key]] = value
        else:
            raise ValueError(f"unsupported Kafka client option for the producer: {key}")
    return config


def _wire(headers: Headers | None) -> _WireHeaders:
    return list(headers) if headers else None


class AsyncProducer:
    """One librdkafka producer, used from one event loop: ``await send(...)`` → coordinates."""

    def __init__(self, options: Mapping[str, Any], *, client_id: str,
                 config: Mapping[str, object] | None = None) -> None:
        settings: dict[str, object] = {
            **librdkafka_config(options), **DEFAULT_PRODUCER_CONFIG,
            "client.id": client_id, **(config or {}),
        }
        self._delivery_timeout = float(str(settings["message.timeout.ms"])) / 1000
        settings["error_cb"] = self._on_client_error
        settings["logger"] = logging.getLogger("pinpoint_sync.kafka.librdkafka")
        try:
            self._producer = confluent_kafka.Producer(settings)
        except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
            raise PublishError(f"invalid producer configuration: {exc}") from None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polling: asyncio.TimerHandle | None = None
        self._prepared: set[str] = set()
        self._closed = False
        self._said: dict[str, float] = {}
        self.fatal_error: KafkaAdapterError | None = None
        """Set when librdkafka reports a fatal error: the producer cannot send any more."""

    @classmethod
    async def create(cls, options: Mapping[str, Any], *, client_id: str,
                     config: Mapping[str, object] | None = None,
                     connect_timeout: float = 30.0) -> AsyncProducer:
        """Build the producer and check that the brokers answer (within ``connect_timeout``)."""
        producer = cls(options, client_id=client_id, config=config)
        try:
            await asyncio.to_thread(producer._metadata, None, connect_timeout)
        except BaseException:
            await producer.close(0)
            raise
        return producer

    # ---- topics ---------------------------------------------------------------------------------

    async def prepare(self, *topics: str, timeout: float | None = None) -> None:
        """Fetch the topics' metadata now: a topic that does not exist fails here, not later.

        Waits up to ``timeout`` seconds (default: the delivery timeout) for the brokers."""
        for topic in topics:
            if topic not in self._prepared:
                await asyncio.to_thread(self._metadata, topic,
                                        self._delivery_timeout if timeout is None else timeout)
                self._prepared.add(topic)

    def _metadata(self, topic: str | None, timeout: float) -> None:
        self._check_open()
        try:
            meta = self._producer.list_topics(topic, timeout=timeout)
        except confluent_kafka.KafkaException as exc:
            raise translate_librdkafka(exc.args[0] if exc.args else exc) from None
        if topic is not None:
            found = meta.topics.get(topic)
            if found is None or found.error is not None:
                raise PublishError(f"topic {topic!r} is not available: "
                                   f"{found.error if found is not None else 'unknown topic'}")

    # ---- sending ------------------------------------------------------------------------------

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: Headers | None = None, on_delivery: Delivered) -> None:
        """Append one record now; ``on_delivery`` is called on the loop when it is settled.

        Must be called from the event loop's thread. Never blocks: a full queue raises
        `KafkaUnavailable` at once (nothing was appended).
        """
        # Called for every event on the skip path: kept to the closed check and one append.
        if self._closed:
            raise KafkaClosed("the producer is closed")

        def report(error: Any, _msg: Any) -> None:
            on_delivery(None if error is None else translate_librdkafka(error))

        self._append(topic, key, value, headers, report)

    def send_nowait(self, topic: str, *, key: bytes | None, value: bytes | None,
                    headers: Headers | None = None) -> asyncio.Future[tuple[int, int]]:
        """Append one record now and return a future of its (partition, offset).

        Must be called from the event loop's thread; raises like `produce`.
        """
        done: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._check_open()

        def report(error: Any, msg: Any) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(translate_librdkafka(error))
            else:
                done.set_result((int(msg.partition()), int(msg.offset())))

        self._append(topic, key, value, headers, report)
        return done

    def _append(self, topic: str, key: bytes | None, value: bytes | None,
                headers: Headers | None, report: Callable[[Any, Any], None]) -> None:
        """Hand one record to librdkafka (its errors translated) and make sure reports are
        collected."""
        try:
            self._producer.produce(topic, value, key, headers=_wire(headers) if headers else None,
                                   on_delivery=report)
        except BufferError:
            raise KafkaUnavailable("the producer's queue is full (the brokers are not keeping"
                                   " up or cannot be reached)") from None
        except confluent_kafka.KafkaException as exc:
            raise translate_librdkafka(exc.args[0] if exc.args else exc) from None
        if self._polling is None:
            self._schedule_poll()

    async def send(self, topic: str, *, key: bytes | None, value: bytes | None,
                   headers: Headers | None = None) -> tuple[int, int]:
        """Send one record and wait for the brokers' acknowledgement: (partition, offset).

        Raises `KafkaUnavailable` (brokers unreachable, delivery timed out, queue full),
        `RecordTooLarge` (over the producer's or the topic's size limit), `PublishError` (the
        broker refused the record otherwise) or `KafkaClosed`.
        """
        if topic not in self._prepared:
            await self.prepare(topic)
        return await self.send_nowait(topic, key=key, value=value, headers=headers)

    @property
    def unacknowledged(self) -> int:
        """Records handed to the producer and not yet settled."""
        return len(self._producer)

    # ---- delivery reports ---------------------------------------------------------------------

    def _schedule_poll(self) -> None:
        if self._polling is None:
            loop = self._loop = self._loop or asyncio.get_running_loop()
            self._polling = loop.call_later(POLL_INTERVAL_S, self._poll)

    def _poll(self) -> None:
        self._polling = None
        try:
            self._producer.poll(0)  # runs the delivery callbacks of every settled record
        finally:  # even if a callback raised: the records after it still need their reports
            if len(self._producer) and self._loop is not None and not self._loop.is_closed():
                self._polling = self._loop.call_later(POLL_INTERVAL_S, self._poll)

    def _on_client_error(self, error: Any) -> None:
        # Client-wide conditions (all brokers down, authentication...); records keep being
        # retried until their delivery timeout, so most of these only need saying.
        translated = translate_librdkafka(error)
        if error.fatal():
            self.fatal_error = translated
            log.error("the producer failed for good; it cannot send any more",
                      error=str(translated))
            return
        # librdkafka repeats these on every reconnection attempt: say each kind once a minute.
        now = time.monotonic()
        code = str(error.name())
        if now - self._said.get(code, -ERROR_REPEAT_S) >= ERROR_REPEAT_S:
            self._said[code] = now
            log.warning("producer: Kafka reported a problem (repeats are not logged for a"
                        " minute)", error=str(translated))

    async def flush(self, timeout: float | None = None) -> int:
        """Wait until every record produced so far is settled (or ``timeout`` seconds passed);
        returns how many are still unsettled."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._producer.poll(0)
            left = len(self._producer)
            if not left or (deadline is not None and time.monotonic() >= deadline):
                return left
            await asyncio.sleep(POLL_INTERVAL_S)

    async def close(self, timeout: float | None = None) -> None:
        """Settle what is pending (within ``timeout`` seconds), fail the rest, close; idempotent.

        Records still unsettled at the deadline are withdrawn: their callbacks report
        `KafkaClosed` (the records they report on stay uncommitted, so nothing is lost).
        """
        if self._closed:
            return
        try:
            left = await self.flush(timeout)
        except KafkaClosed:
            left = 0
        except Exception:
            log.exception("a delivery report failed while closing the producer")
            left = len(self._producer)
        self._closed = True
        if self._polling is not None:
            self._polling.cancel()
            self._polling = None
        if left:
            log.warning("closing the producer with records unacknowledged", records=left)
            self._producer.purge(in_queue=True, in_flight=True)
            self._producer.poll(0)
        self._producer.close()

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
