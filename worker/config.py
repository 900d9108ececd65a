"""The worker's configuration: ``PINPOINT_SYNC_*`` environment variables (DESIGN 5.4).

`WorkerConfig` is the one model of every setting, each documented in its field's description;
`load_config` builds it from the environment (plus explicit overrides, e.g. command-line flags)
and turns any problem into one `ConfigError` whose message names every bad variable by its
environment name. `render_config_doc` renders ``docs/configuration.md`` from the fields, and a
unit test keeps that file equal to it, so the documentation cannot drift.

Rules beyond single fields (checked together, reported together):

- ``KAFKA_SECURITY_PROTOCOL`` ``SASL_PLAINTEXT``/``SASL_SSL`` needs ``KAFKA_SASL_MECHANISM``,
  ``KAFKA_SASL_USERNAME`` and ``KAFKA_SASL_PASSWORD`` (or a ``kafka-sasl-password`` file in
  ``SECRETS_DIR``); SASL settings with another protocol are refused (they would be silently
  unused);
- TLS files (``KAFKA_SSL_*``) need ``SSL`` or ``SASL_SSL``, must exist, and a certificate and
  its key come together;
- limits nest: ``MAX_INFLIGHT_PER_TEAM`` ≤ ``MAX_INFLIGHT``, ``PARTITION_BUFFER`` ≤
  ``MAX_BUFFERED``, ``RETRY_BASE_DELAY_S`` ≤ ``RETRY_MAX_DELAY_S``,
  ``PINPOINT_CONNECT_TIMEOUT_S`` ≤ ``PINPOINT_TIMEOUT_S``, ``SESSION_TIMEOUT_MS`` <
  ``MAX_POLL_INTERVAL_MS``, and ``REVOKE_TIMEOUT_S`` below ``MAX_POLL_INTERVAL_MS`` (a revoke
  is finished inside the consumer's poll loop) and below ``REBALANCE_STUCK_S`` (a revoke is part
  of a rebalance).

Secret values (``KAFKA_SASL_PASSWORD``) never appear in a repr, a message or the rendered doc.
A variable that looks like a misspelt setting (``PINPOINT_SYNC_KAFKA_BOOTSTRAP_SERVER``) is
reported as an error rather than silently ignored.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PINPOINT_SYNC_"
KAFKA_SASL_PASSWORD_FILE = "kafka-sasl-password"  # noqa: S105 - a file name, not a secret
"""The file in ``SECRETS_DIR`` that may hold the SASL password (a mounted Kubernetes Secret)."""

#: ``PINPOINT_SYNC_*`` names read by other parts than this model (never reported as typos).
OTHER_VARIABLES: Mapping[str, str] = {
    "PINPOINT_SYNC_SECRET_<REF>": "an API key given by environment instead of a file in "
    "`SECRETS_DIR` (`<REF>` is the `api_key_ref` upper-cased, other characters than letters "
    "and digits as `_`)",
    "PINPOINT_SYNC_KAFKA_LIBS": "development only: where the local broker's jars are cached",
    "PINPOINT_SYNC_TEST_POSTGRES_URL": "tests only: a PostgreSQL server for the store tests "
    "(`postgresql://user:password@host:port/db`) instead of one started locally",
    "PINPOINT_SYNC_POSTGRES_BIN": "tests and development only: the directory of PostgreSQL's "
    "`initdb` and `postgres` (default: the newest `/usr/lib/postgresql/N/bin`)",
}


class LogFormat(StrEnum):
    """How log lines are written."""

    JSON = "json"
    """One JSON object per line (for log collectors)."""
    CONSOLE = "console"
    """Human-readable, coloured lines (for a terminal)."""


class SecurityProtocol(StrEnum):
    """How the worker talks to the Kafka brokers."""

    PLAINTEXT = "PLAINTEXT"
    """No TLS, no authentication."""
    SSL = "SSL"
    """TLS (optionally with a client certificate)."""
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    """SASL authentication without TLS."""
    SASL_SSL = "SASL_SSL"
    """SASL authentication over TLS."""


class SaslMechanism(StrEnum):
    """A SASL mechanism usable with a username and password."""

    PLAIN = "PLAIN"
    """Username and password sent as is (use it over TLS only)."""
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    """Salted challenge-response, SHA-256."""
    SCRAM_SHA_512 = "SCRAM-SHA-512"
    """Salted challenge-response, SHA-512."""


_SASL = frozenset({SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL})
_TLS = frozenset({SecurityProtocol.SSL, SecurityProtocol.SASL_SSL})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem by variable name."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"  {name}: {message}" for name, message in problems]
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"invalid configuration ({len(problems)} {noun}):\n" + "\n".join(lines))


class _ProblemsError(ValueError):
    """Cross-field problems found by the model validator, carried out of pydantic intact."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


