"""Research on a real Dask cluster: a scheduler and two workers started as separate
processes on loopback (``tests/dask_cluster.py``), as docs/cluster.md starts them.

A sweep on the cluster gives the local table byte for byte (a user's strategy file shipped
to the workers); a worker killed with SIGKILL mid-sweep costs only its tasks; a strategy
that cannot be imported on the workers, a worker of another version, no scheduler at the
address and a typo in it are each one line; the command line and API backtest jobs use
the cluster.
"""

from __future__ import annotations

import asyncio
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from pi5trading.backtest import optimise as opt
from pi5trading.backtest.cluster import Cluster, ClusterError, run_chunk, versions
from pi5trading.backtest.spec import BacktestSpec, load_frame, run_spec
from pi5trading.cli import main
from pi5trading.config import ClusterSettings
from tests.dask_cluster import DaskCluster
from tests.services import free_port

pytestmark = pytest.mark.integration

# A user's strategy, in a file of its own: what the workers must be sent.
STRATEGY = """
from pi5trading.strategies.sma_crossover import MovingAverageCrossover


class Crossing(MovingAverageCrossover):
    name = "crossing"
"""
# 40 runs, 10 of which fail (fast >= slow): failed runs keep the candidates' order at the
# bottom of the table, so an order taken from completion would show.
GRID = {"fast": [10, 20, 30, 40, 50], "slow": [15, 25, 35, 45, 55, 65, 75, 85]}


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    cluster = DaskCluster(tmp_path_factory.mktemp("dask")).start(workers=2)
    try:
        yield cluster
    finally:
        cluster.close()
    assert cluster.alive() == []


@pytest.fixture
def two_workers(dask_cluster: DaskCluster) -> DaskCluster:
    """The cluster with two live workers (a test before may have killed one)."""
    for proc in dask_cluster.alive()[2:]:
        dask_cluster.kill(proc)
    while len(dask_cluster.alive()) < 2:
        dask_cluster.add_worker()
    dask_cluster.wait_for_workers(2)
    return dask_cluster


def settings(address: str, **kw: Any) -> ClusterSettings:
    return ClusterSettings(address=address, **kw)


def strategy_file(folder: Path, text: str = STRATEGY, name: str = "crossing.py") -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def encoded(result: Any) -> bytes:
    return msgspec.json.encode(result)


def test_a_grid_on_two_workers_is_the_local_table_byte_for_byte(
    two_workers: DaskCluster, tmp_path: Path
) -> None:
    spec = BacktestSpec(strategy=strategy_file(tmp_path), data="generated:20000:3", risk=None)
    frame = load_frame(spec)
    candidates = opt.grid(GRID)
    local = opt.search(spec, candidates, frame=frame, workers=2)
    seen: list[tuple[int, int]] = []
    with Cluster.connect(settings(two_workers.address)) as cluster:
        remote = opt.search(
            spec,
            candidates,
            frame=frame,
            cluster=cluster,
            progress=lambda d, t: seen.append((d, t)),
        )
        rows = cluster.run_rows(spec, frame, candidates)
        assert [r.params for r in rows] == candidates
        # Walk-forward too: each window's search on the workers, over bars sent once.
        few = candidates[::5]
        wf_remote = opt.walk_forward(
            spec, few, in_sample_days=15, out_of_sample_days=10, frame=frame, cluster=cluster
        )
        assert len(cluster._scattered) == 1
    wf_local = opt.walk_forward(
        spec, few, in_sample_days=15, out_of_sample_days=10, frame=frame, workers=1
    )
    assert len(remote.rows) == 40
    assert len(remote.failed) == 10
    assert encoded(remote) == encoded(local)
    assert encoded(wf_remote) == encoded(wf_local)
    assert len(wf_local.periods) >= 2
    # Chunks of runs (40 runs, 2 threads: 5 each), streamed back under the progress bar.
    assert len(seen) == 8
    assert seen[-1] == (40, 40)


def test_a_worker_killed_mid_sweep_costs_only_its_tasks(
    two_workers: DaskCluster, tmp_path: Path
) -> None:
    # Big enough that the sweep takes seconds: the kill lands while both workers run.
    spec = BacktestSpec(strategy="sma_crossover", data="generated:60000:5", risk=None)
    frame = load_frame(spec)
    candidates = opt.grid(GRID)
    victim = two_workers.alive()[1]
    at_kill: list[int] = []
    running: list[int] = []

    with Cluster.connect(settings(two_workers.address)) as cluster:
        workers = cluster.client.scheduler_info(n_workers=-1)["workers"]
        address = next(a for a, w in workers.items() if w["name"] == two_workers.name_of(victim))

        def progress(done: int, total: int) -> None:
            if not at_kill:
                at_kill.append(done)
                running.append(len(cluster.client.processing()[address]))
                two_workers.kill(victim)

        remote = opt.search(spec, candidates, frame=frame, cluster=cluster, progress=progress)
    assert victim.returncode == -signal.SIGKILL
    assert at_kill[0] < len(candidates)  # killed with most of the sweep still to run
    assert running[0] > 0  # and with chunks of it on that worker
    assert encoded(remote) == encoded(opt.search(spec, candidates, frame=frame, workers=2))


