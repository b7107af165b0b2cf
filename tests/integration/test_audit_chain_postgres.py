"""The audit log's hash chain on the real PostgreSQL: rows edited and deleted by hand are
found by `pi5trading audit verify`, which names the first broken link."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg
import pytest

from pi5trading.config import load_settings
from pi5trading.storage.connect import open_repository
from pi5trading.storage.records import AuditRow

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000_000_000


def verify(dsn: str) -> tuple[int, str, str]:
    r = subprocess.run(
        [sys.executable, "-m", "pi5trading", "audit", "verify", "--database-url", dsn],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r.returncode, r.stdout, r.stderr


def sql(dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def test_verify_names_the_first_edited_or_deleted_row(pg_dsn: str) -> None:
    settings = load_settings(env={"PI5_DATABASE__URL": pg_dsn}, dotenv_path=None)

    async def write() -> None:
        repo = await open_repository(settings)
        try:
            # Two writers at once extend one chain (the advisory lock).
            batches = [
                [
                    AuditRow(
                        f"w{w}-{i}",
                        T0 + 100 * w + i,
                        "order.submit",
                        "success",
                        f"user{w}",
                        details={"qty": str(i)},
                    )
                    for i in range(25)
                ]
                for w in range(4)
            ]
            await asyncio.gather(*(repo.write(b) for b in batches))
        finally:
            await repo.close()

    asyncio.run(write())
    code, out, err = verify(pg_dsn)
    assert code == 0, err
    assert "audit chain intact: 100 rows checked (rows 1-100)" in out

    # An edit: the row's content no longer matches its hash.
    sql(pg_dsn, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 40")
    code, out, err = verify(pg_dsn)
    assert code == 1
    assert "BROKEN at row 40" in err
    assert "edited" in err
    # Put back, then delete two rows: the gap is named.
    sql(pg_dsn, "UPDATE audit_log SET outcome = 'success' WHERE seq = 40")
    assert verify(pg_dsn)[0] == 0
    sql(pg_dsn, "DELETE FROM audit_log WHERE seq IN (61, 62)")
    code, out, err = verify(pg_dsn)
    assert code == 1
    assert "BROKEN at row 63" in err
    assert "61-62 are missing" in err
    # --json for scripts.
    r = subprocess.run(
        [sys.executable, "-m", "pi5trading", "audit", "verify", "--json", "--database-url", pg_dsn],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    verdict = json.loads(r.stdout)
    assert (verdict["ok"], verdict["broken_at"], verdict["checked"]) == (False, 63, 60)
