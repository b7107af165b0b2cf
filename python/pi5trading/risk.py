"""Pre-trade risk: limits, trading state and position sizing.

Every order passes one ``RiskEngine`` before it reaches the venue. A refusal is data, not
an exception: a ``Denial`` with a machine code (``denial_codes()``), the level that
refused it, the limit and the value that broke it::

    from pi5trading.risk import RiskAccount, RiskEngine

    risk = RiskEngine("default")        # a profile: risk_profiles()
    risk.set_limit("max_notional", "20000")                   # the account
    risk.set_limit("max_quantity", 100, strategy_id="momentum")
    account = RiskAccount("100000")     # or a venue's Portfolio
    account.set_last_price("AAPL", "190.10")
    denial = risk.check(account, "momentum", "AAPL", "buy", 50, price="190.12", ts=now_ns)

The limits of a node or a CLI backtest come from settings (``PI5_RISK__PROFILE`` and
``PI5_RISK__<LIMIT>``, see ``docs/configuration.md``): ``configured_risk_engine(settings)``
builds that engine, ``build_risk_engine(profile, limits)`` one from explicit values.

A run lists the orders its risk engine refused as ``DenialRecord``s (time, strategy,
order id and the ``Denial``). ``RiskEvent`` reports trading-state changes and new risk
sessions (``drain_events()``).
``position_size(method, equity, price, ...)`` sizes an order without an account;
``RiskEngine.size_order`` clips the size to the limits. Money, quantities and fractions
are ``Decimal``/``str``/``int`` (never ``float``). Every check, profile and sizing method:
``docs/risk.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pi5trading._core import (
    Denial,
    DenialRecord,
    RiskAccount,
    RiskEngine,
    RiskEvent,
    denial_codes,
    limit_names,
    position_size,
    risk_profiles,
)
from pi5trading.config import ENV_PREFIX, RISK_LIMITS, RISK_PROFILES, RiskLimitValue, Settings
from pi5trading.exceptions import ConfigurationError


def build_risk_engine(
    profile: str = "default", limits: Mapping[str, RiskLimitValue] | None = None
) -> RiskEngine:
    """``profile``'s engine with the account limits in ``limits`` replacing its values
    (``None`` switches a limit off). A bad name or value is a ``ConfigurationError``."""
    return _build(profile, limits or {}, from_settings=False)


def configured_risk_engine(settings: Settings) -> RiskEngine:
    """The engine the settings describe: ``PI5_RISK__PROFILE`` with the ``PI5_RISK__<LIMIT>``
    overrides; an error names the variable."""
    return _build(settings.risk.profile, settings.risk.limits, from_settings=True)


def account_limits(engine: RiskEngine) -> dict[str, RiskLimitValue]:
    """Every account limit of ``engine`` by name, in docs/risk.md order (``None`` = off)."""
    return {name: engine.get_limit(name) for name in RISK_LIMITS}


def _build(
    profile: str, limits: Mapping[str, RiskLimitValue], *, from_settings: bool
) -> RiskEngine:
    def label(name: str) -> str:
        if from_settings:
            return f"{ENV_PREFIX}RISK__{name.upper()}"
        return "risk profile" if name == "profile" else f"risk limit {name}"

    if profile not in RISK_PROFILES:
        # Checked here too, to name the setting (RISK_PROFILES, the core's risk_profiles(),
        # is the one list the CLI, the settings and this error share).
        raise ConfigurationError(
            f"{label('profile')}: unknown risk profile {profile!r} "
            f"(one of {', '.join(RISK_PROFILES)})"
        )
    try:
        engine = RiskEngine(profile)
    except ValueError as exc:
        raise ConfigurationError(f"{label('profile')}: {exc}") from exc
    for name, value in limits.items():
        if name not in RISK_LIMITS:
            raise ConfigurationError(f"{label(name)}: not an account risk limit")
        try:
            engine.set_limit(name, value)
        except (ValueError, TypeError) as exc:  # the core's own range checks
            raise ConfigurationError(f"{label(name)}={value}: {exc}") from exc
    return engine


__all__ = [
    "Denial",
    "DenialRecord",
    "RiskAccount",
    "RiskEngine",
    "RiskEvent",
    "account_limits",
    "build_risk_engine",
    "configured_risk_engine",
    "denial_codes",
    "limit_names",
    "position_size",
    "risk_profiles",
]
