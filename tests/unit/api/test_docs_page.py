"""The API docs page (/schema) works without internet: every asset comes from the package."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from pi5trading.api.app import DOCS_ASSETS_DIR, create_app
from pi5trading.config import load_settings

_REFS = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


def test_the_docs_page_loads_only_assets_this_server_serves() -> None:
    with TestClient(create_app(load_settings())) as client:
        page = client.get("/schema")
        assert page.status_code == 200
        html = page.text
        assert "Redoc.init(" in html
        refs = _REFS.findall(html)
        assert refs == ["/schema/assets/redoc.standalone.js"]
        # No CDN, no web fonts: litestar's default page loads both from the internet.
        assert "//" not in html.split("Redoc.init(")[0]
        for ref in refs:
            asset = client.get(ref)
            assert asset.status_code == 200, ref
            assert asset.headers["content-type"].startswith("text/javascript")
            assert asset.content == (DOCS_ASSETS_DIR / "redoc.standalone.js").read_bytes()
        assert len(asset.content) > 500_000  # the real bundle, not a placeholder
        assert client.get("/schema/redoc").text == html
        assert "/health" in client.get("/schema/openapi.json").json()["paths"]
        # The bundle's licence ships beside it.
        assert "MIT License" in (DOCS_ASSETS_DIR / "LICENSE").read_text()
