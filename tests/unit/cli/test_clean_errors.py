"""Mistakes a user makes, through the CLI: one clear line that says what and where, a
non-zero exit, and nothing written (no report folder, no database, no recorded run)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pi5trading.cli import main
from pi5trading.cli.backtest import RISK_CHOICES
from pi5trading.config import RISK_PROFILES
from pi5trading.exceptions import ConfigurationError
from pi5trading.risk import RiskEngine, build_risk_engine, risk_profiles

NO_COST = ["--slippage", "none", "--commission-per-share", "0", "--commission-minimum", "0"]
HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "2024-01-02T09:{m:02d}:00Z,10,11,9,10.5,100\n"


def invoke(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> Result:
    """Run the CLI with its own data dir (``tmp_path/data``, not created beforehand)."""
    return CliRunner(env={"PI5_DATA_DIR": str(tmp_path / "data"), **(env or {})}).invoke(main, args)


def failed_cleanly(r: Result, message: str, *, code: int = 1) -> None:
    """Exit ``code``, ``message`` on its own line, no traceback."""
    assert r.exit_code == code, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    assert f"Error: {message}\n" in r.output, r.output


def nothing_written(tmp_path: Path) -> None:
    """No data dir (database, reports) and no report folder were created."""
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "out").exists()


# -- bar files ----------------------------------------------------------------------------

# (name, content, the reader's one line after "<path>: ")
BAD_FILES = [
    ("malformed.csv", HEADER + ROW.format(m=30) + "2024-01-02T09:31:00Z,10,11\n",
     "line 3: row: expected 6 fields, found 3 (value '2024-01-02T09:31:00Z,10,11')"),
    ("text_price.csv", HEADER + ROW.format(m=30) + "2024-01-02T09:31:00Z,10,11,9,abc,100\n",
     "line 3: close: not a number (value 'abc')"),
    ("binary.csv", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\xff\xfe" * 20,
     "line 1: row: binary data, not CSV text (is it a Parquet file?)"),
    ("header_only.csv", HEADER, "no bars: the file has only a header line"),
    ("empty.csv", "", "empty file (no header line)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_bar_file_is_one_line_and_writes_nothing(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    r = invoke(tmp_path, ["backtest", "--data", str(path), "-q", "-o", str(tmp_path / "out")])
    failed_cleanly(r, f"{path}: {message}")
    assert "\\x" not in r.output  # no raw bytes on the terminal
    nothing_written(tmp_path)
    r = invoke(tmp_path, ["data", "import", str(path), "-i", "AAA"])
    failed_cleanly(r, f"{path}: {message}; nothing imported")
    nothing_written(tmp_path)  # the database is not even created


# -- --data-policy repair -----------------------------------------------------------------


def test_repair_prints_what_it_dropped_and_the_report_keeps_it(tmp_path: Path) -> None:
    rows = [ROW.format(m=m) for m in range(60)]
    bad = {5: "x", 9: "y", 14: "z", 20: "w", 33: "v", 41: "u"}  # file lines 7, 11, ... 43
    for i, text in bad.items():
        rows[i] = rows[i].replace(",10.5,", f",{text},")
    rows[50] = "2024-01-02T09:50:00Z,10\n"  # line 52: too few fields
    rows[55], rows[56] = rows[56], rows[55]  # lines 57, 58: out of order
    csv = tmp_path / "bars.csv"
    csv.write_text(HEADER + "".join(rows))
    args = ["backtest", "--data", str(csv), "-q", "--risk", "none", *NO_COST]
    # Without repair the same file is refused, naming every bad line.
    refused = invoke(tmp_path, [*args, "--no-report"])
    assert refused.exit_code == 1
    assert "line 7: close: not a number (value 'x'); 7 more bad row(s)" in refused.output
    r = invoke(tmp_path, [*args, "--data-policy", "repair", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[:7] == [
        f"{csv}: --data-policy repair dropped 7 of 60 rows and sorted the rows by time:",
        "  line 7: close: not a number (value 'x')",
        "  line 11: close: not a number (value 'y')",
        "  line 16: close: not a number (value 'z')",
        "  line 22: close: not a number (value 'w')",
        "  line 35: close: not a number (value 'v')",
        "  … and 2 more (the report lists them)",
    ]
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    data = doc["data"]
    assert (data["source"], data["rows"], data["kept"]) == (str(csv), 60, 53)
    assert data["reordered"] is True
    assert data["dropped_count"] == 7
    assert [d["line"] for d in data["dropped"]] == [7, 11, 16, 22, 35, 43, 52]
    assert data["dropped"][-1]["problem"].startswith("row: expected 6 fields, found 2")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Data</h2>" in html
    assert "dropped: 7" in html
    assert "sorted by time: yes" in html
    assert '<td>52</td><td class="l">row: expected 6 fields, found 2' in html


# -- a strategy's exception ---------------------------------------------------------------

STRATEGY = """\
from pi5trading.strategies import Strategy, StrategyConfig


