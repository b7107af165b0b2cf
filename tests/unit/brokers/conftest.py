"""A stand-in Alpaca paper broker on loopback and a client talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pi5trading.brokers.alpaca import AlpacaClient
from tests.standins.alpaca_trading import AlpacaPaperBroker
from tests.standins.server import serve


@pytest.fixture
def broker() -> AlpacaPaperBroker:
    return AlpacaPaperBroker()


@pytest.fixture
def base_url(broker: AlpacaPaperBroker) -> Iterator[str]:
    with serve(broker.app) as base:
        yield base


@pytest.fixture
async def client(broker: AlpacaPaperBroker, base_url: str) -> AsyncIterator[AlpacaClient]:
    c = AlpacaClient(
        key_id=broker.key_id,
        secret_key=broker.secret_key,
        base_url=base_url,
        timeout_s=1.0,
        max_retries=3,
        backoff_s=0.01,
        max_backoff_s=0.05,
    )
    try:
        yield c
    finally:
        await c.close()
