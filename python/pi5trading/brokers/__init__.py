"""Execution clients between the engine and a venue: simulated, Alpaca (issue 12)."""
