"""Sizes for the tests the long run repeats at scale (``make proof``, scripts/dev/proof.py).

``make test`` runs them CI-sized; ``PROOF_SCALE=N`` multiplies their example counts
(Hypothesis ``max_examples``, schemathesis examples per route and role)."""

from __future__ import annotations

import os


def scale() -> int:
    raw = os.environ.get("PROOF_SCALE", "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"PROOF_SCALE={raw!r}: expected a whole number >= 1") from None
    if value < 1:
        raise ValueError(f"PROOF_SCALE={raw!r}: expected a whole number >= 1")
    return value


def examples(ci: int) -> int:
    """``ci`` examples in the test command, ``ci * PROOF_SCALE`` in the long run."""
    return ci * scale()
