"""`pi5trading backup` / `restore` on the embedded SQLite database (real files), rotation,
the copy to a second folder, the failure alert, and `backup --list`."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pi5trading.cli import main
from pi5trading.storage.backup import list_backups, rotate
from tests.backups import delete_some, fingerprint, seed
from tests.standins.gotify import GotifyStandIn
from tests.standins.server import serve


class Lite:
    def __init__(self, data: Path, **env: str) -> None:
        self.data = data
        self.db = data / "pi5trading.db"
        self.backups = data / "backups"
        self.runner = CliRunner(env={"PI5_DATA_DIR": str(data), "PI5_DATABASE__URL": "", **env})

    def cli(self, *args: str) -> Result:
        return self.runner.invoke(main, list(args))

    def only_backup(self) -> Path:
        [db] = [p for p in self.backups.iterdir() if p.suffix == ".db"]
        return db


@pytest.fixture
def lite(tmp_path: Path) -> Lite:
    lt = Lite(tmp_path / "data")
    res = lt.cli("migrate")
    assert res.exit_code == 0, res.output
    seed("sqlite", str(lt.db))
    return lt


def test_backup_delete_restore_round_trip(lite: Lite) -> None:
    before = fingerprint("sqlite", str(lite.db))
    assert before.rows["fills"] == 120
    res = lite.cli("backup")
    assert res.exit_code == 0, res.output
    backup = lite.only_backup()
    assert re.fullmatch(r"pi5trading-pi5trading-\d{8}T\d{6}Z\.db", backup.name)
    assert re.match(rf"wrote {re.escape(str(backup))} \(\d+\.\d kB\)\n", res.output)
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    # A self-contained file, in sha256sum's format.
    assert not Path(f"{backup}-wal").exists()
    digest, name = (backup.parent / (backup.name + ".sha256")).read_text().split()
    assert name == backup.name
    assert len(digest) == 64

    for side in ("", "-wal", "-shm"):
        Path(f"{lite.db}{side}").unlink(missing_ok=True)
    res = lite.cli("restore", str(backup))
    assert res.exit_code == 0, res.output
    assert "no previous database: nothing to save first" in res.output
    assert f"restored into {lite.db} (created)" in res.output
    assert "migrations consistent: " in res.output
    assert fingerprint("sqlite", str(lite.db)) == before
    assert re.search(r"\n  fills +120\n", res.output)
    assert re.search(r"\n  bars +600\n", res.output)


def test_backup_while_the_database_is_written_is_consistent(lite: Lite) -> None:
    writer = sqlite3.connect(lite.db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a writer holds the write lock, uncommitted
        writer.execute("DELETE FROM fills")
        res = lite.cli("backup")
        assert res.exit_code == 0, res.output
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    backup = lite.only_backup()
    assert sqlite3.connect(backup).execute("SELECT count(*) FROM fills").fetchone() == (120,)


def test_restore_over_a_changed_database_takes_a_safety_backup_first(lite: Lite) -> None:
    before = fingerprint("sqlite", str(lite.db))
    assert lite.cli("backup").exit_code == 0
    delete_some("sqlite", str(lite.db))
    changed = fingerprint("sqlite", str(lite.db))
    assert changed != before
    res = lite.cli("restore", "--latest")
    assert res.exit_code == 0, res.output
    assert fingerprint("sqlite", str(lite.db)) == before
    [safety] = lite.backups.glob("*-pre-restore.db")
    assert f"safety backup of the previous database: {safety} (" in res.output
    res = lite.cli("restore", str(safety))
    assert res.exit_code == 0, res.output
    assert fingerprint("sqlite", str(lite.db)) == changed


def test_restore_refuses_while_the_database_is_open(lite: Lite) -> None:
    assert lite.cli("backup").exit_code == 0
    backup = lite.only_backup()
    delete_some("sqlite", str(lite.db))
    changed = fingerprint("sqlite", str(lite.db))
    server = sqlite3.connect(lite.db)  # what the server holds: a WAL connection, idle
    server.execute("PRAGMA journal_mode=WAL")
    server.execute("SELECT count(*) FROM orders").fetchall()
    try:
        res = lite.cli("restore", str(backup))
        assert res.exit_code == 1
        assert res.output == (
            f"Error: the database {lite.db} is open in another process (SQLite refused an"
            " exclusive lock): a server appears to be running on it; stop the server first"
            " (sudo systemctl stop pi5trading) or pass --force; nothing was restored\n"
        )
        assert not list(lite.backups.glob("*-pre-restore.db"))
    finally:
        server.close()
    assert fingerprint("sqlite", str(lite.db)) == changed
    res = lite.cli("restore", str(backup))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("damage", ["flip", "truncate", "no checksum"])
def test_a_damaged_backup_is_refused_and_nothing_changes(lite: Lite, damage: str) -> None:
    assert lite.cli("backup").exit_code == 0
    backup = lite.only_backup()
    side = backup.parent / (backup.name + ".sha256")
    data = bytearray(backup.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
        backup.write_bytes(bytes(data))
    elif damage == "truncate":
        backup.write_bytes(bytes(data[:4096]))
    else:
        side.unlink()
    delete_some("sqlite", str(lite.db))
    changed = fingerprint("sqlite", str(lite.db))
    stat = lite.db.stat()

    res = lite.cli("restore", str(backup))
    assert res.exit_code == 1
    if damage == "no checksum":
        expected = (
            f"Error: {backup}: no checksum file {side.name} beside it, so the backup cannot be"
            " verified; nothing was restored\n"
        )
    else:
        expected = (
            f"Error: {backup}: checksum mismatch (the file is corrupted or truncated: its"
            f" SHA-256 is not the one in {side.name}); nothing was restored\n"
        )
    assert res.output == expected
    assert fingerprint("sqlite", str(lite.db)) == changed
    assert lite.db.stat().st_mtime_ns == stat.st_mtime_ns
    assert not list(lite.backups.glob("*-pre-restore.db"))
    listing = lite.cli("backup", "--list").output
    assert f"checksum {'missing' if damage == 'no checksum' else 'mismatch'}" in listing


def test_backup_list(lite: Lite) -> None:
    res = lite.cli("backup", "--list")
    assert res.output == f"no backups in {lite.backups}\n"
    assert lite.cli("backup").exit_code == 0
    backup = lite.only_backup()
    res = lite.cli("backup", "--list")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0] == f"backups in {lite.backups}:"
    assert re.fullmatch(
        rf"  {re.escape(backup.name)}  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC +\d+\.\d kB"
        r"  checksum ok",
        lines[1],
    )


def _fake(folder: Path, when: dt.datetime, suffix: str = ".db") -> Path:
    p = folder / f"pi5trading-pi5trading-{when:%Y%m%dT%H%M%SZ}{suffix}"
    p.write_bytes(b"x")
    (folder / (p.name + ".sha256")).write_text(f"{'0' * 64}  {p.name}\n")
    return p


def test_rotation_keeps_the_days_asked_for(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 3, 2, 0, 0, tzinfo=dt.UTC)
    days = [now - dt.timedelta(days=d, minutes=1) for d in range(10)]
    made = [_fake(tmp_path, t) for t in days]
    old_safety = _fake(tmp_path, now - dt.timedelta(days=8), "-pre-restore.dump")
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    deleted = rotate(tmp_path, 7, now)
    # Younger than 7 days: 0..6 days and a minute old; 7 days and a minute is older.
    assert sorted(deleted) == sorted([*made[7:], old_safety])
    assert [Path(b.path) for b in list_backups(tmp_path)] == sorted(made[:7])
    for p in made[7:]:
        assert not (tmp_path / (p.name + ".sha256")).exists()
    assert other.exists()
    assert rotate(tmp_path, 0, now) == []


def test_backup_rotates_after_writing(lite: Lite) -> None:
    lite.backups.mkdir()
    now = dt.datetime.now(dt.UTC)
    old = _fake(lite.backups, now - dt.timedelta(days=3))
    older = _fake(lite.backups, now - dt.timedelta(days=9))
    res = lite.cli("backup")
    assert res.exit_code == 0, res.output
    assert f"deleted {older} (older than 7 days)" in res.output
    assert old.exists()
    assert not older.exists()
    res = lite.cli("backup", "--keep-days", "2")
    assert f"deleted {old} (older than 2 days)" in res.output
    assert len(list_backups(lite.backups)) == 2


def test_copy_to_a_second_folder(lite: Lite, tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    res = lite.cli("backup", "--copy-to", str(usb))
    assert res.exit_code == 0, res.output
    backup = lite.only_backup()
    copy = usb / backup.name
    assert f"copied to {copy}\n" in res.output
    assert copy.read_bytes() == backup.read_bytes()
    assert (usb / (backup.name + ".sha256")).exists()
    assert lite.cli("backup", "--list", "--dir", str(usb)).output.count("checksum ok") == 1


@pytest.fixture
def gotify() -> Iterator[tuple[GotifyStandIn, str]]:
    stand_in = GotifyStandIn()
    with serve(stand_in.app()) as base:
        yield stand_in, base


def test_copy_to_a_missing_folder_fails_and_alerts(
    tmp_path: Path, gotify: tuple[GotifyStandIn, str]
) -> None:
    stand_in, base = gotify
    lite = Lite(
        tmp_path / "data",
        PI5_ALERTS__GOTIFY_URL=base,
        PI5_ALERTS__GOTIFY_TOKEN=stand_in.token,
    )
    assert lite.cli("migrate").exit_code == 0
    missing = tmp_path / "usb" / "not-mounted"
    res = lite.cli("backup", "--copy-to", str(missing))
    assert res.exit_code == 1
    backup = lite.only_backup()
    error = (
        f"Error: cannot copy the backup to {missing}: it does not exist (not mounted?)"
        f" (the backup {backup} itself was written)\n"
    )
    assert res.output.endswith(error)
    assert not missing.exists()  # never created under an unmounted stick's mount point
    [alert] = stand_in.received
    assert alert["title"] == "pi5trading backup failed"
    assert alert["priority"] == 8
    assert alert["message"] == error.removeprefix("Error: ").rstrip("\n")


def test_copy_to_an_unwritable_folder_fails(lite: Lite, tmp_path: Path) -> None:
    a_file = tmp_path / "usb"
    a_file.write_text("")
    res = lite.cli("backup", "--copy-to", str(a_file))
    assert res.exit_code == 1
    assert f"Error: cannot copy the backup to {a_file}: it is not a folder (" in res.output
    if os.geteuid() != 0:  # root writes into a read-only folder anyway
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        res = lite.cli("backup", "--copy-to", str(ro))
        assert res.exit_code == 1
        assert f"Error: cannot copy the backup to {ro}: it is read-only (" in res.output
        assert list(ro.iterdir()) == []


def test_nothing_to_back_up(tmp_path: Path) -> None:
    lite = Lite(tmp_path / "empty")
    res = lite.cli("backup")
    assert res.exit_code == 1
    assert res.output == f"Error: no SQLite database at {lite.db}: nothing to back up\n"
    assert not lite.db.exists()


def test_restore_needs_a_file_or_latest(lite: Lite) -> None:
    res = lite.cli("restore")
    assert res.exit_code == 2
    assert "give either a BACKUP_FILE or --latest" in res.output
    res = lite.cli("restore", "--latest")
    assert res.exit_code == 1
    assert res.output == f"Error: no backup of pi5trading in {lite.backups}\n"
    res = lite.cli("restore", str(lite.db))
    assert res.exit_code == 1
    assert "not a pi5trading backup name" in res.output


def test_restore_over_a_damaged_database_needs_force_and_keeps_a_plain_copy(lite: Lite) -> None:
    before = fingerprint("sqlite", str(lite.db))
    assert lite.cli("backup").exit_code == 0
    backup = lite.only_backup()
    for side in ("-wal", "-shm"):
        Path(f"{lite.db}{side}").unlink(missing_ok=True)
    damaged = b"this is no longer a database " * 200
    lite.db.write_bytes(damaged)

    res = lite.cli("restore", str(backup))
    assert res.exit_code == 1
    assert res.output.startswith(f"Error: cannot tell whether a server is using {lite.db} (")
    assert res.output.endswith("stop the server and pass --force; nothing was restored\n")
    assert lite.db.read_bytes() == damaged

    res = lite.cli("restore", "--force", str(backup))
    assert res.exit_code == 0, res.output
    assert fingerprint("sqlite", str(lite.db)) == before
    [safety] = lite.backups.glob("*-pre-restore.db")
    assert safety.read_bytes() == damaged
    assert f"safety backup of the previous database: {safety} (" in res.output
