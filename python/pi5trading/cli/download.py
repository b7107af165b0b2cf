"""``pi5trading data download``: bar history from Yahoo, Alpha Vantage or Alpaca into the
database, resumable and idempotent."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import click
import msgspec

from pi5trading.cli._display import utc_time
from pi5trading.cli._paths import require_writable_database
from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.config import Settings
    from pi5trading.model import Bar, Instrument
    from pi5trading.storage.repository import SqlRepository

PROVIDERS = ("yahoo", "alphavantage", "alpaca")
NS = 1_000_000_000


class HistoryProvider(Protocol):
    """What the command needs of a vendor client (``pi5trading.feeds.{yahoo,alphavantage,
    alpaca}``)."""

    def history_chunks(
        self, symbol: str | Instrument, start_ns: int, end_ns: int, interval: str
    ) -> AsyncIterator[list[Bar]]: ...

    async def close(self) -> None: ...


def _intervals(provider: str) -> list[str]:
    if provider == "yahoo":
        from pi5trading.feeds.yahoo import INTERVALS
    elif provider == "alphavantage":
        from pi5trading.feeds.alphavantage import INTERVALS
    else:
        from pi5trading.feeds.alpaca import TIMEFRAMES as INTERVALS
    return list(INTERVALS)


def _when(text: str, option: str, *, end: bool) -> int:
    """UTC ns of a date (``--to`` a date: through its end) or an ISO date-time."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            t = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            if end:
                t += dt.timedelta(days=1)
        else:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.UTC)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)",
            param_hint=option,
        ) from None
    return int(t.timestamp()) * NS


def _provider(settings: Settings, provider: str) -> HistoryProvider:
    """The provider's client; a missing key is an error naming the setting to set."""
    if provider == "yahoo":
        from pi5trading.feeds.yahoo import YahooClient

        return YahooClient(settings.yahoo)
    if provider == "alphavantage":
        from pi5trading.feeds.alphavantage import AlphaVantageClient

        return AlphaVantageClient(settings.alphavantage)
    from pi5trading.feeds.alpaca import AlpacaDataClient

    return AlpacaDataClient(settings.alpaca)


