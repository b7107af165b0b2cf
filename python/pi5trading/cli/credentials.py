"""``pi5trading credentials``: the key stored broker and vendor credentials are encrypted
with, its rotation, and what is stored (never a secret)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from pi5trading.cli._settings import database_url_option, with_database_url
from pi5trading.exceptions import Pi5TradingError

if TYPE_CHECKING:
    from pi5trading.storage.credentials import Rotation
    from pi5trading.storage.records import CredentialRow


@click.group("credentials")
def credentials_group() -> None:
    """Broker and data-vendor keys entered through the API, encrypted at rest."""


@credentials_group.command("key")
def key_command() -> None:
    """Print a fresh key for PI5_SECURITY__CREDENTIALS_KEY (32 random bytes, base64).

    Keep it out of the database's backups: whoever has both reads the keys."""
    from pi5trading.storage.credentials import new_key

    click.echo(new_key())


@credentials_group.command("rotate")
@database_url_option
def rotate_command(database_url: str | None) -> None:
    """Re-encrypt every stored credential under PI5_SECURITY__CREDENTIALS_KEY.

    \b
    To change the key:
      1. PI5_SECURITY__CREDENTIALS_OLD_KEYS=<the current key>
         PI5_SECURITY__CREDENTIALS_KEY=<`pi5trading credentials key`>
      2. pi5trading credentials rotate
      3. remove the old key from PI5_SECURITY__CREDENTIALS_OLD_KEYS and restart.
    Nothing is written when a row does not decrypt with the configured keys."""
    settings = with_database_url(database_url)

    async def run() -> Rotation:
        from pi5trading.api.audit import audit
        from pi5trading.storage.connect import open_repository, prepare_database
        from pi5trading.storage.credentials import rotate, vault_for

        vault = vault_for(settings)
        repository = await open_repository(settings)
        try:
            # A fresh or older database: migrated (or refused) as `user create` does.
            await prepare_database(settings, repository.driver)
            done = await rotate(repository, vault)
            await audit(
                repository, "credentials.rotate", "success", actor="cli",
                resource="credentials", key_id=done.key_id, reencrypted=done.reencrypted,
            )  # fmt: skip
            return done
        finally:
            await repository.close()

    try:
        done = asyncio.run(run())
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"credentials now under key {done.key_id}: {len(done.reencrypted)} re-encrypted"
        + (f" ({', '.join(done.reencrypted)})" if done.reencrypted else "")
        + f", {len(done.already_current)} already under it"
    )
    if done.changed_meanwhile:
        click.echo(f"changed while rotating (left as entered): {', '.join(done.changed_meanwhile)}")


@credentials_group.command("list")
@database_url_option
def list_command(database_url: str | None) -> None:
    """What is stored per provider: when, by whom, the key id's last 4 characters and the
    encryption key's id. Never a secret."""
    settings = with_database_url(database_url)

    async def run() -> list[CredentialRow]:
        from pi5trading.storage.connect import open_repository, prepare_database

        repository = await open_repository(settings)
        try:
            await prepare_database(settings, repository.driver)
            return await repository.list_credentials()
        finally:
            await repository.close()

    from pi5trading.api.timefmt import iso
    from pi5trading.storage.credentials import PROVIDERS, Vault, in_environment

    try:
        rows = {r.provider: r for r in asyncio.run(run())}
        vault = Vault.from_settings(settings.security)
    except Pi5TradingError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, provider in PROVIDERS.items():
        row = rows.get(name)
        env = "environment keys set (they win)" if in_environment(settings, provider) else ""
        if row is None:
            click.echo(f"{name:14} not stored {env}".rstrip())
            continue
        readable = vault is not None and vault.readable(row.key_id)
        click.echo(
            f"{name:14} stored {row.hint} at {iso(row.updated_ns)} by {row.updated_by or '?'}, "
            f"key {row.key_id}{'' if readable else ' (NOT readable with the configured keys)'}"
            + (f"; {env}" if env else "")
        )


__all__ = ["credentials_group"]
