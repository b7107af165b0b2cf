"""Research on a Dask ``distributed`` cluster: parameter sweeps, walk-forward and API
backtest jobs spread over the Pis and desktops running ``dask worker`` (docs/cluster.md).

``Cluster.connect(settings)`` reaches the scheduler (``PI5_CLUSTER__*`` or ``--cluster``)
and refuses workers whose pi5trading or core version differs from this machine's. The
bars go to each worker once (``scatter(..., broadcast=True)``); parameter sets go in
chunks, so a run of a few milliseconds does not pay a scheduling round trip each; rows
come back as chunks finish and are put back in the candidates' order, so the table is the
one a local run gives, byte for byte, whatever the number of workers or the order of
completion. A worker lost mid-run costs its chunks only: the scheduler runs them again
elsewhere. A user's strategy file travels with the job as text and is loaded on the
worker by the same loader (``load_strategy(..., source=...)``).

``distributed`` is an optional dependency (``pip install 'pi5trading[cluster]'``); nothing
imports it unless a cluster is used.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec

from pi5trading.backtest.optimise import RunRow, run_params
from pi5trading.backtest.spec import BacktestSpec
from pi5trading.config import CLUSTER_ADDRESS, ClusterSettings
from pi5trading.exceptions import ConfigurationError, Pi5TradingError

if TYPE_CHECKING:
    from distributed import Client, Future

    from pi5trading.data.bars import BarFrame, DataReport
    from pi5trading.storage.records import BacktestResultRow, BacktestRunRow
    from pi5trading.strategies.base import Strategy

_T = TypeVar("_T")

Progress = Callable[[int, int], None]
Versions = tuple[str, str]
"""(pi5trading, _core) versions."""

TASKS_PER_WORKER: Final = 4
"""Chunks per worker thread: enough that a slow or lost worker delays little, few enough
that scheduling (about a millisecond a task) stays small against the runs."""
MAX_CHUNK: Final = 64
"""Runs per chunk at most, so progress moves and a lost chunk is cheap to redo."""
_ADDRESS = re.compile(CLUSTER_ADDRESS)


class ClusterError(Pi5TradingError):
    """The cluster could not be reached, refused a worker, or lost the work."""


class Shipped(msgspec.Struct, frozen=True):
    """A user's strategy file as it travels to the workers: its spec and its text."""

    strategy: str
    source: str
    digest: str


def versions() -> Versions:
    """This process's pi5trading and core versions (what ``connect`` compares)."""
    import pi5trading
    from pi5trading import _core

    return (pi5trading.__version__, _core.__version__)


def check_address(address: str) -> str:
    """``address`` as given, or a one-line error naming the expected form."""
    address = address.strip()
    if not address or not _ADDRESS.match(address):
        raise ConfigurationError(
            f"cluster address {address!r}: expected tcp://HOST:PORT or tls://HOST:PORT "
            "(e.g. tcp://10.0.0.2:8786)"
        )
    port = int(address.rpartition(":")[2])
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"cluster address {address!r}: port {port} is not 1-65535")
    return address


def ship_strategy(spec: BacktestSpec) -> Shipped | None:
    """The spec's strategy file to send with the job (``None``: a built-in or a module,
    which the workers import themselves)."""
    from pi5trading.strategies.loader import strategy_file

    path = strategy_file(spec.strategy)
    if path is None:
        return None
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the strategy file: {exc}") from exc
    digest = hashlib.sha256(source.encode()).hexdigest()
    return Shipped(spec.strategy, source, digest)


