"""Alerts to a phone: the node's important events pushed to a Gotify server.

What is sent (title, message, Gotify priority by severity: info 2, warning 5, critical 8):
the trading state changing (a daily-loss or drawdown halt is critical), a strategy failing,
a feed going stale, failing or reconnecting, a circuit breaker opening or closing, and —
when ``PI5_ALERTS__FILLS`` is on — every fill.

A storm does not flood the phone: an alert whose key (kind + subject) was sent less than
``PI5_ALERTS__REPEAT_S`` ago is folded into a count and mentioned with the next one of that
key, and at most ``PI5_ALERTS__MAX_PER_MINUTE`` go out per minute (the rest are counted and
summarised). Sending happens from a task on the event loop, never the node's thread, behind
its own circuit breaker: Gotify being down costs a log line, not the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Final, Literal

import httpx
import msgspec

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.events import FeedStatus, StrategyStatus
from pi5trading.resilience import CircuitBreaker, CircuitOpenError
from pi5trading.sinks.handoff import Handoff

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
PRIORITY: Final[dict[Severity, int]] = {"info": 2, "warning": 5, "critical": 8}


class Alert(msgspec.Struct, frozen=True):
    key: str
    """What repeats of the same alert share (kind and subject)."""
    severity: Severity
    title: str
    message: str


def alert_for(m: object, *, fills: bool) -> Alert | None:
    """The alert a bus payload makes, if any."""
    if isinstance(m, _core.RiskEvent) and m.kind == "state_changed":
        who = m.strategy_id or "account"
        halted = m.to_state == "halted"
        severity: Severity = (
            "critical" if halted else "warning" if m.to_state == "reducing" else "info"
        )
        return Alert(
            f"risk:{who}", severity, f"Trading {m.to_state} ({who})",
            f"{m.from_state} → {m.to_state}, cause {m.cause}: {m.message}",
        )  # fmt: skip
    if isinstance(m, StrategyStatus) and m.status == "failed":
        last = (m.error or "").strip().splitlines()[-1:] or [""]
        return Alert(f"strategy:{m.strategy_id}", "critical",
                     f"Strategy {m.strategy_id} failed", f"stopped: {last[0]}")  # fmt: skip
    if isinstance(m, FeedStatus) and m.status in ("stale", "failed", "reconnecting"):
        severity = "critical" if m.status == "failed" else "warning"
        return Alert(f"feed:{m.feed}:{m.status}", severity, f"Feed {m.feed} {m.status}", m.message)
    if fills and isinstance(m, _core.OrderEvent) and m.fill is not None:
        f = m.fill
        return Alert(
            f"fill:{m.client_order_id}:{f.trade_id}", "info",
            f"Fill {f.side} {f.quantity} {m.instrument}",
            f"{m.strategy_id} {m.client_order_id} @ {f.price}",
        )  # fmt: skip
    return None


class GotifyAlerts:
    """Use as ``alerts.subscribe(bus); await alerts.start(); …; await alerts.close()``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        fills: bool = False,
        repeat_s: float = 300.0,
        max_per_minute: int = 10,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.fills = fills
        self.repeat_s = repeat_s
        self.max_per_minute = max_per_minute
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._own_client = client is None
        self.breaker = CircuitBreaker("gotify", failure_threshold=3, reset_timeout=60.0)
        self._handoff = Handoff()
        self._pending: list[Alert] = []
        self._last_sent: dict[str, float] = {}
        self._folded: dict[str, int] = {}
        self._window: deque[float] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent = 0
        self.suppressed = 0
        self.failed = 0

    def __repr__(self) -> str:  # the token stays out of logs
        return f"GotifyAlerts(url={self.url!r}, token=***)"

    # -- bus side (the node's engine thread) --

    def subscribe(self, bus: _core.Bus) -> list[int]:
        topics = [f"{ev.ORDERS}.>"] if self.fills else []
        topics += [ev.RISK_STATE, ev.STRATEGY_STATUS, ev.FEED_STATUS]
        return [bus.subscribe(t, self.on_messages, -200, batch=True) for t in topics]

    def on_messages(self, messages: Sequence[object]) -> None:
        alerts = [a for m in messages if (a := alert_for(m, fills=self.fills)) is not None]
        if alerts:
            self._handoff.put(alerts)

    def watch_breaker(self, breaker: CircuitBreaker, what: str) -> None:
        """Alert when ``breaker`` opens (critical) and closes again (info)."""

        def changed(old: object, new: object) -> None:
            state = str(getattr(new, "value", new))
            severity: Severity = "critical" if state == "open" else "info"
            was = getattr(old, "value", old)
            text = f"the {what} circuit breaker went {was} → {state}"
            self.put(Alert(f"breaker:{what}:{state}", severity, f"{what}: circuit {state}", text))

        breaker.add_listener(changed)

    def watch_pause(self, what: str, waited: float | None) -> None:
        """A ``TradingNode.on_pause`` listener: trading standing still for ``what``
        (critical), and going on after ``waited`` seconds (info)."""
        if waited is None:
            self.put(Alert("node:paused", "critical", f"Trading paused: waiting for {what}",
                           f"the engine and its feeds wait until {what} catches up"))  # fmt: skip
        else:
            self.put(Alert("node:resumed", "info", "Trading goes on",
                           f"after {waited:.0f} s waiting for {what}"))  # fmt: skip

    def put(self, alert: Alert) -> None:
        """Queue an alert from any thread (the reconciliation, an operator's script)."""
        self._handoff.put([alert])

    # -- loop side --

    async def start(self) -> None:
        if self._task is None:
            self._handoff.bind()
            self._task = asyncio.create_task(self._run(), name="pi5trading-gotify")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._handoff.notify()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._send_due()
        if self._own_client:
            await self._client.aclose()

    async def flush(self) -> None:
        await self._send_due()

    async def _run(self) -> None:
        while not self._closed:
            await self._handoff.wait(1.0)
            try:
                await self._send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alerts: sending failed")

    async def _send_due(self) -> None:
        for item in self._handoff.take():
            assert isinstance(item, Alert)
            self._pending.append(item)
        pending, self._pending = self._pending, []
        now = time.monotonic()
        while self._window and now - self._window[0] >= 60:
            self._window.popleft()
        for alert in pending:
            last = self._last_sent.get(alert.key)
            if last is not None and now - last < self.repeat_s:
                self._folded[alert.key] = self._folded.get(alert.key, 0) + 1
                self.suppressed += 1
                continue
            if len(self._window) >= self.max_per_minute:
                self._folded["(rate limit)"] = self._folded.get("(rate limit)", 0) + 1
                self.suppressed += 1
                continue
            folded = self._folded.pop(alert.key, 0) + (
                self._folded.pop("(rate limit)", 0) if alert.severity == "critical" else 0
            )
            message = alert.message
            if folded:
                message += f"\n({folded} similar alert(s) held back before this one)"
            if await self._post(alert, message):
                self._last_sent[alert.key] = now
                self._window.append(now)

    async def _post(self, alert: Alert, message: str) -> bool:
        body = {"title": alert.title, "message": message, "priority": PRIORITY[alert.severity]}

        async def send() -> None:
            try:
                r = await self._client.post(
                    f"{self.url}/message", json=body, headers={"X-Gotify-Key": self._token}
                )
            except httpx.HTTPError as exc:
                raise ConnectionError(
                    f"Gotify at {self.url} unreachable: {type(exc).__name__}"
                ) from None
            if r.status_code >= 400:
                raise ConnectionError(f"Gotify at {self.url} answered {r.status_code}")

        try:
            await self.breaker.call(send)
        except (ConnectionError, CircuitOpenError) as exc:
            self.failed += 1
            log.warning("alert %r not sent: %s", alert.title, exc)
            return False
        self.sent += 1
        return True


__all__ = ["PRIORITY", "Alert", "GotifyAlerts", "alert_for"]