def test_a_strategy_file_that_fails_to_import_on_the_workers_is_one_line(
    two_workers: DaskCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dependency this machine has (on its sys.path) and the workers lack.
    mine = tmp_path / "client_only"
    mine.mkdir()
    (mine / "client_only_indicators.py").write_text("PERIOD = 5\n")
    monkeypatch.syspath_prepend(str(mine))
    path = strategy_file(
        tmp_path,
        "import client_only_indicators\n" + STRATEGY,
        name="needs_dep.py",
    )
    spec = BacktestSpec(strategy=path, data="generated:3000:3", risk=None)
    opt.check_space(spec, GRID)  # it loads here
    with (
        Cluster.connect(settings(two_workers.address)) as cluster,
        pytest.raises(ClusterError) as err,
    ):
        opt.search(spec, opt.grid(GRID), cluster=cluster)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("worker tcp://127.0.0.1:")
    assert message.endswith(
        f"cannot load the strategy: {path}: error while importing: ModuleNotFoundError: "
        "No module named 'client_only_indicators' (install it on that worker)"
    )


def test_a_worker_of_another_version_is_refused(two_workers: DaskCluster, tmp_path: Path) -> None:
    # The fake: a --preload module that changes the version in that worker's process only.
    fake = tmp_path / "fake_version.py"
    fake.write_text("import pi5trading\npi5trading.__version__ = '0.0.1+other'\n")
    odd = two_workers.add_worker(preload=fake)
    try:
        two_workers.wait_for_workers(3)
        with pytest.raises(ClusterError) as err:
            Cluster.connect(settings(two_workers.address))
        ours, core = versions()
        assert str(err.value).startswith("worker tcp://127.0.0.1:")
        assert str(err.value).endswith(
            f"runs pi5trading 0.0.1+other (core {core}), this machine {ours} (core {core}): "
            f"install the same version on every worker (pip install 'pi5trading[cluster]=="
            f"{ours}') or stop that worker"
        )
    finally:
        two_workers.kill(odd)
    # A worker that joins after the check is refused by the task itself.
    spec = BacktestSpec(data="generated:500", risk=None)
    _, rows, error = run_chunk(spec, load_frame(spec), None, None, ("0.0.0", core), 0, [{}])
    assert rows == []
    assert error is not None
    assert f"runs pi5trading {ours} (core {core}), this machine 0.0.0" in error


def test_optimize_on_the_cluster_from_the_command_line(
    two_workers: DaskCluster, tmp_path: Path
) -> None:
    args = [
        "optimize",
        "-s",
        strategy_file(tmp_path),
        "-g",
        "fast=5,10",
        "-g",
        "slow=30:60:10",
        "--data",
        "generated:20000:2",
        "--risk",
        "none",
    ]
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    here = CliRunner().invoke(main, [*args, "-j", "2", "-o", str(local)])
    there = CliRunner().invoke(main, [*args, "--cluster", two_workers.address, "-o", str(cluster)])
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert f"cluster {two_workers.address}: 2 workers, 2 threads" in there.output
    for name in ("results.json", "results.csv", "heatmap.html"):
        assert (cluster / name).read_bytes() == (local / name).read_bytes()
    # PI5_CLUSTER__ADDRESS does the same; --local runs here anyway.
    env = {"PI5_CLUSTER__ADDRESS": two_workers.address}
    by_env = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "env")], env=env)
    assert by_env.exit_code == 0, by_env.output
    assert "cluster tcp://" in by_env.output
    r = CliRunner().invoke(main, [*args, "--local", "-o", str(tmp_path / "l2")], env=env)
    assert r.exit_code == 0, r.output
    assert "cluster tcp://" not in r.output


def test_monte_carlo_resamples_on_the_cluster_are_the_local_ones(
    two_workers: DaskCluster, tmp_path: Path
) -> None:
    """`backtest --monte-carlo N --cluster`: the resamples' chunks run on the workers and
    the report's Monte Carlo section is the local one (N above one chunk: several tasks)."""
    args = [
        "backtest",
        "-s",
        "sma_crossover",
        "-p",
        "fast=5",
        "-p",
        "slow=20",
        "--data",
        "generated:20000:3",
        "--risk",
        "none",
        "--monte-carlo",
        "6000",
        "-q",
        "--no-save",
    ]
    here = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "local")])
    there = CliRunner().invoke(
        main, [*args, "--cluster", two_workers.address, "-o", str(tmp_path / "cluster")]
    )
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert f"cluster {two_workers.address}" in there.output

    def montecarlo(folder: Path) -> Any:
        return msgspec.json.decode((folder / "report.json").read_bytes())["montecarlo"]

    local, remote = montecarlo(tmp_path / "local"), montecarlo(tmp_path / "cluster")
    assert local["simulations"] == 6000  # the N asked for, not a default
    assert remote == local


