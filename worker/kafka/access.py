"""Checking, once at start-up, that the brokers accept the worker's security settings.

A wrong SASL password or a CA bundle that does not verify the brokers' certificate would
otherwise show only as clients that never connect: kafka-python gives up bootstrapping after its
timeout without saying why, and librdkafka keeps reconnecting. `check_access` connects with
librdkafka (the producer's client, which reports the cause of a refused connection within
milliseconds), waits for the cluster's metadata, and raises `KafkaAccessRefused` with one line
naming the problem when the brokers refuse the credentials or the TLS handshake fails.

Brokers that cannot be reached at all are not this check's concern: it returns after
``timeout_s`` (or as soon as every broker is reported down), and the worker's own clients wait
for them as they always do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import confluent_kafka

from worker.kafka.errors import KafkaAccessRefused
from worker.kafka.producer import librdkafka_config

_AFTER = re.compile(r"\s*\(after \d+ms in state [A-Z_]+\)\s*$")
_DOWN = frozenset({"_ALL_BROKERS_DOWN"})


def _detail(text: str) -> str:
    """librdkafka's text without its broker prefix and timing suffix, on one line."""
    _, sep, rest = text.partition("/bootstrap: ")
    text = rest if sep else text
    return " ".join(_AFTER.sub("", text).split())


def _code_and_text(error: object) -> tuple[str, str]:
    """A librdkafka error's code name and text (anything else: no code, its string)."""
    name, describe = getattr(error, "name", None), getattr(error, "str", None)
    if callable(name) and callable(describe):
        return str(name()), str(describe())
    return "", str(error)


def refusal(code: str, text: str, options: Mapping[str, Any]) -> KafkaAccessRefused | None:
    """The error, with a one-line message, for a librdkafka error that means "refused"."""
    detail = _detail(text)
    if code in {"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED"}:
        user = options.get("sasl_plain_username")
        mechanism = options.get("sasl_mechanism")
        return KafkaAccessRefused(
            f"Kafka refused the SASL credentials of user {user!r} ({mechanism}): {detail}",
            cause="credentials")
    if code == "_SSL":
        return KafkaAccessRefused(f"TLS with the Kafka brokers failed: {detail}", cause="tls")
    return None


def check_access(options: Mapping[str, Any], *, timeout_s: float = 10.0,
                 client_id: str = "pinpoint-sync-access-check") -> None:
    """Connect once; raise `KafkaAccessRefused` if the brokers refuse the security settings.

    ``options`` are the worker's Kafka client options (`WorkerConfig.kafka_client_options`).
    Returns when the metadata was read, when the brokers cannot be reached (reported down, or
    ``timeout_s`` passed), or at once for a PLAINTEXT connection (nothing to refuse).
    """
    if str(options.get("security_protocol", "PLAINTEXT")) == "PLAINTEXT":
        return
    seen: list[Any] = []
    settings: dict[str, object] = {
        **librdkafka_config(options), "client.id": client_id, "log_level": 0,
        "error_cb": seen.append,
    }
    try:
        client = confluent_kafka.Producer(settings)
    except (confluent_kafka.KafkaException, ValueError, TypeError) as exc:
        raise KafkaAccessRefused(f"invalid Kafka security settings: {exc}") from None
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            client.poll(0.05)  # serves error_cb
            for error in seen:
                refused = refusal(*_code_and_text(error), options)
                if refused is not None:
                    raise refused from None
            if any(_code_and_text(error)[0] in _DOWN for error in seen):
                return  # unreachable: the worker's clients wait for the brokers
            try:
                client.list_topics(timeout=0.2)
            except confluent_kafka.KafkaException as exc:
                refused = refusal(*_code_and_text(exc.args[0] if exc.args else exc), options)
                if refused is not None:
                    raise refused from None
                continue
            return
    finally:
        client.flush(0)
