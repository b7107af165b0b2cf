"""The dashboard's files at ``/``: SPA fallback, cache headers, the API untouched, and a
page saying how to build it when it is not built."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from litestar.testing import TestClient

from pi5trading.api import app as app_module
from pi5trading.api import dashboard
from pi5trading.api.app import create_app
from pi5trading.config import Settings

INDEX = (
    '<!doctype html><html><body><div id="root"></div>'
    '<script src="/assets/index-abc123.js"></script></body></html>'
)


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path) -> TestClient:  # type: ignore[type-arg]
    routes = dashboard.dashboard_routes
    monkeypatch.setattr(app_module.dashboard, "dashboard_routes", lambda: routes(dist))
    data = tmp_path / "data"
    data.mkdir()
    return TestClient(create_app(Settings(data_dir=str(data))))


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text(INDEX)
    (d / "assets" / "index-abc123.js").write_text("console.log('hi')")
    (d / "favicon.svg").write_text("<svg/>")
    (d / "assets" / "big-def456.js").write_text("x" * 5000)
    (d / "assets" / "big-def456.js.gz").write_bytes(gzip.compress(b"x" * 5000))
    return d


def test_index_and_spa_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path
) -> None:
    with _client(tmp_path, monkeypatch, dist) as client:
        for path in ("/", "/orders", "/market/AAPL", "/backtests/42"):
            res = client.get(path)
            assert res.status_code == 200, path
            assert res.text == INDEX
            assert res.headers["content-type"].startswith("text/html")
            assert res.headers["cache-control"] == "no-cache"
            assert res.headers["x-frame-options"] == "DENY"


def test_hashed_assets_are_cached_for_a_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path
) -> None:
    with _client(tmp_path, monkeypatch, dist) as client:
        res = client.get("/assets/index-abc123.js")
        assert res.status_code == 200
        assert res.text == "console.log('hi')"
        assert "javascript" in res.headers["content-type"]
        assert res.headers["cache-control"] == "public, max-age=31536000, immutable"
        other = client.get("/favicon.svg")
        assert other.status_code == 200
        assert other.headers["cache-control"] == "no-cache"
        # A missing file is a 404, not the page; no way out of the folder.
        assert client.get("/assets/missing-000.js").status_code == 404
        assert client.get("/missing.png").status_code == 404
        assert client.get("/assets/..%2F..%2Fdata%2Fjwt_secret").status_code == 404


def test_the_api_keeps_working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path) -> None:
    with _client(tmp_path, monkeypatch, dist) as client:
        assert client.get("/health").json()["status"] == "healthy"
        assert "/health" in client.get("/schema/openapi.json").json()["paths"]
        assert client.get("/metrics").status_code == 200
        # The API still wants a token, and an unknown API path is a 404 problem.
        assert client.get("/api/v1/portfolio/summary").status_code == 401
        assert client.get("/schema/nothing").status_code == 404  # litestar's own page
        for path in ("/api/v1/nothing-here", "/api", "/ws/x", "/metrics/x"):
            res = client.get(path)
            assert res.status_code == 404, path
            assert res.headers["content-type"].startswith("application/problem+json"), path
        # Not the dashboard's route in the schema.
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert "/" not in paths
        assert "/{path}" not in paths


def test_without_a_build_the_root_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _client(tmp_path, monkeypatch, tmp_path / "no-dist") as client:
        res = client.get("/")
        assert res.status_code == 200
        assert "make dashboard" in res.text
        assert res.headers["content-type"].startswith("text/html")
        assert client.get("/orders").status_code == 404
        assert client.get("/health").status_code == 200


def test_hashed_assets_go_gzipped_to_who_takes_gzip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path
) -> None:
    with _client(tmp_path, monkeypatch, dist) as client:
        res = client.get("/assets/big-def456.js", headers={"Accept-Encoding": "gzip"})
        assert res.status_code == 200
        assert res.headers["content-encoding"] == "gzip"
        assert "javascript" in res.headers["content-type"]
        assert res.headers["vary"] == "Accept-Encoding"
        assert res.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert res.content == b"x" * 5000  # the client decoded it
        plain = client.get("/assets/big-def456.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == b"x" * 5000
        assert plain.headers["vary"] == "Accept-Encoding"