def test_user_mistakes_with_the_cluster_address(tmp_path: Path) -> None:
    args = ["optimize", "-g", "fast=5,10", "--data", "generated:2000", "-o", str(tmp_path)]
    nobody = f"tcp://127.0.0.1:{free_port()}"
    env = {"PI5_CLUSTER__CONNECT_TIMEOUT_S": "1"}
    r = CliRunner().invoke(main, [*args, "--cluster", nobody], env=env)
    assert r.exit_code == 1
    assert r.output.startswith(
        f"Error: no Dask scheduler answered at {nobody} within 1 s (PI5_CLUSTER__CONNECT_TIMEOUT_S)"
    )
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    # A scheduler without workers: the command says how to start one.
    empty = DaskCluster(tmp_path / "empty").start(workers=0)
    try:
        r = CliRunner().invoke(main, [*args, "--cluster", empty.address], env=env)
    finally:
        empty.close()
    assert r.exit_code == 1
    assert r.output == (
        f"Error: the scheduler at {empty.address} has no workers (waited 1 s): start some "
        f"with `dask worker {empty.address} --nthreads 1`\n"
    )
    for typo in ("tcp:/127.0.0.1:8786", "127.0.0.1", "tcp://127.0.0.1:87x6", "tcp://host:99999"):
        r = CliRunner().invoke(main, [*args, "--cluster", typo])
        assert r.exit_code == 1, (typo, r.output)
        assert r.output.startswith(f"Error: cluster address {typo!r}: "), r.output
    r = CliRunner().invoke(main, [*args, "--cluster", "tls://127.0.0.1:8786"])
    assert r.exit_code == 1
    assert r.output == (
        "Error: cluster address tls://127.0.0.1:8786: tls:// needs PI5_CLUSTER__TLS_CA_FILE, "
        "PI5_CLUSTER__TLS_CERT_FILE and PI5_CLUSTER__TLS_KEY_FILE\n"
    )
    r = CliRunner().invoke(main, [*args, "--cluster", nobody, "-j", "2"])
    assert r.exit_code == 2
    assert "--workers counts this machine's processes" in r.output
    r = CliRunner().invoke(main, args, env={"PI5_CLUSTER__ADDRESS": "tcp//x:1"})
    assert r.exit_code == 1
    assert "PI5_CLUSTER__ADDRESS='tcp//x:1': expected tcp://HOST:PORT" in r.output


@pytest.mark.anyio
async def test_api_backtest_jobs_run_on_the_cluster(
    two_workers: DaskCluster, tmp_path: Path
) -> None:
    from pi5trading.backtest.jobs import BacktestJobs
    from pi5trading.config import load_settings
    from pi5trading.storage.connect import open_repository, prepare_database

    conf = load_settings(
        env={"PI5_DATA_DIR": str(tmp_path), "PI5_CLUSTER__ADDRESS": two_workers.address},
        dotenv_path=None,
    )
    boom = strategy_file(
        tmp_path,
        STRATEGY + "\n    def on_bar(self, bar):\n        return 1 / 0\n",
        name="boom.py",
    )
    spec = BacktestSpec(strategy=strategy_file(tmp_path), data="generated:5000:4", risk=None)
    repo = await open_repository(conf)
    await prepare_database(conf, repo.driver)
    runner = BacktestJobs(conf, repo)
    try:
        ok = await runner.submit(spec, "t")
        bad = await runner.submit(BacktestSpec(strategy=boom, data="generated:500"), "t")
        for _ in range(600):
            if ok.status in ("done", "failed") and bad.status in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.close()
        await repo.close()
    assert ok.status == "done", ok.error
    assert bad.status == "failed"
    assert bad.error is not None
    assert "boom.py, line 9, in on_bar" in bad.error
    assert "ZeroDivisionError" in bad.error
    assert ok.result is not None
    local = run_spec(spec)
    assert ok.result.trades == len(local.trades)
    assert ok.result.total_return == local.performance.total_return
    assert ok.report is not None
    folder = ok.report.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "equity.csv",
        "report.html",
        "report.json",
        "result.json",
        "trades.csv",
    ]
    local.write_report(tmp_path / "here")
    assert (folder / "trades.csv").read_bytes() == (tmp_path / "here" / "trades.csv").read_bytes()
