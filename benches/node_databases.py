"""What the node benches with persistence on share: a throwaway database per run (a SQLite
file in a temp data dir, or a fresh database on a private PostgreSQL cluster started from
the Debian binaries as the tests do, or on ``PI5_BENCH_PG_URL``), the settings that point
the node's sinks at it, and a sampler of RSS and queue depths while a run goes on.

Not a bench itself: ``node_storage_throughput.py`` and ``node_storage_latency.py`` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg

# The benches run as scripts (``python benches/x.py``): the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services import PostgresServer

from pi5trading.config import Settings, load_settings
from pi5trading.storage.connect import open_repository, prepare_database

PAGE = os.sysconf("SC_PAGE_SIZE")


class PostgresCluster:
    """``PI5_BENCH_PG_URL`` when set (each run gets its own database on that server),
    otherwise a private cluster on a free loopback port for the bench's lifetime."""

    def __init__(self) -> None:
        self.server: PostgresServer | None = None
        self.admin_url = os.environ.get("PI5_BENCH_PG_URL", "")
        self.what = "PI5_BENCH_PG_URL"

    def __enter__(self) -> PostgresCluster:
        if not self.admin_url:
            self.server = PostgresServer()
            self.server.start()
            self.admin_url = self.server.dsn
            self.what = "private cluster (tests/services.py: fsync=off, synchronous_commit=off)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.close()

    async def create(self) -> tuple[str, str]:
        """A new empty database: (name, url)."""
        name = f"pi5bench_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        base, _, _ = self.admin_url.rpartition("/")
        return name, f"{base}/{name}"

    async def drop(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.contextmanager
def postgres_or_none(wanted: bool) -> Iterator[PostgresCluster | None]:
    if not wanted:
        yield None
        return
    with PostgresCluster() as cluster:
        yield cluster


@contextlib.asynccontextmanager
async def run_settings(
    kind: str, cluster: PostgresCluster | None, overrides: dict[str, str]
) -> AsyncIterator[Settings]:
    """Settings for one run on a fresh, migrated database of ``kind``: the process
    environment's ``PI5_*`` first, then ``overrides`` (``PI5_DATABASE__BATCH_SIZE``, ...)."""
    data_dir = tempfile.mkdtemp(prefix="pi5-nodebench-")
    env = {k: v for k, v in os.environ.items() if k.startswith("PI5_")}
    env.pop("PI5_BENCH_PG_URL", None)
    env.update(overrides)
    env["PI5_DATA_DIR"] = data_dir
    name = ""
    if kind == "postgres":
        assert cluster is not None
        name, url = await cluster.create()
        env["PI5_DATABASE__URL"] = url
    else:
        env["PI5_DATABASE__URL"] = ""
    try:
        settings = load_settings(env, dotenv_path=None)
        # Migrated before the clock starts: a run measures the node, not the schema.
        repo = await open_repository(settings)
        try:
            await prepare_database(settings, repo.driver)
        finally:
            await repo.close()
        yield settings
    finally:
        if name and cluster is not None:
            await cluster.drop(name)
        shutil.rmtree(data_dir, ignore_errors=True)


async def count_rows(settings: Settings, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows in each table, read back through a new connection (what was committed)."""
    repo = await open_repository(settings)
    try:
        out = {}
        async with repo.driver.transaction() as conn:
            for t in tables:
                out[t] = int((await conn.fetch(f"SELECT count(*) FROM {t}"))[0][0])
        return out
    finally:
        await repo.close()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Sampler:
    """Every ``every_s`` on its own thread: the process's RSS and each named gauge; keeps
    the peaks. Gauges must be cheap and safe to read from another thread (``len``)."""

    def __init__(self, gauges: dict[str, Callable[[], int]], every_s: float = 0.01) -> None:
        self.gauges = gauges
        self.every_s = every_s
        self.peak: dict[str, int] = {"rss": rss_bytes(), **dict.fromkeys(gauges, 0)}
        self.start_rss = self.peak["rss"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        peak = self.peak
        while not self._stop.wait(self.every_s):
            peak["rss"] = max(peak["rss"], rss_bytes())
            for k, g in self.gauges.items():
                with contextlib.suppress(Exception):
                    peak[k] = max(peak[k], g())


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, by name (Python's name where
    the thread is Python's, else the kernel's ``comm``); same-named threads summed."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(task.name), comm)
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f}"


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


async def to_thread_join(thread: threading.Thread) -> None:
    await asyncio.to_thread(thread.join)