class Cluster:
    """A checked connection to a Dask scheduler (use ``connect``; close it, or use it as a
    context manager)."""

    def __init__(self, client: Client, address: str, retries: int) -> None:
        self.client = client
        self.address = address
        self.retries = retries
        self.expected = versions()
        self._scattered: list[tuple[BarFrame, Future[BarFrame]]] = []

    @classmethod
    def connect(cls, settings: ClusterSettings, address: str | None = None) -> Cluster:
        """Connect to ``address`` (default: the settings'), wait up to the connect timeout
        for a worker, and check every worker's versions; each failure is one line."""
        address = check_address(address if address is not None else settings.address)
        try:
            from distributed import Client
        except ImportError:
            raise ConfigurationError(
                "running on a cluster needs Dask's distributed: pip install 'pi5trading[cluster]'"
            ) from None
        timeout = settings.connect_timeout_s
        try:
            client = Client(
                address,
                timeout=timeout,
                set_as_default=False,
                security=_security(settings, address),
            )
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"no Dask scheduler answered at {address} within {timeout:g} s "
                f"(PI5_CLUSTER__CONNECT_TIMEOUT_S): is `dask scheduler` running there and the "
                f"port open? ({_first_line(exc)})"
            ) from None
        cluster = cls(client, address, settings.retries)
        try:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise ClusterError(
                    f"the scheduler at {address} has no workers (waited {timeout:g} s): start "
                    f"some with `dask worker {address} --nthreads 1`"
                ) from None
            cluster.check_workers()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def check_workers(self) -> None:
        """Refuse the cluster when a worker runs another pi5trading or core version."""
        found: dict[str, Any] = self.client.run(versions, on_error="return")
        for worker, got in sorted(found.items()):
            if isinstance(got, BaseException):
                raise ClusterError(
                    f"worker {worker} cannot run pi5trading ({_first_line(got)}): install "
                    f"this version there: pip install 'pi5trading[cluster]=={self.expected[0]}'"
                )
            if tuple(got) != self.expected:
                raise ClusterError(_version_mismatch(worker, tuple(got), self.expected))

    def close(self) -> None:
        self._scattered.clear()
        self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def threads(self) -> int:
        """Worker threads the scheduler knows of now."""
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def bars(self, frame: BarFrame) -> Future[BarFrame]:
        """``frame`` on every worker, sent once (again only for another frame)."""
        for known, sent in self._scattered:
            if known is frame:
                return sent
        # broadcast: one copy per worker now; a worker that joins later fetches it from a
        # peer the first time a task needs it, once.
        future: Future[BarFrame] = self.client.scatter(frame, broadcast=True, hash=False)
        self._scattered.append((frame, future))
        return future

    def run_rows(
        self,
        spec: BacktestSpec,
        frame: BarFrame,
        params: list[dict[str, Any]],
        *,
        window: tuple[int, int] | None = None,
        progress: Progress | None = None,
    ) -> list[RunRow]:
        """One row per parameter set, in ``params``' order (``optimise.search`` ranks
        them), run on the workers over ``frame`` cut to ``window``."""
        from distributed import as_completed

        shipped = ship_strategy(spec)
        bars = self.bars(frame)
        size = chunk_size(len(params), self.threads)
        futures = [
            self.client.submit(
                run_chunk,
                spec,
                bars,
                window,
                shipped,
                self.expected,
                start,
                params[start : start + size],
                pure=False,
                retries=self.retries,
            )
            for start in range(0, len(params), size)
        ]
        rows: list[RunRow | None] = [None] * len(params)
        done = 0
        try:
            for future in as_completed(futures, loop=self.client.loop):
                start, chunk, error = self._result(future)
                if error is not None:
                    raise ClusterError(error)
                # By index, never by completion order: the same table as a local run.
                rows[start : start + len(chunk)] = chunk
                done += len(chunk)
                if progress:
                    progress(done, len(params))
        finally:
            self.client.cancel(futures)
        return [r for r in rows if r is not None]

    def run_report(
        self,
        spec: BacktestSpec,
        frame: BarFrame,
        data_report: DataReport | None,
        report: Path,
        run_id: str,
    ) -> tuple[BacktestRunRow, BacktestResultRow, dict[str, bytes]]:
        """One backtest (an API job) as one task: its records and its report's files,
        to be written into ``report``'s folder here."""
        future = self.client.submit(
            run_report_task,
            spec,
            frame,
            data_report,
            ship_strategy(spec),
            self.expected,
            str(report),
            run_id,
            pure=False,
            retries=self.retries,
        )
        try:
            out: tuple[Any, ...] | str = self._value(future)
        finally:
            self.client.cancel([future])
        if isinstance(out, str):
            raise ClusterError(out)
        run, result, files = out
        return run, result, files

    def map_chunks(self, fn: Callable[..., _T], chunks: list[tuple[Any, ...]]) -> list[_T]:
        """``fn(*args)`` for each chunk on the workers, the results in ``chunks``' order
        (a Monte Carlo bootstrap: ``analysis.montecarlo.resample_trades(chunk_map=...)``)."""
        futures = [
            self.client.submit(fn, *args, pure=False, retries=self.retries) for args in chunks
        ]
        try:
            return [self._value(f) for f in futures]
        finally:
            self.client.cancel(futures)

    def _result(
        self, future: Future[tuple[int, list[RunRow], str | None]]
    ) -> tuple[int, list[RunRow], str | None]:
        out: tuple[int, list[RunRow], str | None] = self._value(future)
        return out

    def _value(self, future: Future[Any]) -> Any:
        try:
            return future.result()
        except Exception as exc:
            # KilledWorker (the task's workers kept dying), a lost scheduler: one line.
            raise ClusterError(
                f"the cluster at {self.address} lost the work: {type(exc).__name__}: "
                f"{_first_line(exc)}"
            ) from None


def chunk_size(runs: int, threads: int) -> int:
    """Runs per task: about ``TASKS_PER_WORKER`` tasks per worker thread, at most
    ``MAX_CHUNK`` runs each."""
    return max(1, min(MAX_CHUNK, math.ceil(runs / (threads * TASKS_PER_WORKER))))


