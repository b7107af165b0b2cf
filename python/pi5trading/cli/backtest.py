"""``pi5trading backtest``, ``optimize`` and ``runs``: the command line over ``BacktestSpec``.

The engine, NumPy and the database load inside the commands, not with the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import msgspec

from pi5trading.backtest.ranking import METRICS
from pi5trading.cli._display import columns_that_fit
from pi5trading.cli._instrument import instrument_options, instrument_settings
from pi5trading.cli._paths import require_writable_database, require_writable_folder
from pi5trading.cli._settings import cli_settings
from pi5trading.cli._venue import venue_options, venue_settings
from pi5trading.config import RISK_PROFILES
from pi5trading.exceptions import Pi5TradingError, StrategyError

RISK_CHOICES = (*RISK_PROFILES, "none")
"""``--risk`` values: the settings' profiles (one list for help, errors and settings)."""

if TYPE_CHECKING:
    from pi5trading.backtest.cluster import Cluster
    from pi5trading.backtest.spec import BacktestSpec
    from pi5trading.config import RiskLimitValue, Settings
    from pi5trading.data.bars import DataReport


# The keys of analysis.report.EQUITY_RESOLUTIONS, named here so that `--help` loads no
# NumPy (a test keeps the two equal).
EQUITY_RESOLUTIONS = ("bar", "1m", "5m", "15m", "1h", "4h", "1d")


def _value(text: str) -> Any:
    """A CLI parameter value: int, then Decimal, else the string (the config converts)."""
    for conv in (int, Decimal):
        try:
            return conv(text)
        except (ValueError, InvalidOperation):
            continue
    return text


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        if not sep or not k.strip():
            raise click.BadParameter(f"{pair!r}: expected name=value", param_hint="--param")
        if k.strip() in out:
            raise click.BadParameter(f"{k.strip()!r} is given twice", param_hint="--param")
        out[k.strip()] = _value(v.strip())
    return out


_MAX_GRID = 100_000  # values of one range: a typo (step 0.0001) must not hang the CLI


def _space(pairs: tuple[str, ...]) -> dict[str, list[Any]]:
    """``name=1,2,3`` or ``name=start:stop:step`` (inclusive) per option."""
    out: dict[str, list[Any]] = {}
    for pair in pairs:
        k, sep, v = pair.partition("=")
        k = k.strip()
        if not sep or not k:
            raise click.BadParameter(f"{pair!r}: expected name=values", param_hint="--grid")
        if k in out:
            raise click.BadParameter(
                f"{k!r} is given twice: list all its values in one --grid", param_hint="--grid"
            )
        if ":" in v:
            try:
                parts = [Decimal(x) for x in v.split(":")]
            except InvalidOperation:
                parts = []
            if len(parts) != 3 or not all(x.is_finite() for x in parts) or parts[2] <= 0:
                raise click.BadParameter(
                    f"{pair!r}: a range is start:stop:step, three numbers with step > 0",
                    param_hint="--grid",
                )
            start, stop, step = parts
            if start > stop:
                raise click.BadParameter(
                    f"{pair!r}: the range starts above its stop", param_hint="--grid"
                )
            if (stop - start) / step >= _MAX_GRID:
                raise click.BadParameter(
                    f"{pair!r}: more than {_MAX_GRID:,} values", param_hint="--grid"
                )
            vals: list[Any] = []
            x = start
            while x <= stop:
                vals.append(int(x) if x == x.to_integral_value() else x)
                x += step
            out[k] = vals
        else:
            out[k] = [_value(x.strip()) for x in v.split(",") if x.strip()]
            if not out[k]:
                raise click.BadParameter(f"{pair!r}: no values", param_hint="--grid")
    return out