def check(value):
    raise ValueError(f"bad value {value}")


class Boom(Strategy):
    def on_bar(self, bar):
        self.seen = getattr(self, "seen", 0) + 1
        if self.seen == 3:
            return 1 / 0


class Checks(Strategy):
    class Config(StrategyConfig):
        value: int = 42

    def on_bar(self, bar):
        check(self.config.value)


class Orders(Strategy):
    def on_bar(self, bar):
        self.buy("lots")


class Starts(Strategy):
    def on_start(self):
        raise RuntimeError("no indicators")
"""


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        ("Boom", "line 12, in on_bar (strategy 'boom', on the bar closing 2024-01-02 14:33:00 "
         "UTC): ZeroDivisionError: division by zero\n    return 1 / 0"),
        ("Checks", "line 5, in check called from on_bar (strategy 'checks', on the bar closing "
         "2024-01-02 14:31:00"
         " UTC): ValueError: bad value 42\n    raise ValueError(f\"bad value {value}\")"),
        ("Orders", "line 25, in on_bar (strategy 'orders', on the bar closing 2024-01-02 "
         "14:31:00 UTC): InvalidInputError: invalid quantity: not a decimal number: \"lots\"\n"
         "    self.buy(\"lots\")"),
        ("Starts", "line 30, in on_start (strategy 'starts', before the first bar): "
         "RuntimeError: no indicators\n    raise RuntimeError(\"no indicators\")"),
    ],
)  # fmt: skip
def test_a_strategy_error_names_its_file_line_callback_and_bar(
    tmp_path: Path, cls: str, where: str
) -> None:
    src = tmp_path / "mine.py"
    src.write_text(STRATEGY)
    args = ["backtest", "-s", f"{src}:{cls}", "--data", "generated:500:3", "-q", "--risk", "none"]
    r = invoke(tmp_path, [*args, "-o", str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    assert f"Error: {src}, {where}\n(--debug shows the full traceback)\n" in r.output
    assert "Traceback" not in r.output
    assert "pi5trading/engine" not in r.output  # the engine's frames are hidden
    nothing_written(tmp_path)
    # --debug (or PI5_LOGGING__LEVEL=DEBUG) adds the whole traceback, engine included.
    for extra, env in (["--debug"], {}), ([], {"PI5_LOGGING__LEVEL": "debug"}):
        debug = invoke(tmp_path, [*args, "--no-report", "--no-save", *extra], env)
        assert debug.exit_code == 1, debug.output
        assert "Traceback (most recent call last)" in debug.output
        assert "pi5trading/engine/backtest.py" in debug.output
        assert f"Error: {src}, {where}\n" in debug.output


def test_a_failing_strategy_fails_every_optimizer_run_and_the_sweep(tmp_path: Path) -> None:
    src = tmp_path / "mine.py"
    src.write_text(STRATEGY)
    r = invoke(
        tmp_path,
        [
            *["optimize", "-s", f"{src}:Checks", "-g", "value=1,2", "--data", "generated:500:3"],
            *["-j", "2", "-o", str(tmp_path / "out")],
        ],
    )
    failed_cleanly(
        r,
        f"all 2 runs failed; the first (value=1): StrategyError: {src}, line 5, in check "
        "called from on_bar (strategy 'checks', on the bar closing 2024-01-02 14:31:00 UTC): "
        'ValueError: bad value 1\n    raise ValueError(f"bad value {value}")',
    )
    nothing_written(tmp_path)


# -- settings -----------------------------------------------------------------------------

BAD_SETTINGS = [
    ("PI5_API__PORT", "abc", "expected a whole number from 1 to 65535"),
    ("PI5_API__PORT", "70000", "expected a whole number from 1 to 65535"),
    ("PI5_LOGGING__LEVEL", "LOUD", "expected one of CRITICAL, DEBUG, ERROR, INFO, WARNING"),
    ("PI5_DATABASE__POOL_MAX_SIZE", "0", "expected a whole number from 1 to 2147483647"),
    ("PI5_DATABASE__BATCH_SIZE", "-1", "expected a whole number from 1 to 2147483647"),
]
COMMANDS = [
    ["backtest", "--data", "generated:500", "-q", "-o"],
    ["optimize", "-g", "fast=5,10", "--data", "generated:500", "-o"],
    ["data", "import", "-i", "AAA"],
    ["migrate"],
    ["runs"],
    ["info"],
    ["serve"],
]


@pytest.mark.parametrize(("var", "value", "allowed"), BAD_SETTINGS)
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_bad_setting_stops_every_command_before_it_does_anything(
    tmp_path: Path, command: list[str], var: str, value: str, allowed: str
) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(HEADER + ROW.format(m=30))
    args = [*command]
    if args[-1] == "-o":
        args.append(str(tmp_path / "out"))
    if args[0] == "data":
        args.append(str(csv))
    r = invoke(tmp_path, args, {var: value})
    failed_cleanly(r, f"{var}={value!r}: {allowed}")
    nothing_written(tmp_path)


# -- where the commands write -------------------------------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only, even for root (the CI runs as root): chmod, else the immutable
    attribute."""
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    if os.access(path, os.W_OK):
        subprocess.run(["chattr", "+i", str(path)], check=True)
        immutable = True
    try:
        assert not os.access(path, os.W_OK)
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_an_unwritable_database_is_refused_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder_db = tmp_path / "folder.db"
    folder_db.mkdir()
    csv = tmp_path / "bars.csv"
    csv.write_text(HEADER + ROW.format(m=30))
    fix = {
        "backtest": "set PI5_DATA_DIR or PI5_DATABASE__URL to a writable place, "
        "or run with --no-save",
        "data": "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
        "migrate": "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
    }
    commands = {
        "backtest": ["backtest", "--data", "generated:500", "-q", "-o", str(tmp_path / "out")],
        "data": ["data", "import", str(csv), "-i", "AAA"],
        "migrate": ["migrate"],
    }
    for db, why in (
        (blocker / "x.db", f"{blocker} is a file, not a folder"),
        (folder_db, "it is a folder, not a file"),
    ):
        for verb, args in commands.items():
            r = invoke(tmp_path, args, {"PI5_DATABASE__URL": f"sqlite://{db}"})
            failed_cleanly(r, f"cannot write the database {db}: {why} ({fix[verb]})")
            nothing_written(tmp_path)
    # A database in a read-only folder (SQLite writes its journal beside it).
    ro = tmp_path / "ro"
    ro.mkdir()
    env = {"PI5_DATABASE__URL": f"sqlite://{ro / 'x.db'}"}
    with read_only(ro):
        for verb, args in commands.items():
            failed_cleanly(
                invoke(tmp_path, args, env),
                f"cannot write the database {ro / 'x.db'}: {ro} is read-only ({fix[verb]})",
            )
            nothing_written(tmp_path)
    # --no-save needs no database at all.
    r = invoke(tmp_path, [*commands["backtest"], "--no-save", "--no-report"], env)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("verb", [["backtest"], ["optimize", "-g", "fast=5,10"]])
