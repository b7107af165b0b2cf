"""The API's OpenAPI schema without a server: ``python -m pi5trading.api.schema [FILE]``.

The dashboard's typed client (``frontend/src/api/schema.d.ts``) is generated from it; the
settings are the defaults, with a throwaway data folder (the embedded default would keep a
signing key in the real one).
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

import msgspec


def openapi_schema() -> dict[str, Any]:
    """The schema ``/schema/openapi.json`` serves, as a dict."""
    from pi5trading.api.app import create_app
    from pi5trading.config import Settings

    with tempfile.TemporaryDirectory(prefix="pi5-schema-") as data_dir:
        app = create_app(Settings(data_dir=data_dir))
        schema: dict[str, Any] = msgspec.json.decode(
            msgspec.json.encode(app.openapi_schema.to_schema())
        )
    return schema


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(openapi_schema(), indent=2, sort_keys=True) + "\n"
    if args and args[0] != "-":
        with open(args[0], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()

__all__ = ["main", "openapi_schema"]