def env_name(field: str) -> str:
    """The environment variable of a `WorkerConfig` field (``group_id`` → ``..._GROUP_ID``)."""
    return ENV_PREFIX + field.upper()


class WorkerConfig(BaseSettings):
    """Every setting of the worker; each field is the variable ``PINPOINT_SYNC_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # --- Kafka: where and what --------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Kafka broker addresses, `host:port`, comma-separated.",
    )
    group_id: str = Field(
        "pinpoint-sync", min_length=1,
        description="Consumer group of the workers (all replicas share it).",
    )
    events_topic: str = Field(
        "sourcewhale.campaign-events", min_length=1,
        description="Topic of the campaign events (input).",
    )
    settings_topic: str = Field(
        "sourcewhale.team-settings", min_length=1,
        description="Compacted topic of the team settings documents (input, read whole).",
    )
    outcomes_topic: str = Field(
        "pinpoint-sync.outcomes", min_length=1,
        description="Topic of the outcome records, one per event (output).",
    )
    dlq_topic: str = Field(
        "pinpoint-sync.dlq", min_length=1,
        description="Topic of the dead letters (output).",
    )

    # --- Kafka: security --------------------------------------------------------------------
    kafka_security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT,
        description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None,
        description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with a SASL protocol.",
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL username; required with a SASL protocol.",
    )
    kafka_sasl_password: SecretStr | None = Field(
        None,
        description="SASL password (never logged); required with a SASL protocol unless a "
        f"`{KAFKA_SASL_PASSWORD_FILE}` file in `SECRETS_DIR` holds it (this variable wins).",
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="CA bundle (PEM) to verify the brokers; unset: the system's trusted CAs.",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS; needs `KAFKA_SSL_KEYFILE`.",
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="Private key (PEM) of the client certificate.",
    )

    # --- Pinpoint, secrets, state, HTTP, logs -----------------------------------------------
    pinpoint_base_url: str = Field(
        "https://{subdomain}.pinpointhq.com",
        description="Pinpoint base-URL template; `{subdomain}` is replaced by the team's "
        "subdomain (point it at the simulator with `http://HOST:PORT/tenants/{subdomain}`).",
    )
    secrets_dir: Path = Field(
        Path("/var/run/secrets/pinpoint-sync"),
        description="Directory with one file per `api_key_ref`, holding that API key "
        "(a mounted Kubernetes Secret).",
    )
    state_path: Path = Field(
        Path("./var/pinpoint-sync.db"),
        description="File of the embedded state store (id mapping, sync state, effect ledger), "
        "used when `STATE_URL` is unset.",
    )
    state_url: str | None = Field(
        None,
        description="The state store: `sqlite:///path/to/file.db` (one host) or "
        "`postgresql://user@host:port/dbname` (several hosts; libpq parameters may follow "
        "`?`). The password comes from `STATE_PASSWORD`, else a `state-password` file in "
        "`SECRETS_DIR`, else libpq's `PGPASSFILE`; never put it in the URL.",
    )
    state_password: SecretStr | None = Field(
        None, description="Password of the PostgreSQL state store (never logged).",
    )
    ledger_retention_days: float = Field(
        30.0, gt=0,
        description="Days a done ledger entry or done mark is kept before "
        "`pinpoint-sync store prune` removes it; intents, leases and held events are never "
        "pruned.",
    )
    http_port: int = Field(
        9400, ge=0, le=65535,
        description="Port of `/metrics`, `/healthz` and `/readyz` (0: any free port).",
    )
    log_format: LogFormat | None = Field(
        None,
        description="`json` or `console`; unset: `console` on a terminal, else `json`.",
    )
    log_level: str = Field(
        "INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
    )

    # --- Concurrency and buffering ----------------------------------------------------------
    max_inflight: int = Field(
        256, ge=1, description="Events being processed at once, in total.",
    )
    max_inflight_per_team: int = Field(
        64, ge=1,
        description="Events of one team being processed at once (one team cannot take all).",
    )
    partition_buffer: int = Field(
        2000, ge=1,
        description="Records buffered per partition: above it the partition is paused, "
        "below half of it resumed.",
    )
    max_buffered: int = Field(
        20000, ge=1,
        description="Records buffered in total across partitions; above it all are paused.",
    )
    commit_interval_s: float = Field(
        1.0, gt=0,
        description="Seconds between offset commits of completed work (an idle worker commits"
                    " what it finished at once).",
    )
    drain_timeout_s: float = Field(
        25.0, gt=0,
        description="On SIGTERM, seconds to finish in-flight work before leaving "
        "(below Kubernetes' default 30 s grace period).",
    )
    revoke_timeout_s: float = Field(
        15.0, gt=0,
        description="On a rebalance, seconds to finish in-flight work of revoked partitions "
        "before committing and giving them up.",
    )
    auth_probe_interval_s: float = Field(
        30.0, gt=0,
        description="Seconds between probes of a team paused for a rejected API key.",
    )

    # --- Pinpoint calls ---------------------------------------------------------------------
    pinpoint_connect_timeout_s: float = Field(
        5.0, gt=0, description="Seconds to connect to Pinpoint.",
    )
    pinpoint_timeout_s: float = Field(
        30.0, gt=0, description="Seconds for a whole Pinpoint request.",
    )
    retry_max_attempts: int = Field(
        5, ge=1,
        description="Attempts of a transiently failing call before the event is dead-lettered.",
    )
    retry_base_delay_s: float = Field(
        0.5, gt=0, description="First retry delay; doubles per attempt, with jitter.",
    )
    retry_max_delay_s: float = Field(
        30.0, gt=0, description="Longest delay between two retries.",
    )
    retry_deadline_s: float = Field(
        120.0, gt=0,
        description="Retry budget per event in seconds, from its first failure to dead-letter.",
    )
    default_rate_limit: float = Field(
        10.0, ge=0,
        description="Pinpoint requests per second per team (token bucket rate); 0 turns the"
        " client's own limiter off (it then only slows down after a 429).",
    )
    default_rate_burst: int = Field(
        20, ge=1, description="Requests a team may send at once above its rate (bucket size).",
    )

    # --- Kafka consumer tuning --------------------------------------------------------------
    max_poll_records: int = Field(
        1000, ge=1, description="Records returned by one consumer poll at most.",
    )
    session_timeout_ms: int = Field(
        45000, ge=1000,
        description="Consumer group session timeout: a silent member is removed after it.",
    )
    max_poll_interval_ms: int = Field(
        300000, ge=1000,
        description="Longest pause between two polls before the member leaves the group.",
    )
    rebalance_stuck_s: float = Field(
        300.0, gt=0,
        description="Seconds the consumer may spend in one rebalance (or joining its group) "
        "before `/healthz` fails; must be above `REVOKE_TIMEOUT_S`.",
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",")]
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not server or not sep or not host or not port.isdigit():
                raise ValueError("expected host:port[,host:port...]")
        return ",".join(servers)

    @field_validator("pinpoint_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if "{subdomain}" not in value:
            raise ValueError("must contain the placeholder {subdomain}")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        try:
            value.format(subdomain="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("{subdomain} must be the only placeholder") from exc
        return value.rstrip("/")

    @field_validator("state_url")
    @classmethod
    def _check_state_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                "expected sqlite:///path or postgresql://user@host:port/dbname"
            )
        if scheme == "sqlite":
            if not rest.startswith("/") or len(rest) < 2:
                raise ValueError("expected sqlite:///path (an empty host, then the file's path)")
            return value
        authority = rest.partition("/")[0].partition("?")[0]
        if ":" in authority.rpartition("@")[0]:
            raise ValueError("the URL must not hold a password: use "
                             "PINPOINT_SYNC_STATE_PASSWORD or the state-password secret file")
        host_port = authority.rpartition("@")[2]
        port = host_port.rpartition(":")[2] if ":" in host_port.lstrip("[") else ""
        if port and not port.isdigit():
            raise ValueError(f"port {port!r} is not a number")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError("expected one of " + ", ".join(_LOG_LEVELS))
        return level

    @model_validator(mode="after")
    def _check_together(self) -> WorkerConfig:
        problems = self._security_problems() + self._limit_problems()
        if problems:
            raise _ProblemsError(problems)
        return self

    def _security_problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        protocol = self.kafka_security_protocol
        sasl = {
            "kafka_sasl_mechanism": self.kafka_sasl_mechanism,
            "kafka_sasl_username": self.kafka_sasl_username,
            "kafka_sasl_password": self.kafka_sasl_password,
        }
        if protocol in _SASL:
            password_file = self.secrets_dir / KAFKA_SASL_PASSWORD_FILE
            if self.kafka_sasl_password is None and password_file.is_file():
                try:
                    sasl["kafka_sasl_password"] = _read_secret(password_file)
                except OSError as exc:
                    problems.append((env_name("kafka_sasl_password"),
                                     f"cannot read {password_file}: {exc.strerror}"))
                    sasl["kafka_sasl_password"] = ""
            problems.extend(
                (env_name(name), f"required with KAFKA_SECURITY_PROTOCOL={protocol.value}"
                 + (f" (or a {KAFKA_SASL_PASSWORD_FILE} file in SECRETS_DIR)"
                    if name == "kafka_sasl_password" else ""))
                for name, value in sasl.items() if value is None
            )
        else:
            problems.extend(
                (env_name(name), "set, but KAFKA_SECURITY_PROTOCOL is "
                 f"{protocol.value}: use SASL_SSL or SASL_PLAINTEXT")
                for name, value in sasl.items() if value is not None
            )
        files = {
            "kafka_ssl_cafile": self.kafka_ssl_cafile,
            "kafka_ssl_certfile": self.kafka_ssl_certfile,
            "kafka_ssl_keyfile": self.kafka_ssl_keyfile,
        }
        for name, path in files.items():
            if path is None:
                continue
            if protocol not in _TLS:
                problems.append((env_name(name), f"set, but KAFKA_SECURITY_PROTOCOL is "
                                 f"{protocol.value}: use SSL or SASL_SSL"))
            elif not path.is_file():
                problems.append((env_name(name), f"no such file: {path}"))
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            missing = ("kafka_ssl_keyfile" if self.kafka_ssl_keyfile is None
                       else "kafka_ssl_certfile")
            problems.append((env_name(missing),
                             "a client certificate and its key must be given together"))
        return problems

    def _limit_problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []

        def at_most(small: str, large: str, *, strict: bool = False) -> None:
            a, b = getattr(self, small), getattr(self, large)
            if a > b or (strict and a == b):
                word = "below" if strict else "at most"
                problems.append((env_name(small), f"must be {word} {env_name(large)} ({b})"))

        at_most("max_inflight_per_team", "max_inflight")
        at_most("partition_buffer", "max_buffered")
        at_most("retry_base_delay_s", "retry_max_delay_s")
        at_most("pinpoint_connect_timeout_s", "pinpoint_timeout_s")
        at_most("session_timeout_ms", "max_poll_interval_ms", strict=True)
        at_most("revoke_timeout_s", "rebalance_stuck_s", strict=True)
        if self.revoke_timeout_s * 1000 >= self.max_poll_interval_ms:
            problems.append((env_name("revoke_timeout_s"),
                             f"must be below {env_name('max_poll_interval_ms')} "
                             f"({self.max_poll_interval_ms} ms)"))
        return problems

    @property
    def bootstrap_servers(self) -> list[str]:
        """The broker addresses as a list."""
        return self.kafka_bootstrap_servers.split(",")

    def kafka_client_options(self) -> dict[str, object]:
        """kafka-python keyword arguments for bootstrap and security (consumer, producer, admin).

        The result holds the SASL password in clear (kafka-python needs it): pass it to the
        client, never log it.
        """
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.kafka_security_protocol.value,
        }
        if self.kafka_security_protocol in _SASL:
            assert self.kafka_sasl_mechanism is not None
            options["sasl_mechanism"] = self.kafka_sasl_mechanism.value
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.sasl_password()
        if self.kafka_security_protocol in _TLS:
            for key, path in (("ssl_cafile", self.kafka_ssl_cafile),
                              ("ssl_certfile", self.kafka_ssl_certfile),
                              ("ssl_keyfile", self.kafka_ssl_keyfile)):
                if path is not None:
                    options[key] = str(path)
        return options

    @property
    def state_backend(self) -> str:
        """``sqlite`` or ``postgresql``: which state store the configuration names."""
        if self.state_url is None or self.state_url.startswith("sqlite:"):
            return "sqlite"
        return "postgresql"

    @property
    def state_sqlite_path(self) -> Path:
        """The SQLite file: from ``STATE_URL`` (``sqlite:///path``) or ``STATE_PATH``."""
        if self.state_url is not None and self.state_url.startswith("sqlite:"):
            return Path(self.state_url.removeprefix("sqlite://"))
        return self.state_path

    @property
    def state_postgres_url(self) -> str:
        """The PostgreSQL URL, with ``postgres://`` spelt ``postgresql://``."""
        assert self.state_url is not None
        assert self.state_backend == "postgresql"
        rest = self.state_url.partition("://")[2]
        return "postgresql://" + rest

    def state_store_password(self) -> str | None:
        """The PostgreSQL password: ``STATE_PASSWORD``, else ``SECRETS_DIR/state-password``,
        else ``None`` (libpq then reads ``PGPASSFILE`` itself)."""
        if self.state_password is not None:
            return self.state_password.get_secret_value()
        file = self.secrets_dir / "state-password"
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text or None

    def sasl_password(self) -> str:
        """The SASL password: ``KAFKA_SASL_PASSWORD``, else the ``kafka-sasl-password`` file in
        ``SECRETS_DIR`` (read now, so a rotated Secret is picked up at the next start)."""
        if self.kafka_sasl_password is not None:
            return self.kafka_sasl_password.get_secret_value()
        secret = _read_secret(self.secrets_dir / KAFKA_SASL_PASSWORD_FILE)
        return secret.get_secret_value()

    def pinpoint_url(self, subdomain: str) -> str:
        """The base URL of one team's Pinpoint account."""
        return self.pinpoint_base_url.format(subdomain=subdomain)


def _read_secret(path: Path) -> SecretStr:
    """A secret file's content without its trailing line break (as ``kubectl`` may add one)."""
    return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))


