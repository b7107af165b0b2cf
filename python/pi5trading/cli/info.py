"""``pi5trading info``: version, core build, the effective settings and risk limits."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec

from pi5trading import __version__, build_info
from pi5trading.cli._settings import cli_settings
from pi5trading.config import ENV_PREFIX, SECRET_SETTINGS, Settings
from pi5trading.exceptions import ConfigurationError


@click.command("info")
def info_command() -> None:
    """Print the version, the Rust core build, the effective settings and risk limits as JSON."""
    settings = cli_settings()
    from pi5trading.storage.postgres import redact

    shown = msgspec.to_builtins(settings)
    shown["database"]["url"] = redact(settings.database.url)  # never print a password
    _hide_keys(shown)
    try:
        risk = _effective_risk(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    out = {
        "version": __version__,
        "core": build_info(),
        "settings": shown,
        "risk": risk,
    }
    click.echo(json.dumps(out, indent=2))


_SECRET_NAMES = frozenset({
    "key", "key_id", "api_key", "secret", "secret_key", "password", "token", "jwt_secret",
    "jwt_previous_keys", "gotify_token",
} | {name for _, name in SECRET_SETTINGS})  # fmt: skip


def _hide_keys(tree: dict[str, Any]) -> None:
    """API keys and secrets (``PI5_ALPACA__SECRET_KEY`` ...) shown only as set or not."""
    for name, value in tree.items():
        if isinstance(value, dict):
            _hide_keys(value)
        elif name in _SECRET_NAMES and isinstance(value, str):
            tree[name] = "<set>" if value else ""


def _effective_risk(settings: Settings) -> dict[str, Any]:
    """The profile and every account limit the risk engine applies, each with where its
    value comes from: ``profile``, or the variable that overrides it."""
    from pi5trading.risk import account_limits, configured_risk_engine

    engine = configured_risk_engine(settings)
    limits = {}
    for name, value in account_limits(engine).items():
        overridden = name in settings.risk.limits
        limits[name] = {
            "value": str(value) if value is not None and not isinstance(value, int) else value,
            "source": f"{ENV_PREFIX}RISK__{name.upper()}" if overridden else "profile",
        }
    return {"profile": engine.profile, "limits": limits}
