"""`pi5trading backup` / `restore` against the real PostgreSQL: back up, destroy, restore.

pg_dump and pg_restore are Debian's, of the fixture server's major version
(``PI5_BACKUP__PG_BIN_DIR`` = the fixture's bin folder).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result

from pi5trading.cli import main
from tests.backups import delete_some, fingerprint, seed
from tests.contract.databases import create_pg_database, drop_pg_database, migrate_sync
from tests.services import PostgresServer

pytestmark = pytest.mark.integration


class Pg:
    def __init__(self, server: PostgresServer, name: str, dsn: str, data: Path) -> None:
        self.server = server
        self.name = name
        self.dsn = dsn
        self.backups = data / "backups"
        self.runner = CliRunner(
            env={
                "PI5_DATA_DIR": str(data),
                "PI5_DATABASE__URL": dsn,
                "PI5_BACKUP__PG_BIN_DIR": str(server.bindir),
            }
        )

    def cli(self, *args: str) -> Result:
        return self.runner.invoke(main, list(args))

    def drop(self) -> None:
        drop_pg_database(self.server, self.name)


@pytest.fixture
def pg(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Pg]:
    name, dsn = create_pg_database(postgres_server, "backup")
    try:
        migrate_sync("postgres", dsn)
        seed("postgres", dsn)
        yield Pg(postgres_server, name, dsn, tmp_path / "data")
    finally:
        drop_pg_database(postgres_server, name)


def only_backup(pg: Pg) -> Path:
    [dump] = [p for p in pg.backups.iterdir() if p.suffix == ".dump"]
    return dump


def test_backup_drop_restore_round_trip(pg: Pg) -> None:
    before = fingerprint("postgres", pg.dsn)
    assert before.rows["orders"] == 60
    res = pg.cli("backup")
    assert res.exit_code == 0, res.output
    dump = only_backup(pg)
    assert dump.name.startswith(f"pi5trading-{pg.name}-")
    assert dump.name.endswith("Z.dump")
    assert f"wrote {dump} (" in res.output
    assert dump.read_bytes()[:5] == b"PGDMP"
    assert (dump.parent / (dump.name + ".sha256")).read_text().endswith(f"  {dump.name}\n")
    assert oct(dump.stat().st_mode & 0o777) == "0o600"

    pg.drop()
    res = pg.cli("restore", str(dump))
    assert res.exit_code == 0, res.output
    assert "no previous database: nothing to save first" in res.output
    assert "(created)" in res.output
    assert re.search(r"migrations consistent: \d+ applied, \d+ skipped \(TimescaleDB", res.output)
    assert fingerprint("postgres", pg.dsn) == before
    for table, rows in before.rows.items():
        assert f"  {table} " in res.output
        assert f" {rows}\n" in res.output


def test_restore_over_a_changed_database_takes_a_safety_backup_first(pg: Pg) -> None:
    before = fingerprint("postgres", pg.dsn)
    assert pg.cli("backup").exit_code == 0
    dump = only_backup(pg)
    delete_some("postgres", pg.dsn)
    changed = fingerprint("postgres", pg.dsn)
    assert changed != before

    res = pg.cli("restore", "--latest")
    assert res.exit_code == 0, res.output
    assert fingerprint("postgres", pg.dsn) == before
    [safety] = list(pg.backups.glob("*-pre-restore.dump"))
    assert f"safety backup of the previous database: {safety}" in res.output

    # The safety backup holds the database as it was before the restore.
    res = pg.cli("restore", str(safety))
    assert res.exit_code == 0, res.output
    assert fingerprint("postgres", pg.dsn) == changed
    assert dump.exists()


def test_restore_refuses_while_a_server_is_connected(pg: Pg) -> None:
    assert pg.cli("backup").exit_code == 0
    dump = only_backup(pg)
    delete_some("postgres", pg.dsn)
    changed = fingerprint("postgres", pg.dsn)

    # A session like the server's (any session on the database counts).
    loop = asyncio.new_event_loop()
    settings = {"application_name": "pi5trading"}
    conn = loop.run_until_complete(asyncpg.connect(pg.dsn, server_settings=settings))
    try:
        res = pg.cli("restore", str(dump))
        assert res.exit_code == 1
        assert "1 other session(s) are connected to database" in res.output
        assert "pi5trading from 127.0.0.1" in res.output
        assert "or pass --force" in res.output
        assert len(res.output.strip().splitlines()) == 1
        assert fingerprint("postgres", pg.dsn) == changed
        assert not list(pg.backups.glob("*-pre-restore.dump"))

        res = pg.cli("restore", "--force", str(dump))
        assert res.exit_code == 0, res.output
        assert fingerprint("postgres", pg.dsn) != changed
    finally:
        loop.run_until_complete(conn.close())
        loop.close()


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_backup_is_refused_and_nothing_changes(pg: Pg, damage: str) -> None:
    assert pg.cli("backup").exit_code == 0
    dump = only_backup(pg)
    data = bytearray(dump.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    dump.write_bytes(bytes(data))
    delete_some("postgres", pg.dsn)
    changed = fingerprint("postgres", pg.dsn)

    res = pg.cli("restore", str(dump))
    assert res.exit_code == 1
    assert res.output == (
        f"Error: {dump}: checksum mismatch (the file is corrupted or truncated: its SHA-256 is"
        f" not the one in {dump.name}.sha256); nothing was restored\n"
    )
    assert fingerprint("postgres", pg.dsn) == changed
    assert not list(pg.backups.glob("*-pre-restore.dump"))
    res = pg.cli("backup", "--list")
    assert "checksum mismatch" in res.output


def test_a_postgres_backup_is_not_restored_into_sqlite(pg: Pg, tmp_path: Path) -> None:
    assert pg.cli("backup").exit_code == 0
    dump = only_backup(pg)
    res = pg.runner.invoke(
        main, ["restore", str(dump), "--database-url", f"sqlite:///{tmp_path}/x.db"]
    )
    assert res.exit_code == 1
    assert "is a PostgreSQL backup but the database is SQLite" in res.output
    assert not (tmp_path / "x.db").exists()


def test_a_server_that_cannot_be_reached_fails_the_backup(pg: Pg, tmp_path: Path) -> None:
    res = pg.cli(
        "backup", "--database-url", f"postgresql://postgres@127.0.0.1:{pg.server.port}/nosuchdb"
    )
    assert res.exit_code == 1
    assert res.output.startswith("Error: backup of postgresql://")
    assert "pg_dump failed" in res.output
    assert "nosuchdb" in res.output
    assert not pg.backups.exists() or not list(pg.backups.iterdir())


def test_the_password_never_shows(pg: Pg) -> None:
    # Trust authentication accepts any password: enough to see where it goes.
    with_password = pg.dsn.replace("postgres@", "postgres:s3cr%24t-pw@")
    res = pg.cli("backup", "--database-url", with_password)
    assert res.exit_code == 0, res.output
    assert "s3cr" not in res.output
    res = pg.cli("backup", "--database-url", with_password.rsplit("/", 1)[0] + "/nosuchdb")
    assert res.exit_code == 1
    assert "s3cr" not in res.output
    assert "postgresql://postgres:***@127.0.0.1" in res.output
