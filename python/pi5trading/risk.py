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

A run lists the orders its risk engine refused as ``DenialRecord``s (time, strategy,
order id and the ``Denial``). ``RiskEvent`` reports trading-state changes and new risk
sessions (``drain_events()``).
``position_size(method, equity, price, ...)`` sizes an order without an account;
``RiskEngine.size_order`` clips the size to the limits. Money, quantities and fractions
are ``Decimal``/``str``/``int`` (never ``float``). Every check, profile and sizing method:
``docs/risk.md``.
"""

from __future__ import annotations

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

__all__ = [
    "Denial",
    "DenialRecord",
    "RiskAccount",
    "RiskEngine",
    "RiskEvent",
    "denial_codes",
    "limit_names",
    "position_size",
    "risk_profiles",
]
