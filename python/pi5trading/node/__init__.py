"""The trading node: the engine on the live clock, strategies managed at run time (issue 12)."""
