"""The Litestar web API (served with the dashboard)."""

from pi5trading.api.app import create_app

__all__ = ["create_app"]
