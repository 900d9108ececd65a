"""The Kafka adapter's error mapping: a record too large is a verdict of its own."""

from __future__ import annotations

import confluent_kafka
import pytest
from kafka import errors as kafka_errors

from worker.kafka.errors import (
    KafkaUnavailable,
    PublishError,
    RecordTooLarge,
    translate,
    translate_librdkafka,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("code", [confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
                                  confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE])
def test_librdkafka_size_errors_are_record_too_large(code: int) -> None:
    """librdkafka's (and the broker's) 'too large' codes map to RecordTooLarge, a PublishError."""
    error = translate_librdkafka(confluent_kafka.KafkaError(code))
    assert isinstance(error, RecordTooLarge)
    assert isinstance(error, PublishError)
    assert not error.retriable


def test_kafka_python_size_error_is_record_too_large() -> None:
    """kafka-python's MessageSizeTooLargeError maps to RecordTooLarge too."""
    assert isinstance(translate(kafka_errors.MessageSizeTooLargeError("big")), RecordTooLarge)


def test_other_errors_keep_their_mapping() -> None:
    """A timed-out delivery stays KafkaUnavailable, not a size verdict."""
    error = translate_librdkafka(confluent_kafka.KafkaError(
        confluent_kafka.KafkaError._MSG_TIMED_OUT))
    assert isinstance(error, KafkaUnavailable)
