"""Shared fixtures: one real Kafka broker and one real PostgreSQL server per test session, and
per-test topics, group ids and database schemas; a second local broker with secured listeners
(SASL_SSL, SSL) for the tests that need one.

The broker is chosen in this order (docs/testing.md):
1. ``KAFKA_BOOTSTRAP_SERVERS`` when set (an externally given broker always wins);
2. testcontainers' Kafka container when a Docker engine answers;
3. the local Apache Kafka broker started from Kafka's own jars (``worker/kafka/broker.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests import helpers from tests/ as a package root
    sys.path.insert(0, str(ROOT))


def _docker_engine_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # noqa: PLC0415
    except ImportError:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            client = docker.from_env(timeout=3)
            try:
                client.ping()
            finally:
                client.close()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker shared by the whole session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from worker.kafka.broker import LocalKafkaBroker  # noqa: PLC0415

    broker = LocalKafkaBroker(port=0, run_dir=tmp_path_factory.mktemp("kafka"))
    t0 = time.monotonic()
    broker.start()
    sys.stderr.write(f"\n[local Kafka broker ready in {time.monotonic() - t0:.1f}s at "
                     f"{broker.bootstrap_servers}; log {broker.log_file}]\n")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@dataclass(frozen=True)
class SecureKafka:
    """A broker with SASL_SSL (SCRAM-SHA-512) and SSL listeners, and what clients need."""

    plaintext: str
    """Its PLAINTEXT listener, for the tests' own set-up and inspection."""
    sasl_ssl: str
    ssl: str
    ca_file: Path
    """The CA that signed the broker's certificate."""
    other_ca_file: Path
    """A CA that did not."""
    username: str
    password: str


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    """A second local broker with secured listeners, shared by the whole session (its
    certificate made fresh by the test, its SCRAM user created when it is formatted)."""
    from tests.tls import make_test_pki  # noqa: PLC0415
    from worker.kafka.broker import BrokerSecurity, LocalKafkaBroker  # noqa: PLC0415

    root = tmp_path_factory.mktemp("secure-kafka")
    pki = make_test_pki(root / "pki")
    username, password = "pinpoint-sync", "scram-" + uuid.uuid4().hex
    broker = LocalKafkaBroker(port=0, run_dir=root / "run", security=BrokerSecurity(
        keystore_pem=pki.broker_keystore, scram_users={username: password}))
    t0 = time.monotonic()
    broker.start()
    sys.stderr.write(f"\n[secured local Kafka broker ready in {time.monotonic() - t0:.1f}s: "
                     f"SASL_SSL {broker.sasl_ssl_bootstrap_servers}, SSL "
                     f"{broker.ssl_bootstrap_servers}; log {broker.log_file}]\n")
    try:
        yield SecureKafka(plaintext=broker.bootstrap_servers,
                          sasl_ssl=broker.sasl_ssl_bootstrap_servers,
                          ssl=broker.ssl_bootstrap_servers, ca_file=pki.ca,
                          other_ca_file=pki.other_ca, username=username, password=password)
    finally:
        broker.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Names unique to this test (topics, group ids), readable in the broker's log."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:40]
    token = uuid.uuid4().hex[:6]

    def make(kind: str) -> str:
        return f"t.{base}.{kind}.{token}"

    return make


@pytest.fixture
def create_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Create topics for this test (deleted afterwards); returns the name."""
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="tests-admin")
    made: list[str] = []

    def create(name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> str:
        admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1,
                    "configs": configs or {}}},
            timeout_ms=10_000, wait_for_metadata=True,
        )
        made.append(name)
        return name

    yield create
    with contextlib.suppress(Exception):
        if made:
            admin.delete_topics(made, timeout_ms=10_000)
    admin.close()


@dataclass(frozen=True)
class PostgresServer:
    """A real PostgreSQL server shared by the session: its URL and the password apart."""

    url: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> PostgresServer:
        """A server given by URL, its password (if the URL has one) kept apart too."""
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        password = conninfo_to_dict(url).get("password")
        return cls(url, None if password is None else str(password))


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A real PostgreSQL 15+ server shared by the whole session (docs/testing.md).

    1. ``PINPOINT_SYNC_TEST_POSTGRES_URL`` when set; 2. testcontainers when a Docker engine
    answers; 3. a local server from Debian's binaries (``worker/store/pg_local.py``), whose log
    is printed when a test of the session failed.
    """
    given = os.environ.get("PINPOINT_SYNC_TEST_POSTGRES_URL")
    if given:
        yield PostgresServer.from_url(given)
        return
    if _docker_engine_answers():
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

        with PostgresContainer("postgres:16", driver=None) as container:
            yield PostgresServer.from_url(container.get_connection_url())
        return
    from worker.store.pg_local import LocalPostgres  # noqa: PLC0415

    server = LocalPostgres()
    t0 = time.monotonic()
    server.start()
    sys.stderr.write(f"\n[local PostgreSQL ready in {time.monotonic() - t0:.1f}s at "
                     f"{server.url}; log {server.log_file}]\n")
    try:
        yield PostgresServer(server.url, server.password)
    finally:
        server.stop()
        if request.session.testsfailed:
            sys.stderr.write(f"\n[local PostgreSQL log, last lines]\n{server.log_tail()}\n")


@pytest.fixture
def postgres_schema(postgres_server: PostgresServer) -> Iterator[str]:
    """A ``postgresql://`` URL (without password: see `PostgresServer.password`) whose tables
    live in a schema of this test's own, dropped after."""
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, password=postgres_server.password,
                         autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    parts = conninfo_to_dict(postgres_server.url)
    parts.pop("password", None)
    parts["options"] = f"-c search_path={schema}"
    yield "postgresql://{user}@{host}:{port}/{dbname}?{query}".format(
        user=quote(str(parts.pop("user", "postgres"))), host=parts.pop("host", "127.0.0.1"),
        port=parts.pop("port", 5432), dbname=parts.pop("dbname", "postgres"),
        query=urlencode({k: str(v) for k, v in parts.items()}, quote_via=quote))
    with psycopg.connect(postgres_server.url, password=postgres_server.password,
                         autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
