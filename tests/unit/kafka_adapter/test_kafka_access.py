"""The start-up access check's verdicts on librdkafka's errors (the broker side is tested in
tests/integration/worker/test_worker_kafka_security_e2e.py)."""

from __future__ import annotations

import pytest

from worker.kafka.access import check_access, refusal

pytestmark = pytest.mark.unit

OPTIONS = {"sasl_plain_username": "svc", "sasl_mechanism": "SCRAM-SHA-512"}


def test_refused_credentials_name_the_user_and_mechanism_in_one_line() -> None:
    """An authentication error names user and mechanism, without librdkafka's prefix/timing."""
    error = refusal("_AUTHENTICATION", "sasl_ssl://h:1/bootstrap: SASL authentication error: "
                    "invalid credentials (after 366ms in state AUTH_REQ)", OPTIONS)
    assert error is not None
    assert error.cause == "credentials"
    assert str(error) == ("Kafka refused the SASL credentials of user 'svc' (SCRAM-SHA-512): "
                          "SASL authentication error: invalid credentials")


def test_a_failed_handshake_is_a_tls_refusal() -> None:
    """An SSL error is a TLS refusal carrying the handshake's reason."""
    error = refusal("_SSL", "ssl://h:1/bootstrap: SSL handshake failed: certificate verify\n"
                    "failed (after 29ms in state SSL_HANDSHAKE)", OPTIONS)
    assert error is not None
    assert error.cause == "tls"
    assert str(error) == ("TLS with the Kafka brokers failed: SSL handshake failed: "
                          "certificate verify failed")


@pytest.mark.parametrize("code", ["_TRANSPORT", "_ALL_BROKERS_DOWN", "_MSG_TIMED_OUT"])
def test_unreachable_brokers_are_no_refusal(code: str) -> None:
    """Connection problems are left to the clients' own waiting: no refusal."""
    assert refusal(code, "Connect to ipv4#127.0.0.1:1 failed: Connection refused", OPTIONS) is None


def test_plaintext_is_not_checked() -> None:
    """A PLAINTEXT connection has nothing to refuse: the check returns without connecting."""
    check_access({"bootstrap_servers": ["127.0.0.1:1"], "security_protocol": "PLAINTEXT"},
                 timeout_s=0.01)
