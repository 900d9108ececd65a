"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from Kafka's jars.

Machines without a Docker engine still have Java 17 and Maven, and Apache Kafka publishes its
broker on Maven Central. ``deploy/kafka/pom.xml`` copies the runtime jars (plus a log4j2 backend)
into a cache folder outside git; this module formats a fresh data dir, starts the broker as its
own ``java`` process on 127.0.0.1, waits until a client can create a topic, and stops it with
SIGTERM (then SIGKILL after a deadline), keeping ``server.log`` for diagnosis.

Used by the test harness (``tests/conftest.py``), by ``pinpoint-sync kafka`` and by the demo.
See ``docs/local-kafka.md`` for what was learned running Kafka this way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from worker.core.limits import MAX_DEAD_LETTER_BYTES

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
DEFAULT_LIBS_DIR = REPO_ROOT / ".cache" / "kafka-libs"
DEFAULT_RUN_ROOT = REPO_ROOT / "var" / "kafka"
# The broker's own jar: its presence tells the cache is complete enough to start.
_MARKER_GLOB = "kafka_2.13-*.jar"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {root_level}
rootLogger.appenderRef.file.ref = FILE
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
"""


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or reached."""


class PortInUseError(BrokerError):
    """Something (most likely another broker) already listens on the requested port."""


def libs_dir() -> Path:
    """Where Kafka's jars are cached (``PINPOINT_SYNC_KAFKA_LIBS`` overrides the default)."""
    override = os.environ.get("PINPOINT_SYNC_KAFKA_LIBS")
    return Path(override) if override else DEFAULT_LIBS_DIR