# -- on the workers --

_LOADED: dict[tuple[str, str], type[Strategy]] = {}
"""Strategy classes a worker loaded, by spec and file digest (once per worker, not per
task)."""


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "(not on a worker)"


def _version_mismatch(worker: str, got: tuple[Any, ...], want: Versions) -> str:
    return (
        f"worker {worker} runs pi5trading {got[0]} (core {got[1]}), this machine "
        f"{want[0]} (core {want[1]}): install the same version on every worker "
        f"(pip install 'pi5trading[cluster]=={want[0]}') or stop that worker"
    )


def _strategy_on_worker(spec: BacktestSpec, shipped: Shipped | None) -> type[Strategy]:
    from pi5trading.strategies.loader import load_strategy

    key = (spec.strategy, shipped.digest if shipped is not None else "")
    cls = _LOADED.get(key)
    if cls is None:
        cls = load_strategy(spec.strategy, source=shipped.source if shipped else None)
        _LOADED[key] = cls
    return cls


def _prepare(spec: BacktestSpec, shipped: Shipped | None, want: Versions) -> type[Strategy] | str:
    """The strategy class, or the one-line error that stops the job: a worker of another
    version (one that joined after the connect-time check) or one that cannot import the
    strategy (a missing dependency)."""
    got = versions()
    if got != want:
        return _version_mismatch(_worker_name(), got, want)
    try:
        return _strategy_on_worker(spec, shipped)
    except ConfigurationError as exc:
        hint = (
            " (install it on that worker)"
            if isinstance(exc.__cause__, ImportError) or "not found" in str(exc)
            else ""
        )
        return f"worker {_worker_name()} cannot load the strategy: {exc}{hint}"


def run_chunk(
    spec: BacktestSpec,
    frame: BarFrame,
    window: tuple[int, int] | None,
    shipped: Shipped | None,
    want: Versions,
    start: int,
    params: list[dict[str, Any]],
) -> tuple[int, list[RunRow], str | None]:
    """A task: the runs of ``params`` (candidates ``start``...), or the error that stops
    the sweep (returned, not raised: Dask would retry it and send a traceback)."""
    strategy = _prepare(spec, shipped, want)
    if isinstance(strategy, str):
        return start, [], strategy
    cut = frame if window is None else frame.between(*window)
    return start, [run_params(spec, cut, p, strategy) for p in params], None


def run_report_task(
    spec: BacktestSpec,
    frame: BarFrame,
    data_report: DataReport | None,
    shipped: Shipped | None,
    want: Versions,
    report: str,
    run_id: str,
) -> tuple[Any, ...] | str:
    """A task: one backtest with its report written to a scratch folder and sent back as
    files (the server writes them into its own report folder), and its records."""
    from pi5trading.backtest.history import run_record
    from pi5trading.backtest.jobs import RESULT_FILE, result_document
    from pi5trading.backtest.spec import run_spec
    from pi5trading.exceptions import StrategyError

    strategy = _prepare(spec, shipped, want)
    if isinstance(strategy, str):
        return strategy
    try:
        result = run_spec(spec, frame, data_report=data_report, strategy=strategy)
        with tempfile.TemporaryDirectory(prefix="pi5trading-report-") as tmp:
            folder = Path(tmp)
            result.write_report(folder)
            (folder / RESULT_FILE).write_bytes(msgspec.json.encode(result_document(result)))
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    except StrategyError as exc:
        return str(exc)
    except (Pi5TradingError, ValueError, OSError) as exc:
        return str(exc) or type(exc).__name__
    run, res = run_record(spec, result, Path(report), run_id)
    return run, res, files


def _security(settings: ClusterSettings, address: str) -> Any:
    """TLS for ``tls://`` addresses, from the settings' files (all three needed)."""
    files = (settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
    if not address.startswith("tls://"):
        return None
    if not all(files):
        raise ConfigurationError(
            f"cluster address {address}: tls:// needs PI5_CLUSTER__TLS_CA_FILE, "
            "PI5_CLUSTER__TLS_CERT_FILE and PI5_CLUSTER__TLS_KEY_FILE"
        )
    for f in files:
        if not Path(f).is_file():
            raise ConfigurationError(f"cluster TLS file not found: {f}")
    from distributed.security import Security

    return Security(
        tls_ca_file=settings.tls_ca_file,
        tls_client_cert=settings.tls_cert_file,
        tls_client_key=settings.tls_key_file,
        require_encryption=True,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = [
    "MAX_CHUNK",
    "TASKS_PER_WORKER",
    "Cluster",
    "ClusterError",
    "Shipped",
    "check_address",
    "chunk_size",
    "run_chunk",
    "run_report_task",
    "ship_strategy",
    "versions",
]
