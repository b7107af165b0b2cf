"""The dashboard shows an outage and its end: a real `pi5trading serve` trading on its own
PostgreSQL and Redis, its System page open in headless Chromium (signed in as an admin),
while the database is stopped and started, then Redis, then the node itself.

What a person must see, within seconds, without reloading: the database breaker open (the
readiness checks and the breakers card), Redis away (its check, and the live connection's
offline banner), the API gone (the banner); and each back to normal when the fault ends.
Screenshots of each state go to test-artifacts/e2e/outage-*.png.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, Page, open_system_page, shows
from tests.integration.live_node import (
    ADMIN_PASSWORD,
    base_url,
    count_fills,
    node_env,
    node_process,
    seed,
    settings_of,
    status_of,
    stop_node,
    wait_for,
)
from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


def test_the_dashboard_shows_each_outage_and_its_end(
    own_postgres: PostgresServer, own_redis: RedisServer, tmp_path: Path
) -> None:
    env = node_env(
        own_postgres.dsn,
        own_redis.url,
        f"dash{uuid.uuid4().hex[:8]}",
        tmp_path,
        PI5_DATABASE__BREAKER_RESET_TIMEOUT_S="1",
        PI5_DATABASE__COMMAND_TIMEOUT_S="5",
        PI5_FEED__SPEED="600",
        PI5_RISK__MAX_ORDERS_PER_SESSION="1000000",
    )
    seed(settings_of(env), admin="root")
    url = base_url(env)
    shots = ARTIFACTS / "e2e"
    log = tmp_path / "node.log"
    with node_process(env, log) as proc, Page.open() as page:
        wait_for("ready", lambda: status_of(url, "/ready") == 200, proc, log)
        wait_for("fills", lambda: count_fills(own_postgres.dsn) >= 3, proc, log)
        open_system_page(page, url, "root", ADMIN_PASSWORD)
        shows(page, "check('breaker:database:node') === 'up' && check('redis') === 'up'"
               " && breaker('database:node') === 'closed' && banner() === ''",
               "all well")  # fmt: skip
        page.screenshot(shots / "outage-0-all-well.png")

        # The database away: the node's breaker opens; the page says so, then closed again.
        own_postgres.stop()
        shows(page, "check('database') === 'down' && check('breaker:database:node') === 'down'"
               " && breaker('database:node') === 'open'",
               "the database breaker open")  # fmt: skip
        page.screenshot(shots / "outage-1-database-breaker-open.png")
        own_postgres.start()
        shows(page, "check('database') === 'up' && check('breaker:database:node') === 'up'"
               " && breaker('database:node') === 'closed'",
               "the database breaker closed again")  # fmt: skip

        # Redis away: its check fails and the live connection drops (1013): the banner.
        own_redis.stop()
        shows(page, "check('redis') === 'down' && banner().startsWith('Offline')",
               "Redis away and the offline banner")  # fmt: skip
        page.screenshot(shots / "outage-2-redis-away.png")
        own_redis.start()
        shows(page, "check('redis') === 'up' && banner() === ''",
               "Redis back, live again", timeout=45)  # fmt: skip

        # The API itself gone (the node stopped), then started again on the same port.
        stop_node(proc, log)
        shows(page, "banner().startsWith('Offline')", "the offline banner")
        page.screenshot(shots / "outage-3-api-offline.png")
        log2 = tmp_path / "node2.log"
        with node_process(env, log2) as proc2:
            wait_for("ready again", lambda: status_of(url, "/ready") == 200, proc2, log2)
            shows(page, "banner() === '' && check('breaker:database:node') === 'up'",
                   "back online", timeout=45)  # fmt: skip
            page.screenshot(shots / "outage-4-back.png")
            stop_node(proc2, log2)
