"""Log lines: JSON off a terminal with the request's id; the id sent back to the client."""

from __future__ import annotations

import json
import logging

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from pi5trading.api.logs import add_request_id, configure_logging, request_ids


@get("/work", sync_to_thread=False)
def work() -> str:
    logging.getLogger("pi5trading.test").warning("did the work for %s", "alice")
    return "ok"


def test_httpx_says_each_request_only_at_debug() -> None:
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.handlers[:], root.level, httpx_log.level)
    try:
        configure_logging("INFO", "text")
        assert not httpx_log.isEnabledFor(logging.INFO)  # one line per poll and broker call
        assert httpx_log.isEnabledFor(logging.WARNING)
        configure_logging("DEBUG", "text")
        assert httpx_log.isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        httpx_log.setLevel(saved[2])


def test_json_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", "json")
        app = Litestar(
            route_handlers=[work],
            middleware=[request_ids],
            before_send=[add_request_id],
            logging_config=None,
        )
        with TestClient(app) as c:
            r = c.get("/work", headers={"X-Request-ID": "abc-123"})
            assert r.headers["x-request-id"] == "abc-123"
            made = c.get("/work").headers["x-request-id"]
            assert len(made) == 32
            bad = c.get("/work", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
            assert bad != "x" * 500
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        mine = [x for x in lines if x["logger"] == "pi5trading.test"]
        assert [x["request_id"] for x in mine] == ["abc-123", made, bad]
        assert mine[0]["message"] == "did the work for alice"
        assert mine[0]["level"] == "WARNING"
        assert mine[0]["time"].endswith("Z")
        logging.getLogger("pi5trading.test").info("outside a request")
        out = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert out["request_id"] == "-"
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