def ensure_jars(target: Path | None = None, *, quiet: bool = True) -> Path:
    """Fetch Kafka's runtime jars with Maven unless the cache already holds them."""
    target = target or libs_dir()
    if any(target.glob(_MARKER_GLOB)):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Kafka's jars are not cached and Maven (mvn) is not on PATH: install Maven and"
            " Java 17+, or point KAFKA_BOOTSTRAP_SERVERS at an existing broker"
        )
    cmd = [mvn, "-B", "-f", str(POM), f"-DoutputDirectory={target}",
           "dependency:copy-dependencies"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)  # noqa: S603
    if proc.returncode != 0 or not any(target.glob(_MARKER_GLOB)):
        tail = (proc.stdout or "")[-2000:] + (proc.stderr or "")[-2000:]
        raise BrokerError(
            f"fetching Kafka's jars with Maven failed (exit {proc.returncode}):\n{tail}"
        )
    return target


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (there is a small race until it is bound again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError(
            "Java 17+ is needed to run the local Kafka broker and `java` is not on PATH"
        )
    return java


@dataclass(frozen=True)
class BrokerSecurity:
    """Secured listeners beside the PLAINTEXT one: SASL_SSL (SCRAM-SHA-512) and SSL (TLS only).

    ``keystore_pem`` holds the broker's private key (unencrypted PKCS#8) followed by its
    certificate chain, read as a PEM keystore (``ssl.keystore.type=PEM``); the certificate must
    name 127.0.0.1 for clients to verify it. ``scram_users`` (name → password) are written into
    the metadata log when the data dir is formatted (``--add-scram``, KRaft keeps SCRAM
    credentials there). No client certificate is asked for, and no authorizer is set: the
    listeners test authentication and encryption, not ACLs. Ports of 0 are picked free.
    """

    keystore_pem: Path
    scram_users: Mapping[str, str] = field(default_factory=dict)
    sasl_ssl_port: int = 0
    ssl_port: int = 0


@dataclass
class LocalKafkaBroker:
    """One combined broker+controller on 127.0.0.1, with a fresh data dir per start.

    ``port`` is the client (PLAINTEXT) port; 0 picks a free one. ``run_dir`` holds ``data/``,
    ``logs/server.log`` and the generated configuration; it is wiped at start, kept after stop.
    With ``security``, SASL_SSL and SSL listeners are opened too (`sasl_ssl_bootstrap_servers`,
    `ssl_bootstrap_servers`); the PLAINTEXT one stays for the controller, the broker itself and
    the readiness probe.
    """

    port: int = 9092
    controller_port: int = 0
    run_dir: Path | None = None
    host: str = "127.0.0.1"
    heap: str = "512m"
    libs: Path | None = None
    security: BrokerSecurity | None = None
    _secured_ports: tuple[int, int] = field(default=(0, 0), init=False, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    started_in: float | None = field(default=None, init=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        """The SASL_SSL listener's address (with ``security``, once started)."""
        return f"{self.host}:{self._secured_ports[0]}"

    @property
    def ssl_bootstrap_servers(self) -> str:
        """The SSL (TLS only) listener's address (with ``security``, once started)."""
        return f"{self.host}:{self._secured_ports[1]}"

    @property
    def log_file(self) -> Path:
        return self._run_dir / "logs" / "server.log"

    @property
    def _run_dir(self) -> Path:
        if self.run_dir is None:
            self.run_dir = DEFAULT_RUN_ROOT / str(self.port)
        return self.run_dir

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 90.0) -> str:
        """Format, launch, wait until a client can create a topic; return the bootstrap address."""
        if self.running():
            return self.bootstrap_servers
        t0 = time.monotonic()
        if self.port == 0:
            self.port = free_port(self.host)
        if port_is_open(self.host, self.port):
            raise PortInUseError(
                f"{self.host}:{self.port} is already in use (a Kafka broker may be running there):"
                " stop it, choose another port, or use it via KAFKA_BOOTSTRAP_SERVERS"
            )
        if self.controller_port == 0:
            self.controller_port = free_port(self.host)
        if self.security is not None:
            self._secured_ports = (self.security.sasl_ssl_port or free_port(self.host),
                                   self.security.ssl_port or free_port(self.host))
        libs = ensure_jars(self.libs)
        run_dir = self._run_dir
        if run_dir.exists():
            shutil.rmtree(run_dir)
        (run_dir / "logs").mkdir(parents=True)
        props = self._write_config(run_dir)
        log4j = run_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file, root_level="INFO"))
        classpath = f"{libs}/*"
        jvm = [
            _java(), f"-Xms{min_heap(self.heap)}", f"-Xmx{self.heap}", "-Djava.awt.headless=true",
            "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dkafka.logs.dir={run_dir / 'logs'}", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", classpath,
        ]
        cluster_id = _cluster_id()
        fmt = subprocess.run(  # noqa: S603
            [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
             "--standalone", *self._scram_arguments()],
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"formatting the KRaft data dir failed: {fmt.stdout}{fmt.stderr}")
        stdout = (run_dir / "logs" / "stdout.log").open("wb")
        self._proc = subprocess.Popen(  # noqa: S603
            [*jvm, "kafka.Kafka", str(props)], stdout=stdout, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        stdout.close()
        try:
            self._wait_ready(deadline=t0 + timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - t0
        return self.bootstrap_servers

    def _scram_arguments(self) -> list[str]:
        users = self.security.scram_users if self.security is not None else {}
        arguments: list[str] = []
        for name, password in users.items():
            if any(c in name + password for c in ",=[]\"\n"):
                raise BrokerError(f"SCRAM user {name!r}: names and passwords may not contain"
                                  " , = [ ] \" or line breaks (the storage tool's syntax)")
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return arguments

    def _listeners(self) -> dict[str, str]:
        """The listener settings: PLAINTEXT and CONTROLLER, plus the secured ones if any."""
        listeners = {"PLAINTEXT": self.port, "CONTROLLER": self.controller_port}
        protocols = {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT"}
        extra: dict[str, str] = {}
        if self.security is not None:
            listeners.update(SASL_SSL=self._secured_ports[0], SSL=self._secured_ports[1])
            protocols.update(SASL_SSL="SASL_SSL", SSL="SSL")
            extra = {
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(self.security.keystore_pem),
                "ssl.client.auth": "none",
            }
        bound = ",".join(f"{name}://{self.host}:{port}" for name, port in listeners.items())
        return {
            "listeners": bound,
            "advertised.listeners": bound,
            "listener.security.protocol.map": ",".join(f"{k}:{v}" for k, v in protocols.items()),
            **extra,
        }

    def _write_config(self, run_dir: Path) -> Path:
        data = run_dir / "data"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.listener.names": "CONTROLLER",
            **self._listeners(),
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "log.dirs": str(data),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # Topics made without their own limit (as tests make them) take any dead letter
            # of an event the contract accepts, headers included (see worker/core/limits.py).
            "message.max.bytes": str(MAX_DEAD_LETTER_BYTES),
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.cleaner.backoff.ms": "1000",
        }
        props = run_dir / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return props

    def _wait_ready(self, deadline: float) -> None:
        # Imported here so that `pinpoint-sync kafka --help` needs no Kafka client.
        from kafka.admin import KafkaAdminClient  # noqa: PLC0415

        probe_topic = f"_pinpoint_sync_ready_{uuid.uuid4().hex[:8]}"
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(
                    f"the Kafka broker exited with code {self._proc.returncode} during start-up;"
                    f" see {self.log_file}:\n{self.log_tail()}"
                )
            if not port_is_open(self.host, self.port, timeout=0.2):
                time.sleep(0.2)
                continue
            admin = None
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000,
                    client_id="pinpoint-sync-broker-probe",
                )
                admin.create_topics({probe_topic: {"num_partitions": 1, "replication_factor": 1}},
                                    timeout_ms=5000)
                admin.delete_topics([probe_topic], timeout_ms=5000)
            except Exception as exc:  # noqa: BLE001 - any client failure means "not ready yet"
                last_error = exc
                time.sleep(0.3)
                continue
            finally:
                if admin is not None:
                    admin.close()
            return
        raise BrokerError(
            f"the Kafka broker did not become ready in time (last error: {last_error!r});"
            f" see {self.log_file}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._proc = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL without a clean shutdown (for crash tests)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def min_heap(heap: str) -> str:
    """Start with half the maximum heap (and at least 128m) so the JVM does not grow slowly."""
    unit = heap[-1].lower()
    if unit not in "mg" or not heap[:-1].isdigit():
        return heap
    megabytes = int(heap[:-1]) * (1024 if unit == "g" else 1)
    return f"{max(128, megabytes // 2)}m"


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM the broker when its parent dies.

    A test run or demo killed with SIGKILL would otherwise leave an orphan broker holding the port.
    """
    with contextlib.suppress(Exception):
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    One starting with ``-`` would be read as an option by the storage tool: draw again.
    """
    import base64  # noqa: PLC0415

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def run_foreground(port: int, run_dir: Path | None = None) -> int:
    """``pinpoint-sync kafka``: run until SIGTERM/SIGINT, print the bootstrap address once ready."""
    broker = LocalKafkaBroker(port=port, run_dir=run_dir)
    stop = False

    def _on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"starting Apache Kafka (KRaft, single node) on {broker.host}:{port} ...", flush=True)
    try:
        bootstrap = broker.start()
    except PortInUseError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    except BrokerError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    print(f"Kafka ready in {broker.started_in:.1f}s: bootstrap servers {bootstrap}", flush=True)
    print(f"log: {broker.log_file}   (Ctrl-C or SIGTERM to stop)", flush=True)
    try:
        while not stop and broker.running():
            time.sleep(0.2)
    finally:
        code = broker.stop()
    if not stop:
        print(f"error: the broker exited unexpectedly (code {code}); see {broker.log_file}",
              flush=True)
        return 1
    print("Kafka stopped", flush=True)
    return 0
