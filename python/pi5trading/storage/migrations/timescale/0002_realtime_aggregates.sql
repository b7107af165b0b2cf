-- Continuous aggregates answer with real-time aggregation: what the refresh policies have
-- materialized plus, past their watermark, the 1-minute bars not materialized yet. Without it
-- (TimescaleDB's default since 2.13) a read is behind the bars table by up to a refresh
-- interval (a day for bars_1d), and the API route for bars by interval reads these views.
ALTER MATERIALIZED VIEW bars_5m SET (timescaledb.materialized_only = false);
ALTER MATERIALIZED VIEW bars_15m SET (timescaledb.materialized_only = false);
ALTER MATERIALIZED VIEW bars_1h SET (timescaledb.materialized_only = false);
ALTER MATERIALIZED VIEW bars_1d SET (timescaledb.materialized_only = false);
