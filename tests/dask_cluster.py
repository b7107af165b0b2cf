"""A real Dask cluster on loopback for the tests and benches: ``dask scheduler`` and
``dask worker`` processes, started as a user starts them (docs/cluster.md).

Workers run with ``--no-nanny``: the process started here *is* the worker, so a SIGKILL
kills the worker itself (a nanny would start a new one, and killing the nanny would orphan
its worker). ``--death-timeout`` makes a worker that outlives its scheduler exit on its
own; ``close`` kills every process it started and waits for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.services import ServiceError, _wait_port, free_port


def _absolute_path() -> dict[str, str]:
    """This process's PYTHONPATH with absolute entries, if it has one: the workers run in
    other folders and must import this checkout's pi5trading."""
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if not entries:
        return {}
    return {"PYTHONPATH": os.pathsep.join(str(Path(e).resolve()) for e in entries)}


class DaskCluster:
    """A scheduler on a free loopback port and the workers added to it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: Sequence[str], log: str, env: Mapping[str, str] | None) -> Any:
        out = (self.folder / log).open("ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **_absolute_path(), **(env or {})},
                cwd=self.folder,
            )
        finally:
            out.close()

    def start(self, workers: int = 2) -> DaskCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler = self._spawn(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
            ],
            "scheduler.log",
            None,
        )
        _wait_port(self.port, 30, self.scheduler)
        for _ in range(workers):
            self.add_worker()
        self.wait_for_workers(workers)
        return self

    def add_worker(
        self, *, preload: Path | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """One more worker (``preload``: a module it runs first, in its process only)."""
        n = len(self.workers)
        args = [
            "distributed.cli.dask_worker",
            self.address,
            "--nthreads",
            "1",
            "--no-dashboard",
            "--no-nanny",
            "--death-timeout",
            "30",
            "--local-directory",
            str(self.folder / f"worker-{n}"),
            "--name",
            f"w{n}",
        ]
        if preload is not None:
            args += ["--preload", str(preload)]
        proc = self._spawn(args, f"worker-{n}.log", env)
        self.workers.append(proc)
        return proc

    def name_of(self, proc: subprocess.Popen[bytes]) -> str:
        """The worker's ``--name``."""
        return f"w{self.workers.index(proc)}"

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        """Until the scheduler has ``n`` workers (it is asked, not the logs)."""
        from distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            deadline = time.monotonic() + timeout
            while len(client.scheduler_info(n_workers=-1)["workers"]) != n:
                if time.monotonic() > deadline:
                    raise ServiceError(f"the scheduler never had {n} workers: {self.folder}")
                if self.scheduler is not None and self.scheduler.poll() is not None:
                    raise ServiceError(f"the scheduler exited: {self.folder}/scheduler.log")
                time.sleep(0.1)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL ``proc`` and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        """Kill the workers (they hold nothing worth a graceful stop), then stop the
        scheduler; every process is reaped."""
        for proc in self.workers:
            self.kill(proc)
        if self.scheduler is not None:
            self.scheduler.terminate()
            try:
                self.scheduler.wait(5)
            except subprocess.TimeoutExpired:
                self.kill(self.scheduler)