def test_a_read_only_report_folder_is_refused_before_the_run(
    tmp_path: Path, verb: list[str]
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    with read_only(out):
        r = invoke(tmp_path, [*verb, "--data", "generated:500", "-o", str(out / "run")])
        failed_cleanly(
            r,
            f"cannot write the report to {out / 'run'}: {out} is read-only "
            "(choose another folder with --out)",
        )
    assert list(out.iterdir()) == []
    assert not (tmp_path / "data").exists()


def test_a_failed_run_leaves_no_empty_report_folder(tmp_path: Path) -> None:
    r = invoke(tmp_path, ["backtest", "-p", "fast=50", "-p", "slow=10"])
    failed_cleanly(r, "invalid strategy parameters: need 1 <= fast < slow, got fast=50, slow=10")
    assert not (tmp_path / "data").exists()  # not even DATA_DIR/reports/<time>-<strategy>


# -- optimize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("fast=abc", "grid fast=abc: invalid strategy parameter fast='abc': expected int, got str"),
        ("fsat=5,10", "grid fsat=5: unknown parameter 'fsat' (did you mean 'fast'? "
         "sma_crossover's parameters: "
         "fast=20, slow=50, kind='sma', quantity=100)"),
        ("kind=sma,hull", "grid kind=hull: invalid strategy parameter kind='hull': invalid enum "
         "value 'hull'"),
    ],
)  # fmt: skip
def test_optimize_checks_the_grid_against_the_strategy_first(
    tmp_path: Path, grid: str, message: str
) -> None:
    r = invoke(
        tmp_path, ["optimize", "-g", grid, "--data", "generated:500", "-o", str(tmp_path / "out")]
    )
    failed_cleanly(r, message)
    nothing_written(tmp_path)


