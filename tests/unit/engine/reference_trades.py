"""An independent, plain-Python pairing of fills into round trips (Fractions, no Rust),
to check ``Engine.round_trips`` against."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def reference_round_trips(fills: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``(strategy, symbol, side, entry_ts, exit_ts, qty, avg_entry, avg_exit, fee)`` per
    round trip, in exit order; prices and quantities as Fractions of whole units."""
    pos: dict[tuple[str, str], Fraction] = {}
    cur: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for ts, sid, sym, _oid, side, q_raw, p_raw, fee_raw in fills:
        key = (sid, sym)
        qty = Fraction(q_raw, 10**9) * (1 if side == "buy" else -1)
        price, fee = Fraction(p_raw, 10**9), Fraction(fee_raw, 10**9)
        while qty:
            p = pos.get(key, Fraction(0))
            t = cur.get(key)
            if t is None:
                t = cur[key] = {
                    "sign": 1 if qty > 0 else -1,
                    "ts": ts,
                    "eq": 0,
                    "en": 0,
                    "xq": 0,
                    "xn": 0,
                    "fee": 0,
                }
            if (qty > 0) == (t["sign"] > 0):
                t["eq"] += abs(qty)
                t["en"] += abs(qty) * price
                t["fee"] += fee
                pos[key] = p + qty
                qty = Fraction(0)
            else:
                take = min(abs(qty), abs(p))
                part = fee * take / abs(qty)
                t["xq"] += take
                t["xn"] += take * price
                t["fee"] += part
                fee -= part
                step = take if qty > 0 else -take
                pos[key] = p + step
                qty -= step
                if pos[key] == 0:
                    out.append(
                        (
                            sid,
                            sym,
                            "long" if t["sign"] > 0 else "short",
                            t["ts"],
                            ts,
                            t["eq"],
                            t["en"] / t["eq"],
                            t["xn"] / t["xq"],
                            t["fee"],
                        )
                    )
                    del cur[key]
    out.sort(key=lambda r: (r[4], r[3], r[0], r[1]))
    return out