def _iso_time(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--start``/``--end``: an ISO date or date-time, checked when the option is read."""
    if value is None:
        return None
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time (e.g. 2024-01-31 or 2024-01-31T09:30)"
        ) from None
    return value


def spec_options(f: Any) -> Any:
    """Options shared by backtest and optimize."""
    opts = [
        click.option(
            "--strategy",
            "-s",
            default="sma_crossover",
            show_default=True,
            help="Built-in name, path/to/file.py[:Class] or module:Class.",
        ),
        click.option(
            "--param",
            "-p",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help="Strategy parameter (repeatable), e.g. -p fast=10 -p slow=30.",
        ),
        click.option(
            "--data",
            "-d",
            default="generated:100000",
            show_default=True,
            help="CSV/Parquet bar file, db:<instrument> (imported bars), or "
            "generated:<bars>[:<seed>].",
        ),
        click.option(
            "--timestamps",
            type=click.Choice(["open", "close"]),
            default="open",
            show_default=True,
            help="Whether the file's timestamps are bar open (vendors) or close times.",
        ),
        click.option(
            "--symbol",
            default=None,
            help="Instrument symbol [default: the db: instrument, the first word of the file "
            "name (AAPL.csv -> AAPL), SIM for generated data].",
        ),
        click.option(
            "--interval",
            default=None,
            help="Bar interval: 1m, 5m, 1h, 1d ... [default: taken from the file's timestamps; "
            "the stored interval for db:; 1m for generated data].",
        ),
        click.option(
            "--start", default=None, callback=_iso_time, help="First date/time (ISO, UTC)."
        ),
        click.option(
            "--end", default=None, callback=_iso_time, help="End date/time (ISO, UTC), exclusive."
        ),
        click.option("--cash", default="100000", show_default=True, help="Starting cash."),
        click.option(
            "--risk",
            type=click.Choice(RISK_CHOICES),
            default=None,
            help="Risk profile; none turns the pre-trade checks off (default: the "
            "PI5_RISK__* settings, shown by `pi5trading info`).",
        ),
        click.option(
            "--market-fill",
            type=click.Choice(["next_open", "this_close"]),
            default="next_open",
            show_default=True,
            help="When a market order sent from on_bar fills.",
        ),
        click.option(
            "--data-policy",
            type=click.Choice(["error", "repair"]),
            default="error",
            show_default=True,
            help="Bad rows: stop with their lines, or drop them (listed, and in the report).",
        ),
        click.option(
            "--debug",
            is_flag=True,
            help="Show the full traceback of a strategy's error (also PI5_LOGGING__LEVEL=DEBUG).",
        ),
    ]
    f = venue_options(instrument_options(f))  # listed after these in --help
    for o in reversed(opts):
        f = o(f)
    return f


def _spec(kw: dict[str, Any], settings: Settings) -> BacktestSpec:
    from pi5trading.backtest.spec import BacktestSpec

    risk: str | None = kw["risk"]
    risk_limits: dict[str, RiskLimitValue] = {}
    if risk is None:  # no --risk: the configured profile with its limit overrides
        risk, risk_limits = settings.risk.profile, dict(settings.risk.limits)
    elif risk == "none":
        risk = None
    # --risk NAME runs that profile as documented, without the PI5_RISK__* overrides.

    venue: dict[str, Any] = {"market_fill": kw["market_fill"], **venue_settings(kw)}
    try:
        cash = Decimal(kw["cash"])
    except InvalidOperation as exc:
        raise click.BadParameter(f"{kw['cash']!r} is not a number", param_hint="--cash") from exc
    start, end = kw["start"], kw["end"]
    if start is not None and end is not None:
        from pi5trading.backtest.spec import parse_time

        if (parse_time(start) or 0) >= (parse_time(end) or 0):
            raise click.UsageError(f"--start {start} is not before --end {end}")
    return BacktestSpec(
        strategy=kw["strategy"],
        params=_params(kw["params"]),
        symbol=kw["symbol"],
        data=kw["data"],
        interval=kw["interval"],
        start=kw["start"],
        end=kw["end"],
        starting_cash=cash,
        venue=venue,
        risk=risk,
        risk_limits=risk_limits,
        data_policy=kw["data_policy"],
        **instrument_settings(kw),
        timestamps=kw["timestamps"],
    )


def _out_dir(out: str | None, data_dir: str, name: str, run_id: str) -> Path:
    """The report folder, checked now (an unwritable path fails before a long run, in one
    line) and created only when the report is written (a failed run leaves nothing). The
    default name ends in the run id: runs started in the same second get folders of their
    own (and each recorded run its own report)."""
    if out:
        folder = Path(out)
    else:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        folder = Path(data_dir) / "reports" / f"{stamp}-{name}-{run_id}"
    return require_writable_folder(folder, "the report", "choose another folder with --out")


def _write(folder: Path, write: Callable[[], object]) -> None:
    """Run ``write``, which writes into ``folder``: a disk error is one line, not a trace."""
    try:
        write()
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report to {folder}: {exc.strerror or exc}"
            " (choose another folder with --out)"
        ) from exc


def _debug(flag: bool, settings: Settings) -> bool:
    return flag or settings.logging.level == "DEBUG"


def _strategy_failed(exc: StrategyError, debug: bool) -> click.ClickException:
    """A strategy's exception: its file, line, callback and bar, without the engine's
    frames (all of them with --debug)."""
    if debug:
        import traceback

        cause = exc.__cause__ or exc
        click.echo("".join(traceback.format_exception(cause)).rstrip(), err=True)
        return click.ClickException(str(exc))
    return click.ClickException(f"{exc}\n(--debug shows the full traceback)")


def _show_data_report(report: DataReport | None, listed: str) -> None:
    """What ``--data-policy repair`` dropped or sorted, and the reader's notes (stderr)."""
    if report is None:
        return
    src = report.source
    done = []
    if report.dropped:
        done.append(f"dropped {len(report.dropped):,} of {report.rows:,} rows")
    if report.reordered:
        done.append("sorted the rows by time")
    if done:
        colon = ":" if report.dropped else ""
        click.echo(f"{src}: --data-policy repair {' and '.join(done)}{colon}", err=True)
        for line, why in report.dropped[:_SHOWN_DROPS]:
            click.echo(f"  line {line}: {why}", err=True)
        more = len(report.dropped) - _SHOWN_DROPS
        if more > 0:
            click.echo(f"  … and {more:,} more ({listed})", err=True)
    for note in report.notes:
        click.echo(f"{src}: note: {note}", err=True)


_SHOWN_DROPS = 5


@click.command("backtest")
@spec_options
@click.option("--out", "-o", default=None, help="Report folder (default: DATA_DIR/reports/...).")
@click.option("--no-report", is_flag=True, help="Print the summary only.")
@click.option(
    "--monte-carlo",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Resamples (0 = none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--no-save", is_flag=True, help="Do not record the run in the database (see `runs`).")
@click.option(
    "--equity-resolution",
    type=click.Choice(EQUITY_RESOLUTIONS),
    default="1h",
    show_default=True,
    help="Rows of equity.csv: every bar, or the last equity of each period (UTC).",
)
@click.option(
    "--cluster",
    "cluster_address",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run the Monte Carlo resamples on a Dask cluster's workers (default: "
    "PI5_CLUSTER__ADDRESS; docs/cluster.md). The backtest itself runs here.",
)
@click.option("--local", is_flag=True, help="Resample here even when a cluster is set.")
def backtest_command(
    out: str | None,
    equity_resolution: str,
    no_report: bool,
    monte_carlo: int,
    cluster_address: str | None,
    local: bool,
    as_json: bool,
    quiet: bool,
    no_save: bool,
    **kw: Any,
) -> None:
    """Run a backtest and write an HTML/JSON report.

    \b
    Examples:
      pi5trading backtest -s sma_crossover -p fast=10 -p slow=30 --data bars.csv
      pi5trading backtest -s my_strategy.py:Breakout --data generated:500000:7 --risk none
    """
    from rich.console import Console
    from rich.table import Table

    from pi5trading.backtest.history import new_run_id
    from pi5trading.backtest.spec import load_data, run_spec, strategy_class

    console = Console(stderr=True)
    settings = cli_settings()
    debug = _debug(kw.pop("debug"), settings)
    spec = _spec(kw, settings)
    run_id = new_run_id()
    folder = (
        None
        if no_report
        else _out_dir(out, settings.data_dir, spec.strategy.replace("/", "_"), run_id)
    )
    if not no_save:
        require_writable_database(
            settings.database.url,
            settings.data_dir,
            "set PI5_DATA_DIR or PI5_DATABASE__URL to a writable place, or run with --no-save",
        )
    # Only resamples go to a cluster: connect (and fail) before the run, not after it.
    address = _cluster_address(cluster_address, local, None, settings)
    cluster = None
    if address is not None and folder is not None and monte_carlo > 0:
        try:
            cluster = _connect(address, settings)
        except Pi5TradingError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        # The strategy and its parameters first: a typo fails before a long file is read.
        strategy = strategy_class(spec)
        frame, data_report = load_data(spec)
        _show_data_report(
            data_report,
            "the report lists them" if folder is not None else "a backtest report lists them",
        )
        t0 = time.perf_counter()
        result = run_spec(
            spec,
            frame,
            progress=not quiet and not as_json,
            data_report=data_report,
            strategy=strategy,
        )
        secs = time.perf_counter() - t0
        perf = result.performance
    except StrategyError as exc:
        if cluster is not None:
            cluster.close()
        raise _strategy_failed(exc, debug) from exc
    except (Pi5TradingError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise click.ClickException(str(exc)) from exc
    bars = result.meta["bars"]
    if as_json:
        from pi5trading.analysis.records import plain_builtins

        click.echo(json.dumps(plain_builtins(perf), indent=2))
    else:
        ts = perf.trade_stats
        table = Table(
            title=f"{spec.strategy} on {spec.instrument} from {spec.data} "
            f"({bars:,} bars in {secs:.2f}s)"
        )
        table.add_column("metric")
        table.add_column("value", justify="right")

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v * 100:.2f}%"

        def num(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f}"

        for k, v in [
            ("final equity", f"{perf.final_equity:,.2f}"),
            ("total return", pct(perf.total_return)),
            ("annualised return", pct(perf.annualised_return)),
            ("max drawdown", pct(perf.max_drawdown)),
            ("Sharpe", num(perf.sharpe)),
            ("Sortino", num(perf.sortino)),
            ("trades", str(ts.trades)),
            ("win rate", pct(ts.win_rate)),
            ("profit factor", num(ts.profit_factor)),
            ("commission", f"{ts.total_commission:,.2f}"),
            ("orders denied by risk", str(len(result.denials))),
        ]:
            table.add_row(k, v)
        Console().print(table)
        if result.risk_warning is None and result.denials:
            first = result.denials[0]
            code, msg = first.code, first.message
            from rich.markup import escape

            console.print(escape(f"first risk denial: [{code}] {msg}"))
    for note in result.meta.get("notes", []):
        console.print(f"note: {note}", markup=False, highlight=False)
    if result.risk_warning is not None:
        from rich.markup import escape

        # On stderr, so it shows with --json too without breaking the JSON on stdout.
        console.print(f"[yellow]warning:[/] {escape(result.risk_warning)}")
    report: Path | None = None
    if folder is not None:
        try:
            _write(
                folder,
                lambda: result.write_report(
                    folder,
                    monte_carlo=monte_carlo,
                    equity_resolution=equity_resolution,
                    chunk_map=cluster.map_chunks if cluster is not None else None,
                ),
            )
        except Pi5TradingError as exc:  # the cluster lost the work
            raise click.ClickException(str(exc)) from exc
        finally:
            if cluster is not None:
                cluster.close()
        report = folder / "report.html"
        click.echo(f"report: {report}", err=as_json)
    if not no_save:
        from pi5trading.backtest.history import save_run

        try:
            save_run(settings, spec, result, report, run_id=run_id)
        except Pi5TradingError as exc:
            # The run itself succeeded; losing its history entry is worth a warning only.
            click.echo(f"warning: the run was not recorded: {exc}", err=True)
        else:
            click.echo(f"saved as run {run_id} (pi5trading runs)", err=as_json)


RUNS_COLUMNS = (
    "run",
    "when (UTC)",
    "strategy",
    "params",
    "return",
    "max DD",
    "Sharpe",
    "trades",
    "report",
)
# Which columns a narrow terminal keeps, most important first.
RUNS_PRIORITY = (
    "run",
    "strategy",
    "return",
    "max DD",
    "params",
    "Sharpe",
    "trades",
    "when (UTC)",
    "report",
)
# Columns that wrap instead of being left out, and the width they wrap at.
FOLDED = {"strategy": 24, "params": 20}


@click.command("runs")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def runs_command(limit: int, as_json: bool) -> None:
    """List recorded backtests, newest first, with their results and reports."""
    from rich.console import Console
    from rich.table import Table

    from pi5trading.backtest.history import list_runs

    try:
        rows = list_runs(cli_settings(), limit)
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        from pi5trading.analysis.records import plain_builtins

        doc = plain_builtins([{"run": r, "result": res} for r, res in rows])
        click.echo(msgspec.json.encode(doc).decode())
        return
    cells: dict[str, list[str]] = {c: [] for c in RUNS_COLUMNS}
    for r, res in rows:
        params = r.params.get("params", {}) if isinstance(r.params, dict) else {}
        when = dt.datetime.fromtimestamp(r.created_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
        for c, v in (
            ("run", r.run_id),
            ("when (UTC)", when),
            ("strategy", r.name),
            ("params", " ".join(f"{k}={v}" for k, v in params.items())),
            ("return", "" if res is None else f"{res.total_return * 100:.2f}%"),
            ("max DD", "" if res is None else f"{res.max_drawdown * 100:.2f}%"),
            ("Sharpe", "" if res is None or res.sharpe is None else f"{res.sharpe:.2f}"),
            ("trades", "" if res is None else str(res.trades)),
            ("report", "" if res is None or res.report_path is None else res.report_path),
        ):
            cells[c].append(v)
    console = Console()
    widths = {c: max([len(c), *(len(v) for v in vs)]) for c, vs in cells.items()}
    for c in FOLDED:  # long names and parameter lists wrap onto a second line
        widths[c] = min(widths[c], FOLDED[c])
    shown = set(columns_that_fit(widths, RUNS_PRIORITY, console.width))
    table = Table(title=f"{len(rows)} most recent backtests")
    columns = [c for c in RUNS_COLUMNS if c in shown]
    for c in columns:
        folded = c in FOLDED
        table.add_column(
            c,
            overflow="fold" if folded else "ellipsis",
            max_width=FOLDED[c] if folded else None,
            no_wrap=not folded,
            justify="right" if c in ("return", "max DD", "Sharpe", "trades") else "left",
        )
    for i in range(len(rows)):
        table.add_row(*(cells[c][i] for c in columns))
    console.print(table)
    hidden = [c for c in RUNS_COLUMNS if c not in shown]
    if hidden:
        console.print(
            f"hidden: {', '.join(hidden)} (widen the terminal, or --json)",
            highlight=False,
        )


@click.command("optimize")
@spec_options
@click.option(
    "--grid",
    "-g",
    "grid_opts",
    multiple=True,
    metavar="NAME=VALUES",
    help="Values to try: name=5,10,20 or name=start:stop:step (repeatable).",
)
@click.option(
    "--random",
    "n_random",
    type=click.IntRange(min=0),
    default=0,
    help="Sample this many random sets from the grid instead of trying all.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random search.")
@click.option(
    "--metric",
    default="sharpe",
    show_default=True,
    type=click.Choice(METRICS),
    help="What to rank by (max_drawdown: lower is better).",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Processes (default: all cores).",
)
@click.option(
    "--walk-forward",
    "wf",
    default=None,
    metavar="IS:OOS[:STEP]",
    help="Walk-forward analysis with windows in days, e.g. 30:10.",
)
@click.option("--anchored", is_flag=True, help="Anchored walk-forward (growing in-sample).")
@click.option(
    "--cluster",
    "cluster_address",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Run on a Dask cluster's workers (default: PI5_CLUSTER__ADDRESS; docs/cluster.md).",
)
@click.option(
    "--local", is_flag=True, help="Run on this machine's cores even when a cluster is set."
)
@click.option("--out", "-o", default=None, help="Results folder.")
def optimize_command(
    grid_opts: tuple[str, ...],
    n_random: int,
    seed: int,
    metric: str,
    workers: int | None,
    wf: str | None,
    anchored: bool,
    cluster_address: str | None,
    local: bool,
    out: str | None,
    **kw: Any,
) -> None:
    """Search strategy parameters on all cores or a Dask cluster; optionally walk-forward.

    \b
    Examples:
      pi5trading optimize -s sma_crossover -g fast=5:20:5 -g slow=30,50,100 --data bars.csv
      pi5trading optimize -s mine.py -g period=5:50:1 --cluster tcp://10.0.0.2:8786
    """
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from pi5trading.backtest import optimise as opt
    from pi5trading.backtest.spec import load_data, strategy_class

    settings = cli_settings()
    debug = _debug(kw.pop("debug"), settings)
    spec = _spec(kw, settings)
    space = _space(grid_opts)
    if not space:
        raise click.UsageError("give at least one --grid name=values")
    parts = _walk_forward(wf) if wf else []
    candidates = opt.grid(space)
    if n_random:
        candidates = opt.random_sample(space, n_random, seed)
    from pi5trading.backtest.history import new_run_id

    folder = _out_dir(out, settings.data_dir, "optimize", new_run_id())
    address = _cluster_address(cluster_address, local, workers, settings)
    cluster: Cluster | None = None
    try:
        strategy_class(spec)
        opt.check_space(spec, space)
        if address is not None:
            # Before the data is read: a wrong address fails in seconds, not after a load.
            cluster = _connect(address, settings)
        frame, data_report = load_data(spec)
        _show_data_report(data_report, "a backtest report lists them")
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("optimising", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if wf:
                wres = opt.walk_forward(
                    spec,
                    candidates,
                    in_sample_days=parts[0],
                    out_of_sample_days=parts[1],
                    step_days=parts[2] if len(parts) == 3 else None,
                    anchored=anchored,
                    metric=metric,
                    workers=workers,
                    progress=tick,
                    frame=frame,
                    cluster=cluster,
                )
            else:
                res = opt.search(
                    spec,
                    candidates,
                    metric=metric,
                    workers=workers,
                    frame=frame,
                    progress=tick,
                    cluster=cluster,
                )
    except StrategyError as exc:
        raise _strategy_failed(exc, debug) from exc
    except (Pi5TradingError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if cluster is not None:
            cluster.close()
    console = Console()
    _write(folder, lambda: folder.mkdir(parents=True, exist_ok=True))
    if wf:
        table = Table(title=f"walk-forward ({metric})")
        headers = (
            "period",
            "in-sample",
            "out-of-sample",
            "best params",
            f"IS {metric}",
            f"OOS {metric}",
            "OOS return",
        )
        for c in headers:
            table.add_column(c)

        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.3f}"

        def day(ns: int) -> str:
            return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d")

        for i, period in enumerate(wres.periods, 1):
            oos_ret = period.out_of_sample.get("total_return")
            table.add_row(
                str(i),
                f"{day(period.is_start)}..{day(period.is_end)}",
                f"{day(period.is_end)}..{day(period.oos_end)}",
                " ".join(f"{k}={v}" for k, v in period.best_params.items()),
                f(period.in_sample.get(metric)),
                f(period.out_of_sample.get(metric)),
                "n/a" if oos_ret is None else f"{oos_ret * 100:.2f}%",
            )
        console.print(table)
        console.print(
            f"out-of-sample return {wres.oos_total_return * 100:.2f}% "
            f"({wres.oos_positive_periods}/{len(wres.periods)} periods positive)"
        )
        _write(
            folder, lambda: (folder / "walk_forward.json").write_bytes(msgspec.json.encode(wres))
        )
    else:
        failed = res.failed
        runs = f"{len(res.rows)} runs" + (f", {len(failed)} failed" if failed else "")
        table = Table(title=f"top results by {metric} ({runs})")
        names = list(space)
        for c in [*names, metric, "total_return", "max_drawdown", "trades"]:
            table.add_column(c, justify="right")
        for row in res.rows[:10]:
            m = row.metrics
            table.add_row(
                *[str(row.params[n]) for n in names],
                *[
                    ("n/a" if m.get(c) is None else f"{m[c]:.4g}")
                    for c in (metric, "total_return", "max_drawdown", "trades")
                ],
            )
        console.print(table)
        console.print(f"best: {json.dumps(res.best.params, default=str)}")
        if failed:
            shown = " ".join(f"{k}={v}" for k, v in failed[0].params.items())
            click.echo(
                f"{len(failed)} of {len(res.rows)} runs failed (listed in results.csv); "
                f"the first ({shown}): {failed[0].error}",
                err=True,
            )
        _write(folder, lambda: _write_search(folder, res, names))
    click.echo(f"results: {folder}")


def _cluster_address(
    given: str | None, local: bool, workers: int | None, settings: Settings
) -> str | None:
    """The scheduler to run on (``--cluster``, else ``PI5_CLUSTER__ADDRESS``), or ``None``
    for this machine's cores."""
    if local:
        if given is not None:
            raise click.UsageError("--local and --cluster: choose one")
        return None
    address = given if given is not None else (settings.cluster.address or None)
    if address is not None and workers is not None:
        where = "--cluster" if given is not None else "PI5_CLUSTER__ADDRESS"
        raise click.UsageError(
            f"--workers counts this machine's processes, but {where} sends the runs to a "
            "cluster: drop --workers, or add --local to run here"
        )
    return address


def _connect(address: str, settings: Settings) -> Cluster:
    from pi5trading.backtest.cluster import Cluster

    cluster = Cluster.connect(settings.cluster, address)
    click.echo(
        f"cluster {cluster.address}: {len(cluster.client.nthreads())} workers, "
        f"{cluster.threads} threads",
        err=True,
    )
    return cluster


def _write_search(folder: Path, res: Any, names: list[str]) -> None:
    """results.json, results.csv and, for two parameters, heatmap.html."""
    from pi5trading.backtest import optimise as opt

    (folder / "results.json").write_bytes(msgspec.json.encode(res))
    with (folder / "results.csv").open("w") as fh:
        cols = sorted({k for r in res.rows for k in r.metrics})
        fh.write(",".join([*names, *cols, "error"]) + "\n")
        for r in res.rows:
            fh.write(
                ",".join(
                    [
                        *(str(r.params[n]) for n in names),
                        *(str(r.metrics.get(c, "")) for c in cols),
                        json.dumps(r.error or ""),
                    ]
                )
                + "\n"
            )
    if len(names) == 2:
        svg = opt.heatmap_svg(res, names[0], names[1])
        (folder / "heatmap.html").write_text(
            f"<!doctype html><meta charset=utf-8><title>heatmap</title>{svg}"
        )


def _walk_forward(text: str) -> list[float]:
    """``IS:OOS[:STEP]`` in days, each > 0."""
    try:
        parts = [float(x) for x in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or not all(0 < x < float("inf") for x in parts):
        raise click.BadParameter(
            f"{text!r}: use IS:OOS or IS:OOS:STEP, days > 0 (e.g. 30:10)",
            param_hint="--walk-forward",
        )
    return parts