def test_a_sweep_where_every_run_fails_exits_non_zero(tmp_path: Path) -> None:
    args = ["optimize", "--data", "generated:2000:3", "-j", "1", "--risk", "none", *NO_COST]
    # slow defaults to 50: fast=60 and fast=70 both break fast < slow.
    r = invoke(tmp_path, [*args, "-g", "fast=60,70", "-o", str(tmp_path / "out")])
    failed_cleanly(
        r,
        "all 2 runs failed; the first (fast=60): ConfigurationError: invalid strategy "
        "parameters: need 1 <= fast < slow, got fast=60, slow=50",
    )
    nothing_written(tmp_path)
    # Some failures: the sweep succeeds, counts them, and "best" is a run that worked.
    r = invoke(tmp_path, [*args, "-g", "fast=60,10", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "(2 runs, 1 failed)" in r.stdout
    assert 'best: {"fast": 10}' in r.stdout
    assert "1 of 2 runs failed (listed in results.csv); the first (fast=60)" in r.stderr
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert rows[1].startswith("10,")
    assert rows[1].endswith(',""')
    assert rows[2].startswith("60,")
    assert "fast < slow" in rows[2]


# -- risk profiles ------------------------------------------------------------------------


def test_the_risk_profiles_are_one_list() -> None:
    assert (*RISK_PROFILES, "none") == RISK_CHOICES
    assert tuple(risk_profiles()) == RISK_PROFILES  # the core's list is the same one
    with pytest.raises(ValueError, match="use conservative, default, aggressive, unlimited"):
        RiskEngine("yolo")
    help_text = CliRunner().invoke(main, ["backtest", "--help"]).output
    r = CliRunner().invoke(main, ["backtest", "--risk", "yolo"])
    assert r.exit_code == 2
    listed = ", ".join(f"'{p}'" for p in RISK_CHOICES)
    assert f"'yolo' is not one of {listed}." in r.output
    assert f"--risk [{'|'.join(RISK_CHOICES)}]" in help_text
    # The Python API's error lists the same profiles.
    with pytest.raises(ConfigurationError) as err:
        build_risk_engine("yolo")
    assert str(err.value) == (
        f"risk profile: unknown risk profile 'yolo' (one of {', '.join(RISK_PROFILES)})"
    )


# -- everything else a new user runs into -------------------------------------------------

MISTAKES = [
    (["backtest", "--start", "2024-13-01"], 2,
     "Invalid value for '--start': '2024-13-01' is not an ISO date or date-time (e.g. "
     "2024-01-31 or 2024-01-31T09:30)"),
    (["backtest", "--start", "2024-02-01", "--end", "2024-01-01"], 2,
     "--start 2024-02-01 is not before --end 2024-01-01"),
    (["backtest", "--data", "generated:500", "--start", "2030-01-01"], 1,
     "no bars from --start 2030-01-01 to --end (last): generated:500 has bars from "
     "2024-01-02 14:31 to 2024-01-03 16:20 UTC"),
    (["backtest", "--data", "generated:0"], 1,
     "data 'generated:0': expected generated:<bars>[:<seed>] with <bars> >= 1"),
    (["backtest", "--data", "{tmp}"], 1, "data {tmp}: is a folder, not a bar file"),
    (["backtest", "--data", "{tmp}/none.csv"], 1, "data file not found: {tmp}/none.csv"),
    (["backtest", "--data", "db:"], 1, "data 'db:': expected db:<instrument id>"),
    (["backtest", "--data", "db:AAA"], 1,
     "no bars for 'AAA': there is no database at {tmp}/data/pi5trading.db yet (import bars "
     "with `pi5trading data import FILE -i INSTRUMENT`)"),
    (["backtest", "-s", "sma_crosover"], 1,
     "unknown strategy 'sma_crosover': did you mean 'sma_crossover'? "
     "not a built-in (bollinger_reversion, "
     "donchian_breakout, momentum, opening_range_breakout, rsi_mean_reversion, sma_crossover, "
     "vwap_bounce), a .py file or a module:Class path"),
    (["backtest", "-s", "{tmp}/none.py"], 1, "strategy file not found: {tmp}/none.py"),
    (["backtest", "-p", "fsat=3"], 1,
     "unknown parameter 'fsat' (did you mean 'fast'? "
     "sma_crossover's parameters: fast=20, slow=50, kind='sma', "
     "quantity=100)"),
    (["backtest", "-p", "fast=5", "-p", "fast=6"], 2,
     "Invalid value for --param: 'fast' is given twice"),
    (["backtest", "-p", "quantity=1e30"], 1,
     "invalid strategy parameter quantity=1E+30: out of range, allowed: "
     "0 < quantity <= 1000000000"),
    (["backtest", "-s", "vwap_bounce", "-p", "stop_pct=1e308"], 1,
     "invalid strategy parameter stop_pct=1e+308: out of range, allowed: 0 < stop_pct <= 100"),
    (["backtest", "--monte-carlo", "-1"], 2,
     "Invalid value for '--monte-carlo': -1 is not in the range x>=0."),
    (["backtest", "--dat", "x.csv"], 2,
     "No such option '--dat'. (Did you mean one of: '--data', '--lot', '--out'?)"),
    (["optimize", "-g", "fast=5,10", "-g", "fast=20"], 2,
     "Invalid value for --grid: 'fast' is given twice: list all its values in one --grid"),
    (["optimize", "-g", "fast=5:abc:1"], 2,
     "Invalid value for --grid: 'fast=5:abc:1': a range is start:stop:step, three numbers "
     "with step > 0"),
    (["optimize", "-g", "fast=20:5:1"], 2,
     "Invalid value for --grid: 'fast=20:5:1': the range starts above its stop"),
    (["optimize", "-g", "fast="], 2, "Invalid value for --grid: 'fast=': no values"),
    (["optimize", "-g", "fast=5", "-j", "0"], 2,
     "Invalid value for '--workers' / '-j': 0 is not in the range x>=1."),
    (["optimize", "-g", "fast=5", "--walk-forward", "abc"], 2,
     "Invalid value for --walk-forward: 'abc': use IS:OOS or IS:OOS:STEP, days > 0 (e.g. "
     "30:10)"),
    (["runs", "--limit", "-1"], 2,
     "Invalid value for '--limit' / '-n': -1 is not in the range x>=1."),
    (["serve", "--port", "99999"], 2,
     "Invalid value for '--port': 99999 is not in the range 1<=x<=65535."),
    (["data", "import", "{tmp}/bars.csv", "-i", "AAA", "--interval", "7x"], 2,
     "Invalid value for --interval: interval '7x': invalid interval: \"7x\" must be a "
     "positive count and a unit s/m/h/d/w, e.g. 1m"),
    (["data", "import", "{tmp}", "-i", "AAA"], 2,
     "Invalid value for 'FILES...': File '{tmp}' is a directory."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES]
)
def test_a_new_users_mistakes_are_one_line(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "bars.csv").write_text(HEADER + ROW.format(m=30))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = invoke(
        tmp_path,
        [*args, "-o", str(tmp_path / "out")] if args[0] in ("backtest", "optimize") else args,
    )
    failed_cleanly(r, message.replace("{tmp}", str(tmp_path)), code=code)
    nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["-s", "sma_crosover"], "did you mean 'sma_crossover'?"),
        (["-s", "sma_crossover", "-p", "fats=3"], "did you mean 'fast'?"),
    ],
)
def test_a_typo_gets_the_likely_name(tmp_path: Path, args: list[str], hint: str) -> None:
    runner = CliRunner(env={"PI5_DATA_DIR": str(tmp_path)})
    out = runner.invoke(main, ["backtest", *args, "--data", "generated:500", "--no-save"])
    assert out.exit_code != 0
    assert hint in out.stderr
    assert "Traceback" not in out.output