@click.command("download")
@click.option(
    "--instrument",
    "-i",
    "instruments",
    required=True,
    multiple=True,
    help="Instrument id to store the bars under, e.g. AAPL or AAPL.XNAS; repeat for several.",
)
@click.option(
    "--from",
    "start",
    required=True,
    metavar="DATE",
    help="First day (YYYY-MM-DD, UTC) or time (YYYY-MM-DDTHH:MM, UTC if no offset).",
)
@click.option(
    "--to",
    "end",
    default=None,
    metavar="DATE",
    help="Last day, included (YYYY-MM-DD), or an end time, excluded [default: now].",
)
@click.option(
    "--interval", default="1d", show_default=True, help="Bar interval: 1m, 5m, 15m, 30m, 1h, 1d."
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    default="yahoo",
    show_default=True,
    help="Where the bars come from.",
)
@click.option(
    "--symbol",
    default=None,
    help="The provider's symbol when it differs from the instrument's "
    "[default: the instrument id before its first '.'], e.g. BRK-B on Yahoo.",
)
@click.option(
    "--tick",
    default=None,
    metavar="DECIMAL",
    help="Price increment for a new instrument [default: the instruments table's, else 0.01]; "
    "prices are rounded half-even to it.",
)
@database_url_option
def data_download_command(
    instruments: tuple[str, ...],
    start: str,
    end: str | None,
    interval: str,
    provider: str,
    symbol: str | None,
    tick: str | None,
    database_url: str | None,
) -> None:
    """Download bar history from a market data provider into the database.

    Providers: yahoo (no key; 1m bars only for the last 30 days), alphavantage (key in
    PI5_ALPHAVANTAGE__API_KEY; free keys: 25 requests a day, one per month of intraday
    bars), alpaca (keys in PI5_ALPACA__KEY_ID and PI5_ALPACA__SECRET_KEY; feed in
    PI5_ALPACA__FEED). Bars are stored as `data import` stores them (stamped at their
    open, exact prices on the instrument's tick), chunk by chunk as they arrive.

    Resumable: a run fetches only what lies after the last bar stored in the range (and
    before the first, when that is a day or more after --from), so an interrupted run
    continues where it stopped. Idempotent: bars already stored are skipped, so running
    twice stores each bar once. Backtests read the result as db:<instrument>.

    \b
    Examples:
      pi5trading data download -i AAPL --from 2024-01-02 --to 2024-03-28 --interval 1m --provider alpaca
      pi5trading data download -i IBM --from 2023-01-01 --to 2023-12-31 --provider alphavantage
      pi5trading data download -i AAPL -i MSFT -i SPY --from 2024-01-01 --to 2024-06-30
      pi5trading data download -i SPY --from 2020-01-01      # again later: brings it up to date
    """  # noqa: E501  (click prints \b paragraphs as written)
    import asyncio

    from pi5trading.data.bars import interval_ns

    settings = with_database_url(database_url)
    start_ns = _when(start, "--from", end=False)
    if end is None:
        end_ns = int(dt.datetime.now(dt.UTC).timestamp()) * NS
    else:
        end_ns = _when(end, "--to", end=True)
    if start_ns >= end_ns:
        raise click.BadParameter(
            f"--from {start} is not before --to {end or 'now'}", param_hint="--from"
        )
    offered = _intervals(provider)
    if interval not in offered:
        raise click.BadParameter(
            f"{interval!r}: {provider} offers {', '.join(offered)}", param_hint="--interval"
        )
    step = interval_ns(interval)
    tick_size: Decimal | None = None
    if tick is not None:
        try:
            tick_size = Decimal(tick)
        except ArithmeticError:
            tick_size = None
        if tick_size is None or not tick_size.is_finite() or tick_size <= 0:
            raise click.BadParameter(f"{tick!r} is not a number > 0", param_hint="--tick")
    if symbol is not None and len(instruments) > 1:
        raise click.BadParameter("goes with a single --instrument", param_hint="--symbol")
    jobs: list[tuple[str, str]] = []
    for instrument in dict.fromkeys(instruments):  # each once, in the order given
        vendor_symbol = symbol or instrument.split(".", 1)[0]
        if not vendor_symbol.strip():
            raise click.BadParameter(f"{instrument!r} has no symbol", param_hint="--instrument")
        jobs.append((instrument, vendor_symbol))
    try:
        if provider != "yahoo":  # keys entered through the API where the environment has none
            from pi5trading.storage.credentials import load_stored_credentials

            settings = asyncio.run(load_stored_credentials(settings, [provider]))
        client = _provider(settings, provider)  # a missing key fails before the database
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    require_writable_database(
        settings.database.url,
        settings.data_dir,
        "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
    )
    try:
        asyncio.run(
            _download(
                settings,
                client,
                jobs,
                provider=provider,
                interval=interval,
                step=step,
                start_ns=start_ns,
                end_ns=end_ns,
                tick=tick_size,
            )
        )
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc


class _Spans(msgspec.Struct):
    ranges: list[tuple[int, int]]
    notes: list[str]


_DAY_NS = 86_400 * NS


async def _missing_spans(
    repo: SqlRepository, instrument_id: str, interval: str, step: int, start_ns: int, end_ns: int
) -> _Spans:
    """What to fetch of ``[start_ns, end_ns)`` given the bars already stored there: before
    the first stored bar (when that is a day or more after the start: less is the night
    before the first session) and after the last one. Holes in between are not looked for
    (a download of just that range fills them; stored bars are skipped)."""
    stored = await repo.get_bars(instrument_id, interval, start_ns, end_ns, limit=1)
    if not stored:
        return _Spans(ranges=[(start_ns, end_ns)], notes=[])
    first_ns = stored[0].ts_ns
    latest = await repo.latest_bar(instrument_id, interval)
    if latest is not None and latest.ts_ns < end_ns:
        last_ns = latest.ts_ns
    else:  # bars stored after the range too: the last one inside it, looked for in
        # widening windows before the end (not every bar of the range read at once)
        last_ns = first_ns
        for days in (7, 60, 730, None):
            lo = first_ns if days is None else max(first_ns, end_ns - days * _DAY_NS)
            rows = await repo.get_bars(instrument_id, interval, lo, end_ns)
            if rows:
                last_ns = rows[-1].ts_ns
                break
    ranges: list[tuple[int, int]] = []
    notes: list[str] = []
    if first_ns - start_ns >= max(step, _DAY_NS):
        ranges.append((start_ns, first_ns))
        notes.append(f"fetching what lies before the first stored bar at {utc_time(first_ns)}")
    if last_ns + step < end_ns:
        ranges.append((last_ns + step, end_ns))
        notes.append(f"resuming after the stored bar at {utc_time(last_ns)}")
    return _Spans(ranges=ranges, notes=notes)


