"""``pi5trading audit``: read and verify the audit log's hash chain."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.storage.audit_chain import Verdict


@click.group("audit")
def audit_group() -> None:
    """The audit log: who did what, when, from where, with what outcome."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@database_url_option
def verify_command(as_json: bool, database_url: str | None) -> None:
    """Check the hash chain of the audit log: every row unchanged, none deleted.

    Exit status 0 when the chain holds, 1 with the first broken row named when a row was
    edited or deleted.
    """
    import msgspec

    settings = with_database_url(database_url)

    async def run() -> Verdict:
        from pi5trading.storage.audit_chain import verify_stored
        from pi5trading.storage.connect import open_repository

        repository = await open_repository(settings)
        try:
            return await verify_stored(repository)
        finally:
            await repository.close()

    try:
        verdict = asyncio.run(run())
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(verdict)))
    elif verdict.ok:
        span = f"rows {verdict.first_seq}-{verdict.last_seq}" if verdict.checked else "no rows"
        click.echo(f"audit chain intact: {verdict.checked} rows checked ({span})")
        if verdict.first_seq not in (None, 1):
            click.echo(
                f"note: the chain starts at row {verdict.first_seq}: older rows were removed "
                "(the retention policy, or by hand)"
            )
        if verdict.unchained:
            click.echo(f"note: {verdict.unchained} older rows were written before the chain")
    else:
        click.echo(
            f"audit chain BROKEN at row {verdict.broken_at} (event {verdict.event_id}): "
            f"{verdict.reason}; {verdict.checked} rows before it are intact",
            err=True,
        )
    if not verdict.ok:
        raise SystemExit(1)


__all__ = ["audit_group"]
