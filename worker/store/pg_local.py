"""A real, throw-away PostgreSQL server from the machine's own binaries (Debian's packages).

For tests, the demo and benchmarks on machines without Docker: ``initdb`` into a fresh
directory, ``postgres`` on a free port of 127.0.0.1 (TCP only, no Unix socket), password
authentication with a random password, stopped with a fast shutdown (SIGINT, then SIGKILL after
a deadline), its log kept beside the data directory and shown by `LocalPostgres.log_tail`.

``initdb`` and ``postgres`` refuse to run as root. When this process is root, both run as an
unprivileged account (``postgres`` if the machine has it, else one created for the purpose),
owning the data directory; the directory lives under the system's temporary folder rather than
below root's private folders, which that account could not enter.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LocalPostgres", "LocalPostgresError", "find_bindir"]

_ACCOUNT_FALLBACK = "pinpoint-pg"


class LocalPostgresError(RuntimeError):
    """The local server could not be found, initialised or started."""


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with N >= 15 holding ``initdb``, if any."""
    override = os.environ.get("PINPOINT_SYNC_POSTGRES_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    found: list[tuple[int, Path]] = []
    for path in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(path).parent.parent.name
        if version.isdigit() and int(version) >= 15:
            found.append((int(version), Path(path).parent))
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_account() -> pwd.struct_passwd:
    for name in ("postgres", _ACCOUNT_FALLBACK):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(  # noqa: S603 (fixed arguments)
        ["useradd",  # noqa: S607 (found on PATH like any system tool) "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         _ACCOUNT_FALLBACK],
        check=True, capture_output=True,
    )
    return pwd.getpwnam(_ACCOUNT_FALLBACK)


class LocalPostgres:
    """One local PostgreSQL server; `start` returns its URL (password in `password`)."""

    def __init__(self, *, bindir: Path | None = None, port: int = 0, durable: bool = False,
                 user: str = "pinpoint") -> None:
        self._bindir = bindir
        self._port = port
        self._durable = durable
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._as: pwd.struct_passwd | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The server's URL (without the password) for the ``postgres`` database."""
        return f"postgresql://{self.user}@127.0.0.1:{self._port}/postgres"

    @property
    def log_file(self) -> Path | None:
        return None if self._root is None else self._root / "postgres.log"

    def _popen_kwargs(self) -> dict[str, Any]:
        if self._as is None:
            return {}
        return {"user": self._as.pw_uid, "group": self._as.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> str:
        """Initialise and start the server; returns `url` once it accepts connections."""
        bindir = self._bindir or find_bindir()
        if bindir is None:
            raise LocalPostgresError(
                "no PostgreSQL 15+ binaries under /usr/lib/postgresql (install Debian's "
                "`postgresql` package, or set PINPOINT_SYNC_TEST_POSTGRES_URL)"
            )
        self._root = Path(tempfile.mkdtemp(prefix="pinpoint-pg-"))
        data = self._root / "data"
        pwfile = self._root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            self._as = _unprivileged_account()
            os.chown(self._root, self._as.pw_uid, self._as.pw_gid)
            os.chown(pwfile, self._as.pw_uid, self._as.pw_gid)
        pwfile.chmod(0o600)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        init = subprocess.run(  # noqa: S603 (the machine's own binaries)
            [str(bindir / "initdb"), "-D", str(data), "-U", self.user, "--pwfile", str(pwfile),
             "--auth=scram-sha-256", "-E", "UTF8", "--no-instructions"],
            capture_output=True, env=env, cwd=self._root, check=False, **self._popen_kwargs(),
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise LocalPostgresError(
                f"initdb failed ({init.returncode}): {init.stderr.decode(errors='replace')}"
            )
        if self._port == 0:
            self._port = _free_port()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                   "-c", "max_connections=200", "-c", "shared_buffers=32MB"]
        if not self._durable:
            # A test server: nothing on it needs to survive a power loss.
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]
        log_path = self._root / "postgres.log"
        self._log = log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603
            [str(bindir / "postgres"), "-D", str(data), "-p", str(self._port), *options],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self._root,
            start_new_session=True, **self._popen_kwargs(),
        )
        self._wait_ready(time.monotonic() + timeout)
        return self.url

    def _wait_ready(self, deadline: float) -> None:
        import psycopg  # noqa: PLC0415

        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise LocalPostgresError(
                    f"postgres exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with psycopg.connect(self.url, password=self.password, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LocalPostgresError(
                        f"postgres not ready in time:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log (for a failure message)."""
        log = self.log_file
        if log is None or not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> int | None:
        """Fast shutdown, then SIGKILL after ``timeout``; removes the data, keeps the log."""
        proc, self._proc = self._proc, None
        code: int | None = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._root is not None:
            shutil.rmtree(self._root / "data", ignore_errors=True)
        return code

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