def _describe(error: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One pydantic error as ``(variable, message)`` pairs, without the offending value."""
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, _ProblemsError):
        return cause.problems
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        return [(field, "not a setting")]
    name = env_name(field) if field else "configuration"
    if error.get("type") == "missing":
        return [(name, "required")]
    return [(name, message)]


def _misspelt_variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Variables with the prefix that are close to, but not, a known setting's name."""
    known = [env_name(field) for field in WorkerConfig.model_fields]
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if upper.startswith(ENV_PREFIX + "SECRET_") or upper in OTHER_VARIABLES:
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.85)
        if close:
            problems.append((name, f"not a known setting; did you mean {close[0]}?"))
    return problems


def load_config(**overrides: Any) -> WorkerConfig:
    """The configuration from ``PINPOINT_SYNC_*`` variables, ``overrides`` (field names) winning.

    Raises `ConfigError` naming every bad variable; never quotes a secret's value.
    """
    problems = _misspelt_variables(os.environ)
    given = {key: value for key, value in overrides.items() if value is not None}
    unknown = sorted(set(given) - set(WorkerConfig.model_fields))
    if unknown:
        problems.extend((name, "not a setting") for name in unknown)
        raise ConfigError(problems)
    try:
        config = WorkerConfig(**given)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            problems.extend(_describe(error))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def _default_text(name: str, field: Any) -> str:
    if name == "log_format":
        return "unset (`console` on a terminal, else `json`)"
    default = field.default
    if default is None:
        return "unset"
    if isinstance(default, StrEnum):
        default = default.value
    if isinstance(default, Path) and not default.is_absolute():
        default = f"./{default}"
    return f"`{default}`"


