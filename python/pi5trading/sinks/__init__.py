"""Sinks of the node's events: storage records, latest-state cache, channels, metrics (issue 12)."""
