"""The Kafka adapter's errors: kafka-python's exceptions never leave ``worker/kafka/``.

```
Exception
└── KafkaAdapterError        base; `retriable` says whether trying again later may succeed
    ├── KafkaUnavailable     brokers unreachable, timed out, no leader → retry later (retriable)
    ├── PublishError         the broker refused a record (not authorised, producer fenced...)
    │   │                    → trying again will not help; the caller decides
    │   └── RecordTooLarge   the record exceeds the producer's or the topic's size limit
    ├── KafkaAccessRefused   the brokers refused the client's credentials (SASL) or its TLS
    │                        handshake failed (an unknown CA...) → a configuration problem
    ├── TopicAdminError      a topic could not be created or described
    └── KafkaClosed          the client was closed; nothing more can go through it
```

`translate` maps one kafka-python exception into this tree, and `mapped_errors` is the context
manager used around every call into kafka-python; `translate_librdkafka` maps the producer's
(librdkafka's) errors. Messages name the error and the broker's text, never record contents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from kafka import errors as kafka_errors


class KafkaAdapterError(Exception):
    """Something went wrong talking to Kafka."""

    retriable: ClassVar[bool] = False


class KafkaUnavailable(KafkaAdapterError):  # noqa: N818  (a state, named as such)
    """The brokers could not be reached or did not answer in time; trying later may work."""

    retriable: ClassVar[bool] = True


class PublishError(KafkaAdapterError):
    """The broker refused a record; sending it again will not help."""


class RecordTooLarge(PublishError):  # noqa: N818  (a verdict on the record, named as such)
    """The record is larger than the producer's ``message.max.bytes`` or the topic's
    ``max.message.bytes``: it will never be accepted as it is."""


class KafkaAccessRefused(KafkaAdapterError):  # noqa: N818  (a verdict, named as such)
    """The brokers refused the SASL credentials, or the TLS handshake failed: the security
    settings are wrong, and trying again with them will not help."""

    def __init__(self, message: str, *, cause: str = "unknown") -> None:
        super().__init__(message)
        self.cause = cause
        """``credentials`` (SASL), ``tls`` (handshake, certificates) or ``unknown``."""


class TopicAdminError(KafkaAdapterError):
    """A topic could not be created or described."""


class KafkaClosed(KafkaAdapterError):  # noqa: N818  (a state, named as such)
    """The client was already closed."""


_TOO_LARGE = (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordListTooLargeError)


def translate(exc: BaseException, *, admin: bool = False) -> KafkaAdapterError:
    """The adapter error for a kafka-python exception (or an error raised while using it)."""
    if isinstance(exc, KafkaAdapterError):
        return exc
    name, detail = type(exc).__name__, str(exc)
    text = detail if detail.startswith(name) else f"{name}: {detail}" if detail else name
    if isinstance(exc, kafka_errors.KafkaError) and getattr(exc, "retriable", False):
        return KafkaUnavailable(text)
    if isinstance(exc, kafka_errors.BrokerNotAvailableError | TimeoutError | ConnectionError):
        return KafkaUnavailable(text)
    if isinstance(exc, _TOO_LARGE):
        return RecordTooLarge(text)
    if isinstance(exc, kafka_errors.IllegalStateError) and "closed" in str(exc).lower():
        return KafkaClosed(text)
    return TopicAdminError(text) if admin else PublishError(text)


#: librdkafka's error codes that mean "the brokers could not be reached in time" even where
#: librdkafka does not call them retriable (a delivery that timed out, all brokers down).
_LIBRDKAFKA_UNAVAILABLE = frozenset({
    "_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE",
    "_QUEUE_FULL", "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION",
})
_LIBRDKAFKA_CLOSED = frozenset({"_PURGE_QUEUE", "_PURGE_INFLIGHT", "_DESTROY"})
#: The brokers refused the credentials, or TLS could not be set up with them.
_LIBRDKAFKA_ACCESS = frozenset({"_AUTHENTICATION", "_SSL", "SASL_AUTHENTICATION_FAILED"})
#: A record too large, refused by librdkafka itself (at produce time) or by the broker.
_LIBRDKAFKA_TOO_LARGE = frozenset({"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"})


_LIBRDKAFKA_KINDS: dict[str, type[KafkaAdapterError]] = {
    **dict.fromkeys(_LIBRDKAFKA_CLOSED, KafkaClosed),
    **dict.fromkeys(_LIBRDKAFKA_TOO_LARGE, RecordTooLarge),
    **dict.fromkeys(_LIBRDKAFKA_ACCESS, KafkaAccessRefused),
}


def translate_librdkafka(error: object) -> KafkaAdapterError:
    """The adapter error for one of librdkafka's errors (a `confluent_kafka.KafkaError`)."""
    name = getattr(error, "name", None)
    describe = getattr(error, "str", None)
    if not callable(name) or not callable(describe):
        return PublishError(str(error))
    code, text = str(name()), str(describe())
    message = f"{code}: {text}" if text else code
    fatal = getattr(error, "fatal", None)
    if callable(fatal) and fatal():
        return PublishError(f"fatal: {message}")
    by_code = _LIBRDKAFKA_KINDS.get(code)
    if by_code is not None:
        return by_code(message)
    retriable = getattr(error, "retriable", None)
    if code in _LIBRDKAFKA_UNAVAILABLE or (callable(retriable) and retriable()):
        return KafkaUnavailable(message)
    return PublishError(message)


@contextmanager
def mapped_errors(*, admin: bool = False) -> Iterator[None]:
    """Re-raise kafka-python exceptions (and socket errors) as adapter errors."""
    try:
        yield
    except (kafka_errors.KafkaError, OSError, AssertionError) as exc:
        # kafka-python reports some misuse (e.g. a send after close) with a bare assert.
        raise translate(exc, admin=admin) from exc
