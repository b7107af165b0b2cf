"""A reconciliation with the stand-in Alpaca broker recorded in the real PostgreSQL audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from pi5trading.brokers.alpaca import AlpacaClient
from pi5trading.brokers.execution import OrderRequest
from pi5trading.brokers.reconcile import LocalState, reconcile
from pi5trading.config import load_settings
from pi5trading.storage.connect import storage_lifespan
from tests.contract.databases import create_pg_database, drop_pg_database
from tests.services import PostgresServer
from tests.standins.alpaca_trading import AlpacaPaperBroker
from tests.standins.server import serve

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> Iterator[str]:
    name, url = create_pg_database(postgres_server, "broker")
    try:
        yield url
    finally:
        drop_pg_database(postgres_server, name)


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[AlpacaPaperBroker, AlpacaClient]]:
    broker = AlpacaPaperBroker()
    with serve(broker.app) as base:
        client = AlpacaClient(key_id=broker.key_id, secret_key=broker.secret_key, base_url=base)
        try:
            yield broker, client
        finally:
            await client.close()


async def test_differences_land_in_the_audit_log(
    dsn: str, tmp_path: Path, alpaca: tuple[AlpacaPaperBroker, AlpacaClient]
) -> None:
    broker, client = alpaca
    await client.submit(
        OrderRequest(
            client_order_id="m-1",
            instrument="AAPL",
            side="buy",
            order_type="market",
            quantity=Decimal(7),
        )
    )
    broker.add_foreign_order("MSFT", Decimal(1), Decimal("400"))
    settings = load_settings(
        env={"PI5_DATA_DIR": str(tmp_path), "PI5_DATABASE__URL": dsn}, dotenv_path=None
    )
    async with storage_lifespan(settings) as (repository, _writer):
        report = await reconcile(client, LocalState(), record=repository.write)
        again = await reconcile(client, LocalState(), record=repository.write)
        stored = await repository.list_audit(limit=100)
    kinds = sorted(d.kind for d in report.differences)
    assert kinds == ["missing_fill", "position_mismatch", "unknown_order"]
    assert len(stored) == 2 * (1 + len(kinds))  # each run and each of its differences
    by_run = {r.event_id for r in stored if r.action == "broker.reconcile"}
    assert by_run == {f"reconcile-{report.run_id}", f"reconcile-{again.run_id}"}
    position = next(r for r in stored if r.action == "broker.reconcile.position_mismatch")
    assert position.resource == "position:AAPL"
    assert position.details["broker_quantity"] == "7"
