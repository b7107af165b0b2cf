"""Real PostgreSQL and Redis servers for the tests, from the Debian binaries.

Each server runs in a throwaway directory on a free loopback port (never 5432/6379) and is
stopped at the end of the session. A missing binary is an error with the fix in the message,
never a skip: a test suite that silently skips its database tests proves nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


class ServiceError(RuntimeError):
    """A test service could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    if port in (5432, 6379):  # pragma: no cover - the kernel never picks these in practice
        return free_port()
    return port


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"server exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        found = shutil.which("initdb")
        if found is None:
            raise ServiceError(
                "PostgreSQL server binaries not found (initdb). Install them: "
                "`apt-get install postgresql` (make test does this when run as root)."
            )
        return Path(found).resolve().parent
    return Path(candidates[0]).parent


TIMESCALE_INSTALL = "sudo scripts/dev/system_deps.sh test"
"""The command that installs TimescaleDB for the tests, named by every skip and error."""

TIMESCALE_OPTIONS = ("shared_preload_libraries=timescaledb", "timescaledb.telemetry_level=off")
"""Server options of a cluster with TimescaleDB preloaded."""


def timescale_package(bindir: Path | None = None) -> bool:
    """Whether the TimescaleDB extension is installed for this PostgreSQL (on the machine:
    whether a cluster may preload it is the cluster's own setting)."""
    bindir = bindir or _pg_bindir()
    res = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        # Debian's server packages keep pg_config elsewhere: share/ is beside lib/.
        share = Path("/usr/share/postgresql") / bindir.parent.name
    else:
        share = Path(res.stdout.strip())
    return (share / "extension" / "timescaledb.control").is_file()


class PostgresServer:
    """A private PostgreSQL cluster. ``stop()``/``start()`` let tests simulate an outage.

    ``options`` are extra ``-c name=value`` server settings, e.g. ``TIMESCALE_OPTIONS``.
    """

    def __init__(self, port: int | None = None, options: tuple[str, ...] = ()) -> None:
        self.bindir = _pg_bindir()
        self.options = options
        self.port = port or free_port()
        self.user = "postgres"
        self._root = Path(tempfile.mkdtemp(prefix="pi5-pg-"))
        self.datadir = self._root / "data"
        self.logfile = self._root / "server.log"
        # initdb and postgres refuse to run as root; CI runs as root, so drop to the
        # Debian package's `postgres` account for the server processes.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceError("running as root needs the `postgres` system user") from exc
            os.chown(self._root, pw.pw_uid, pw.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )

    def _run(self, cmd: list[str]) -> None:
        res = subprocess.run(self._as_user + cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise ServiceError(f"{' '.join(cmd)} failed: {res.stderr.strip()}\n{log[-2000:]}")

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=50 -c shared_buffers=64MB"
        )
        opts += "".join(f" -c {o}" for o in self.options)
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        _wait_port(self.port, 30)

    def timescale(self) -> str:
        """What this running cluster offers of TimescaleDB, as it says itself: ``absent`` (no
        package for its PostgreSQL), ``available`` (package present, not preloaded) or
        ``preloaded``."""
        query = (
            "SELECT (SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'),"
            " 'timescaledb' = ANY(regexp_split_to_array("
            "current_setting('shared_preload_libraries'), '\\s*,\\s*'))"
        )
        res = subprocess.run(
            [str(self.bindir / "psql"), self.dsn, "-AtX", "-F", " ", "-c", query],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise ServiceError(f"psql failed: {res.stderr.strip()}")
        package, preloaded = res.stdout.split()
        if package == "0":
            return "absent"
        return "preloaded" if preloaded == "t" else "available"

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def is_running(self) -> bool:
        res = subprocess.run(
            [*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"],
            capture_output=True,
            check=False,
        )
        return res.returncode == 0

    def close(self) -> None:
        with contextlib.suppress(ServiceError):
            if self.is_running():
                self.stop("immediate")
        shutil.rmtree(self._root, ignore_errors=True)


class RedisServer:
    """A private redis-server without persistence."""

    def __init__(self, port: int | None = None, args: Sequence[str] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(
                "redis-server not found. Install it: `apt-get install redis-server` "
                "(make test does this when run as root)."
            )
        self.binary = binary
        self.port = port or free_port()
        self._root = Path(tempfile.mkdtemp(prefix="pi5-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.args = list(args)
        """More redis-server options (``--requirepass``, ``--unixsocket`` …)."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def root(self) -> Path:
        """The server's private folder (for a unix socket, say)."""
        return self._root

    def start(self) -> None:
        cmd = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self._root),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            *self.args,
        ]
        with (self._root / "redis.log").open("wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.port, 20, self._proc)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)