async def _download(
    settings: Settings,
    client: HistoryProvider,
    jobs: list[tuple[str, str]],
    *,
    provider: str,
    interval: str,
    step: int,
    start_ns: int,
    end_ns: int,
    tick: Decimal | None,
) -> None:
    """Each ``(instrument id, provider symbol)`` of ``jobs`` in turn, one database."""
    from pi5trading.storage.connect import open_driver, prepare_database
    from pi5trading.storage.repository import SqlRepository

    try:
        driver = await open_driver(settings.database, settings.data_dir)
        repo = SqlRepository(driver)
        try:
            if settings.database.migrate_on_start:
                await prepare_database(settings, driver)
            for instrument_id, symbol in jobs:
                await _download_one(
                    repo,
                    client,
                    instrument_id=instrument_id,
                    symbol=symbol,
                    provider=provider,
                    interval=interval,
                    step=step,
                    start_ns=start_ns,
                    end_ns=end_ns,
                    tick=tick,
                )
        finally:
            await repo.close()
    finally:
        await client.close()


async def _download_one(
    repo: SqlRepository,
    client: HistoryProvider,
    *,
    instrument_id: str,
    symbol: str,
    provider: str,
    interval: str,
    step: int,
    start_ns: int,
    end_ns: int,
    tick: Decimal | None,
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pi5trading.model import Instrument
    from pi5trading.storage.records import BarRow, InstrumentRow

    out = Console()
    row = await repo.get_instrument(instrument_id)
    if row is not None and tick is not None and tick != row.price_increment:
        raise click.ClickException(
            f"{instrument_id} is stored with tick {row.price_increment}; --tick "
            f"{tick} applies to new instruments only (leave it out)"
        )
    if row is None:
        venue = instrument_id.split(".", 1)[1] if "." in instrument_id else "UNKNOWN"
        row = InstrumentRow(
            instrument_id,
            symbol,
            venue,
            price_increment=tick if tick is not None else Decimal("0.01"),
        )
        await repo.upsert_instrument(row)
    model = Instrument(
        symbol,
        row.venue or "UNKNOWN",
        "EQUITY",
        row.currency,
        tick_size=row.price_increment,
        lot_size="1",
    )
    spans = await _missing_spans(repo, instrument_id, interval, step, start_ns, end_ns)
    for note in spans.notes:
        out.print(f"{instrument_id}: {note}")
    if not spans.ranges:
        out.print(f"{instrument_id} {interval}: every bar of the range is stored")
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[bars]} bars"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    total = sum(hi - lo for lo, hi in spans.ranges)
    done = received = inserted = 0
    first: int | None = None
    last: int | None = None
    with progress:
        task = progress.add_task(f"{provider} {symbol} {interval}", total=total, bars=0)
        for lo, hi in spans.ranges:
            async for chunk in client.history_chunks(model, lo, hi, interval):
                rows = [
                    BarRow(
                        instrument_id,
                        interval,
                        b.ts_event - step,
                        b.open.as_decimal(),
                        b.high.as_decimal(),
                        b.low.as_decimal(),
                        b.close.as_decimal(),
                        b.volume.as_decimal(),
                    )
                    for b in chunk
                ]
                if rows:
                    # Each chunk is committed as it comes: an interrupted run keeps it, and
                    # the next run continues after it.
                    inserted += await repo.insert_bars(rows)
                    received += len(rows)
                    first = rows[0].ts_ns if first is None else min(first, rows[0].ts_ns)
                    last = rows[-1].ts_ns if last is None else max(last, rows[-1].ts_ns)
                    progress.update(
                        task,
                        completed=done + min(hi - lo, rows[-1].ts_ns + step - lo),
                        bars=received,
                    )
            done += hi - lo
            progress.update(task, completed=done, bars=received)
    out.print(
        f"downloaded {inserted} new bars ({received - inserted} already stored) for "
        f"{instrument_id}, interval {interval}, from {provider}: "
        f"{utc_time(first)} .. {utc_time(last)}"
    )
