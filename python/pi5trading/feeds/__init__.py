"""Market data feeds: simulated, replay and vendor feeds, aggregation, calendars (issue 12)."""