def render_config_doc() -> str:
    """The Markdown of ``docs/configuration.md``, rendered from `WorkerConfig`'s fields."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by worker.config.render_config_doc(); a test keeps it in step. -->",
        "",
        "The worker is configured by environment variables with the prefix `PINPOINT_SYNC_`",
        "(command-line flags, where a command has them, win over the environment). An empty",
        "variable counts as unset. All problems are reported together, by variable name, before",
        "anything connects; the worker then exits non-zero.",
        "",
        "| variable | meaning | default |",
        "| --- | --- | --- |",
    ]
    for name, field in WorkerConfig.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{env_name(name)}` | {meaning} | {_default_text(name, field)} |")
    lines += [
        "",
        "Rules checked together:",
        "",
        "- a SASL protocol (`SASL_PLAINTEXT`, `SASL_SSL`) needs",
        "  `PINPOINT_SYNC_KAFKA_SASL_MECHANISM`, `PINPOINT_SYNC_KAFKA_SASL_USERNAME` and",
        "  `PINPOINT_SYNC_KAFKA_SASL_PASSWORD` (or the password in a",
        f"  `{KAFKA_SASL_PASSWORD_FILE}` file in `SECRETS_DIR`); SASL settings with another",
        "  protocol are refused;",
        "- TLS files need `SSL` or `SASL_SSL` and must exist; a client certificate and its key",
        "  come together;",
        "- `MAX_INFLIGHT_PER_TEAM` ≤ `MAX_INFLIGHT`, `PARTITION_BUFFER` ≤ `MAX_BUFFERED`,",
        "  `RETRY_BASE_DELAY_S` ≤ `RETRY_MAX_DELAY_S`, `PINPOINT_CONNECT_TIMEOUT_S` ≤",
        "  `PINPOINT_TIMEOUT_S`, `SESSION_TIMEOUT_MS` < `MAX_POLL_INTERVAL_MS`, and",
        "  `REVOKE_TIMEOUT_S` below `MAX_POLL_INTERVAL_MS` and below `REBALANCE_STUCK_S`;",
        "- a variable with the prefix that is close to a setting's name (a likely typo) is an",
        "  error.",
        "",
        "Other variables with the prefix:",
        "",
        "| variable | meaning |",
        "| --- | --- |",
    ]
    lines.extend(f"| `{name}` | {meaning} |" for name, meaning in OTHER_VARIABLES.items())
    lines.append("")
    return "\n".join(lines)
