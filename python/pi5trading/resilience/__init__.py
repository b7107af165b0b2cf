"""Keeping the system up when what it depends on is not: circuit breakers."""

from pi5trading.resilience.breaker import (
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)

__all__ = ["BreakerSnapshot", "BreakerState", "CircuitBreaker", "CircuitOpenError"]
