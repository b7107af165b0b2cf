"""`pi5trading data download` end to end: the CLI, a vendor stand-in and the embedded SQLite."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pi5trading.cli import main
from tests.standins.alpaca_data import KEY_ID, SECRET, AlpacaDataStandin
from tests.standins.alphavantage import KEY, AlphaVantageStandin
from tests.standins.server import serve
from tests.standins.tape import bars_between, cents, utc
from tests.standins.yahoo import YahooStandin, is_null_row

NS = 10**9


@pytest.fixture(scope="module")
def yahoo() -> Iterator[tuple[YahooStandin, str]]:
    stand = YahooStandin()
    with serve(stand.app) as base:
        yield stand, base


def run(tmp_path: Path, *args: str, **env: str) -> Result:
    environment = {"PI5_DATA_DIR": str(tmp_path / "data"), **env}
    return CliRunner(env=environment).invoke(main, ["data", "download", *args])


def stored(tmp_path: Path, instrument: str, interval: str = "1m") -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "data" / "pi5trading.db") as db:
        rows = db.execute(
            "SELECT ts_ns, open, high, low, close, volume FROM bars "
            "WHERE instrument_id = ? AND interval = ? ORDER BY ts_ns",
            (instrument, interval),
        ).fetchall()
    return [(r[0] // NS, *(Decimal(str(v)) for v in r[1:])) for r in rows]


def tape(
    symbol: str, start: int, end: int, seconds: int = 60, nulls: bool = True
) -> list[tuple[object, ...]]:
    return [
        (b.ts, cents(b.open), cents(b.high), cents(b.low), cents(b.close), Decimal(b.volume))
        for b in bars_between(symbol, start, end, seconds)
        if not (nulls and is_null_row(b.ts))
    ]


def test_yahoo_download_stores_exact_bars_once(
    tmp_path: Path, yahoo: tuple[YahooStandin, str]
) -> None:
    stand, base = yahoo
    args = ["-i", "AAPL.XNAS", "--from", "2024-01-02", "--to", "2024-01-10", "--interval", "1m"]
    res = run(tmp_path, *args, PI5_YAHOO__BASE_URL=base)
    assert res.exit_code == 0, res.output
    expected = tape("AAPL", utc("2024-01-02T00:00"), utc("2024-01-11T00:00"))
    assert stored(tmp_path, "AAPL.XNAS") == expected
    assert f"downloaded {len(expected)} new bars (0 already stored) for AAPL.XNAS" in res.output
    assert "2024-01-02 14:30:00 UTC .. 2024-01-10 20:59:00 UTC" in res.output
    # Again: resumes after the last stored bar; nothing new, nothing doubled.
    res = run(tmp_path, *args, PI5_YAHOO__BASE_URL=base)
    assert res.exit_code == 0, res.output
    assert "resuming after the stored bar at 2024-01-10 20:59:00 UTC" in res.output
    assert "downloaded 0 new bars" in res.output
    # A range inside what is stored: only what follows its last stored bar is asked for.
    asked = len(stand.requests)
    res = run(
        tmp_path,
        "-i",
        "AAPL.XNAS",
        "--from",
        "2024-01-03",
        "--to",
        "2024-01-04",
        "--interval",
        "1m",
        PI5_YAHOO__BASE_URL=base,
    )
    assert "resuming after the stored bar at 2024-01-04 20:59:00 UTC" in res.output
    assert "downloaded 0 new bars (0 already stored)" in res.output
    assert len(stand.requests) == asked + 1
    assert stored(tmp_path, "AAPL.XNAS") == expected
    with sqlite3.connect(tmp_path / "data" / "pi5trading.db") as db:
        inst = db.execute(
            "SELECT symbol, venue, price_increment FROM instruments WHERE instrument_id = ?",
            ("AAPL.XNAS",),
        ).fetchall()
    assert [(s, v, Decimal(str(p))) for s, v, p in inst] == [("AAPL", "XNAS", Decimal("0.01"))]


def test_an_interrupted_download_resumes_where_it_stopped(
    tmp_path: Path, yahoo: tuple[YahooStandin, str]
) -> None:
    stand, base = yahoo
    args = ["-i", "MSFT", "--from", "2024-01-02", "--to", "2024-01-19", "--interval", "1m"]
    env = {"PI5_YAHOO__BASE_URL": base, "PI5_YAHOO__MAX_RETRIES": "0"}
    stand.requests.clear()
    stand.faults.extend(["ok", "503"])  # the first 7-day chunk arrives, the second fails
    res = run(tmp_path, *args, **env)
    assert res.exit_code == 1
    assert (
        res.output.strip()
        .splitlines()[-1]
        .startswith("Error: Yahoo Finance GET /v8/finance/chart/MSFT: HTTP 503")
    )
    first_week = stored(tmp_path, "MSFT")
    assert first_week == tape("MSFT", utc("2024-01-02T00:00"), utc("2024-01-09T00:00"))
    res = run(tmp_path, *args, **env)
    assert res.exit_code == 0, res.output
    last = first_week[-1][0]
    assert int(stand.requests[2]["period1"]) == last + 60  # continued after the stored bar
    assert stored(tmp_path, "MSFT") == tape(
        "MSFT", utc("2024-01-02T00:00"), utc("2024-01-20T00:00")
    )


def test_daily_bars_from_alpha_vantage(tmp_path: Path) -> None:
    stand = AlphaVantageStandin()
    with serve(stand.app) as base:
        res = run(
            tmp_path,
            "-i",
            "IBM",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-28",
            "--interval",
            "1d",
            "--provider",
            "alphavantage",
            PI5_ALPHAVANTAGE__BASE_URL=base,
            PI5_ALPHAVANTAGE__API_KEY=KEY,
        )
    assert res.exit_code == 0, res.output
    rows = stored(tmp_path, "IBM", "1d")
    assert len(rows) == 20  # the weekdays of March 1-28
    assert rows[0][0] == utc("2024-03-01T00:00")
    march_first = bars_between("IBM", utc("2024-03-01T00:00"), utc("2024-03-02T00:00"))
    assert rows[0][1:] == (
        cents(march_first[0].open),
        cents(max(b.high for b in march_first)),
        cents(min(b.low for b in march_first)),
        cents(march_first[-1].close),
        Decimal(sum(b.volume for b in march_first)),
    )
    assert KEY not in res.output


def test_five_minute_bars_from_alpaca(tmp_path: Path) -> None:
    stand = AlpacaDataStandin()
    with serve(stand.app) as base:
        env = {
            "PI5_ALPACA__DATA_URL": base,
            "PI5_ALPACA__KEY_ID": KEY_ID,
            "PI5_ALPACA__SECRET_KEY": SECRET,
        }
        res = run(
            tmp_path,
            "-i",
            "SPY.ARCX",
            "--from",
            "2024-02-05",
            "--to",
            "2024-02-09",
            "--interval",
            "5m",
            "--provider",
            "alpaca",
            **env,
        )
    assert res.exit_code == 0, res.output
    expected = tape("SPY", utc("2024-02-05T00:00"), utc("2024-02-10T00:00"), 300, nulls=False)
    assert stored(tmp_path, "SPY.ARCX", "5m") == expected
    assert len(expected) == 5 * 78
    assert stand.requests[0]["symbols"] == "SPY"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--from", "2024-13-01", "--to", "2024-01-02"],
            {},
            "Invalid value for --from: '2024-13-01' is not a date: use YYYY-MM-DD",
        ),
        (
            ["--from", "2024-03-01", "--to", "2024-01-02"],
            {},
            "Invalid value for --from: --from 2024-03-01 is not before --to 2024-01-02",
        ),
        (
            ["--from", "2024-01-02", "--to", "2024-01-03", "--provider", "bloomberg"],
            {},
            "Invalid value for '--provider': 'bloomberg' is not one of",
        ),
        (
            [
                "--from",
                "2024-01-02",
                "--to",
                "2024-01-03",
                "--interval",
                "2m",
                "--provider",
                "alpaca",
            ],
            {},
            "Invalid value for --interval: '2m': alpaca offers 1m, 5m, 15m, 30m, 1h, 1d",
        ),
        (
            ["--from", "2024-01-02", "--to", "2024-01-03", "--provider", "alphavantage"],
            {},
            "Error: Alpha Vantage GET /query: no API key: set PI5_ALPHAVANTAGE__API_KEY",
        ),
        (
            ["--from", "2024-01-02", "--to", "2024-01-03", "--provider", "alpaca"],
            {"PI5_ALPACA__KEY_ID": "PK1"},
            "no API key: set PI5_ALPACA__SECRET_KEY",
        ),
        (
            ["--from", "2024-01-02", "--to", "2024-01-03", "--tick", "-1"],
            {},
            "Invalid value for --tick: '-1' is not a number > 0",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    res = run(tmp_path, "-i", "AAPL", *args, **env)
    assert res.exit_code == 2 if "Invalid value" in message else res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not (tmp_path / "data").exists()


def test_a_vendor_error_is_one_line(tmp_path: Path, yahoo: tuple[YahooStandin, str]) -> None:
    _, base = yahoo
    res = run(
        tmp_path,
        "-i",
        "NOPE",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-03",
        PI5_YAHOO__BASE_URL=base,
    )
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        "Error: Yahoo Finance GET /v8/finance/chart/NOPE: HTTP 404 Not Found: "
        "No data found, symbol may be delisted"
    )


def test_help_explains_providers_keys_and_resuming() -> None:
    res = CliRunner().invoke(main, ["data", "download", "--help"])
    text = " ".join(res.output.split())
    for words in (
        "PI5_ALPHAVANTAGE__API_KEY",
        "PI5_ALPACA__KEY_ID",
        "Resumable",
        "Idempotent",
        "--provider [yahoo|alphavantage|alpaca]",
    ):
        assert words in text


def test_info_shows_whether_keys_are_set_never_the_keys() -> None:
    import json

    env = {
        "PI5_ALPACA__KEY_ID": KEY_ID,
        "PI5_ALPACA__SECRET_KEY": SECRET,
        "PI5_ALPHAVANTAGE__API_KEY": KEY,
        "PI5_SECURITY__CREDENTIALS_KEY": "Y3JlZGVudGlhbHMta2V5LW9mLXRoZS1pbmZvLXRlc3Q=",
        "PI5_SECURITY__CREDENTIALS_OLD_KEYS": "b2xkLWtleS1vZi10aGUtaW5mby10ZXN0LTMyYnl0ZXM=",
    }
    res = CliRunner(env=env).invoke(main, ["info"])
    assert res.exit_code == 0, res.output
    for secret in env.values():
        assert secret not in res.output
    shown = json.loads(res.output)["settings"]
    assert shown["security"] == {"credentials_key": "<set>", "credentials_old_keys": "<set>"}
    assert shown["alpaca"]["key_id"] == "<set>"
    assert shown["alphavantage"]["api_key"] == "<set>"
    assert shown["alpaca"]["data_url"] == "https://data.alpaca.markets"


def test_a_tick_for_a_stored_instrument_must_match(
    tmp_path: Path, yahoo: tuple[YahooStandin, str]
) -> None:
    _, base = yahoo
    args = ["-i", "SPY", "--from", "2024-01-02", "--to", "2024-01-02", "--interval", "1h"]
    res = run(tmp_path, *args, "--tick", "0.05", PI5_YAHOO__BASE_URL=base)
    assert res.exit_code == 0, res.output
    assert all(p % Decimal("0.05") == 0 for row in stored(tmp_path, "SPY", "1h") for p in row[1:5])
    res = run(tmp_path, *args, "--tick", "0.01", PI5_YAHOO__BASE_URL=base)
    assert res.exit_code == 1
    assert "Error: SPY is stored with tick 0.05; --tick 0.01 applies to new instruments only" in (
        res.output
    )


def test_bars_before_the_first_stored_one_are_fetched_too(
    tmp_path: Path, yahoo: tuple[YahooStandin, str]
) -> None:
    _, base = yahoo
    env = {"PI5_YAHOO__BASE_URL": base}
    res = run(
        tmp_path,
        "-i",
        "MSFT",
        "--from",
        "2024-01-10",
        "--to",
        "2024-01-11",
        "--interval",
        "5m",
        **env,
    )
    assert res.exit_code == 0, res.output
    before = stored(tmp_path, "MSFT", "5m")
    last = dt.datetime.fromtimestamp(before[-1][0], dt.UTC)
    assert last.date() == dt.date(2024, 1, 11)
    res = run(
        tmp_path,
        "-i",
        "MSFT",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-12",
        "--interval",
        "5m",
        **env,
    )
    assert res.exit_code == 0, res.output
    assert "fetching what lies before the first stored bar at 2024-01-10 14:30:00 UTC" in (
        res.output
    )
    assert f"resuming after the stored bar at {last:%Y-%m-%d %H:%M:%S} UTC" in res.output
    full = tape("MSFT", utc("2024-01-02T00:00"), utc("2024-01-13T00:00"), 300)
    assert f"downloaded {len(full) - len(before)} new bars (0 already stored)" in res.output
    assert stored(tmp_path, "MSFT", "5m") == full


def test_several_instruments_in_one_run(tmp_path: Path, yahoo: tuple[YahooStandin, str]) -> None:
    _, base = yahoo
    args = ["--from", "2024-01-02", "--to", "2024-01-05", "--interval", "15m"]
    res = run(
        tmp_path, "-i", "AAPL", "-i", "MSFT.XNAS", "-i", "AAPL", *args, PI5_YAHOO__BASE_URL=base
    )
    assert res.exit_code == 0, res.output
    for instrument, symbol in (("AAPL", "AAPL"), ("MSFT.XNAS", "MSFT")):
        bars = tape(symbol, utc("2024-01-02T00:00"), utc("2024-01-06T00:00"), 900)
        assert stored(tmp_path, instrument, "15m") == bars
        assert f"downloaded {len(bars)} new bars (0 already stored) for {instrument}," in (
            res.output
        )
    assert res.output.count("downloaded") == 2  # AAPL once
    res = run(tmp_path, "-i", "AAPL", "-i", "MSFT", "--symbol", "X", *args)
    assert res.exit_code == 2
    assert "Invalid value for --symbol: goes with a single --instrument" in res.output


def test_as_a_real_process_with_a_retry_told_on_stderr(
    tmp_path: Path, yahoo: tuple[YahooStandin, str]
) -> None:
    import os
    import subprocess
    import sys

    import pi5trading

    stand, base = yahoo
    stand.faults.append("503")
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(pi5trading.__file__).parents[1]),
        "PI5_DATA_DIR": str(tmp_path / "data"),
        "PI5_YAHOO__BASE_URL": base,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pi5trading",
            "data",
            "download",
            "-i",
            "SPY",
            "--from",
            "2024-02-01",
            "--to",
            "2024-02-02",
            "--interval",
            "30m",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    bars = tape("SPY", utc("2024-02-01T00:00"), utc("2024-02-03T00:00"), 1800)
    assert f"downloaded {len(bars)} new bars (0 already stored) for SPY" in proc.stdout
    assert "Yahoo Finance: HTTP 503" in proc.stderr  # the retry, told
    assert stored(tmp_path, "SPY", "30m") == bars


def test_without_to_it_downloads_up_to_now(tmp_path: Path, yahoo: tuple[YahooStandin, str]) -> None:
    _, base = yahoo
    res = run(tmp_path, "-i", "SPY", "--from", "2024-04-24", PI5_YAHOO__BASE_URL=base)
    assert res.exit_code == 0, res.output
    days = [dt.datetime.fromtimestamp(r[0], dt.UTC).date() for r in stored(tmp_path, "SPY", "1d")]
    assert days == [dt.date(2024, 4, d) for d in (24, 25, 26, 29, 30)]  # the tape's last days
    res = run(tmp_path, "-i", "SPY", "--from", "2100-01-01")
    assert res.exit_code == 2
    assert "--from 2100-01-01 is not before --to now" in res.output


def test_alpaca_keys_entered_through_the_api_are_used_when_the_environment_has_none(
    tmp_path: Path,
) -> None:
    import asyncio
    import base64
    import os

    from pi5trading.config import load_settings
    from pi5trading.storage.connect import open_repository, prepare_database
    from pi5trading.storage.credentials import PROVIDERS, store, vault_for

    key = base64.b64encode(os.urandom(32)).decode()
    env = {"PI5_DATA_DIR": str(tmp_path / "data"), "PI5_SECURITY__CREDENTIALS_KEY": key}
    settings = load_settings(env=env, dotenv_path=None)

    async def seed() -> None:  # what PUT /api/v1/credentials/alpaca stores
        repository = await open_repository(settings)
        try:
            await prepare_database(settings, repository.driver)
            fields = {"key_id": KEY_ID, "secret_key": SECRET}
            await store(repository, vault_for(settings), PROVIDERS["alpaca"], fields, by="root")
        finally:
            await repository.close()

    asyncio.run(seed())
    stand = AlpacaDataStandin()
    args = ["-i", "SPY.ARCX", "--from", "2024-02-05", "--to", "2024-02-06", "--interval", "5m"]
    with serve(stand.app) as base:
        res = run(
            tmp_path,
            *args,
            "--provider",
            "alpaca",
            PI5_ALPACA__DATA_URL=base,
            PI5_SECURITY__CREDENTIALS_KEY=key,
        )
        assert res.exit_code == 0, res.output
        assert stored(tmp_path, "SPY.ARCX", "5m")
        assert SECRET not in res.output
        # Keys in the environment win: wrong ones there are used (and refused by Alpaca).
        env_wins = run(
            tmp_path,
            *args,
            "--provider",
            "alpaca",
            PI5_ALPACA__DATA_URL=base,
            PI5_SECURITY__CREDENTIALS_KEY=key,
            PI5_ALPACA__KEY_ID="PKWRONG",
            PI5_ALPACA__SECRET_KEY="wrong-secret",
        )
    assert env_wins.exit_code == 1, env_wins.output
    assert "403" in env_wins.output or "forbidden" in env_wins.output.lower()
