"""``pi5trading user``: the API's users from the command line (the first admin included)."""

from __future__ import annotations

import asyncio
import sys

import click

from pi5trading.cli._paths import require_writable_database
from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError


@click.group("user")
def user_group() -> None:
    """Create and list the users who sign in to the API and the dashboard."""


@user_group.command("create")
@click.argument("username")
@click.option("--admin", "role", flag_value="admin", help="An administrator (users, risk, system).")
@click.option("--trader", "role", flag_value="trader", help="Trades: orders, strategies.")
@click.option(
    "--viewer", "role", flag_value="viewer", default=True, help="Reads only (the default)."
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@database_url_option
def create_command(
    username: str, role: str, password_stdin: bool, database_url: str | None
) -> None:
    """Create USERNAME with a role; the password is asked twice (or read from stdin).

    There is no default password: the first admin is made this way, e.g.
    `pi5trading user create --admin alice`. Passwords need 12 characters or more.
    """
    settings = with_database_url(database_url)
    require_writable_database(
        settings.database.url,
        settings.data_dir,
        "choose another database with --database-url, PI5_DATABASE__URL or PI5_DATA_DIR",
    )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)

    async def create() -> str:
        from pi5trading.api.users import UserError, create_user
        from pi5trading.storage.connect import open_repository, prepare_database

        repository = await open_repository(settings)
        try:
            await prepare_database(settings, repository.driver)
            try:
                user = await create_user(repository, username, password, role)
            except UserError as exc:
                raise click.ClickException(str(exc)) from None
            return user.username
        finally:
            await repository.close()

    try:
        name = asyncio.run(create())
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {role} {name}")


@user_group.command("list")
@database_url_option
def list_command(database_url: str | None) -> None:
    """The users, their roles and whether they can sign in."""
    from pi5trading.storage.connect import sqlite_path

    settings = with_database_url(database_url)
    path = sqlite_path(settings.database.url, settings.data_dir)
    if path is not None and not path.exists():  # reading must not create the database
        click.echo("no users yet: create one with `pi5trading user create --admin NAME`")
        return

    async def users() -> list[tuple[str, str, bool]]:
        from pi5trading.storage.connect import open_repository, prepare_database

        repository = await open_repository(settings)
        try:
            await prepare_database(settings, repository.driver)
            return [(u.username, u.role, u.is_active) for u in await repository.list_users()]
        finally:
            await repository.close()

    try:
        rows = asyncio.run(users())
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    if not rows:
        click.echo("no users yet: create one with `pi5trading user create --admin NAME`")
    for name, role, active in rows:
        click.echo(f"{name:32} {role:8} {'active' if active else 'disabled'}")


__all__ = ["user_group"]