def test_serve_refuses_a_database_it_cannot_write_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    out = CliRunner(env={"PI5_DATA_DIR": str(blocker)}).invoke(main, ["serve"])
    assert out.exit_code == 1
    assert f"{blocker} is a file, not a folder (choose another folder with PI5_DATA_DIR" in (
        out.stderr
    )
    assert "Traceback" not in out.output


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"PI5_FEED__CALENDAR": "XMARS"}, "PI5_FEED__CALENDAR='XMARS': invalid calendar"),
        ({"PI5_FEED__DELAY_S": "900"}, "PI5_FEED__DELAY_S=900: a vendor's delay; the simulated"),
        (
            {"PI5_FEED__KIND": "replay", "PI5_FEED__REPLAY_DIR": "/nonexistent"},
            "PI5_FEED__REPLAY_DIR=/nonexistent",
        ),
        (
            {"PI5_FEED__KIND": "replay", "PI5_FEED__REPLAY_FROM": "yesterday"},
            "PI5_FEED__REPLAY_FROM='yesterday'",
        ),
        (
            {"PI5_FEED__KIND": "yahoo", "PI5_FEED__RECONNECT_INITIAL_S": "9",
             "PI5_FEED__RECONNECT_MAX_S": "1"},
            "PI5_FEED__RECONNECT_INITIAL_S=9.0 is above PI5_FEED__RECONNECT_MAX_S=1.0",
        ),
        ({"PI5_FEED__KIND": "alphavantage"}, "Alpha Vantage has history only"),
    ],
)  # fmt: skip
def test_serve_refuses_feed_settings_the_node_cannot_start_on_in_one_line(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    """Said before the server starts: they were a traceback from its start-up (logged as
    JSON), and the server gave up."""
    out = invoke(tmp_path, ["serve"], env)
    assert out.exit_code == 1
    assert said in out.stderr
    assert "Traceback" not in out.output
