-- TimescaleDB features, applied by `pi5trading migrate` only when the extension can be
-- loaded (timescaledb in pg_available_extensions and in shared_preload_libraries). On plain
-- PostgreSQL this series is skipped, logged, and listed by `pi5trading migrate --status`;
-- it is applied by the first `migrate` after TimescaleDB is installed (migrate_data moves
-- existing rows into chunks).
--
-- Time columns are BIGINT UNIX nanoseconds, so chunk sizes, policies and buckets are in
-- nanoseconds and each hypertable gets an "integer now" function.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE OR REPLACE FUNCTION pi5_unix_nanos_now() RETURNS BIGINT
    LANGUAGE SQL STABLE AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::BIGINT $$;

-- Chunks: one day for market data, one week for equity, 30 days for the audit log.
SELECT create_hypertable('bars', 'ts_ns', chunk_time_interval => 86400000000000,
                         migrate_data => TRUE, if_not_exists => TRUE);
SELECT create_hypertable('quote_ticks', 'ts_ns', chunk_time_interval => 86400000000000,
                         migrate_data => TRUE, if_not_exists => TRUE);
SELECT create_hypertable('trade_ticks', 'ts_ns', chunk_time_interval => 86400000000000,
                         migrate_data => TRUE, if_not_exists => TRUE);
SELECT create_hypertable('equity_snapshots', 'ts_ns', chunk_time_interval => 604800000000000,
                         migrate_data => TRUE, if_not_exists => TRUE);
SELECT create_hypertable('audit_log', 'ts_ns', chunk_time_interval => 2592000000000000,
                         migrate_data => TRUE, if_not_exists => TRUE);

SELECT set_integer_now_func(t, 'pi5_unix_nanos_now', replace_if_exists => TRUE)
FROM unnest(ARRAY['bars', 'quote_ticks', 'trade_ticks', 'equity_snapshots', 'audit_log']) AS t;

-- Compression: segment by instrument, newest first; compress chunks older than 7 days.
-- Every primary-key column is in segmentby or orderby, as compression requires.
-- (`pi5trading migrate` re-applies policies from PI5_DATABASE__COMPRESS_AFTER_DAYS and the
-- retention settings after this series.)
ALTER TABLE bars SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'instrument_id, "interval"',
    timescaledb.compress_orderby = 'ts_ns DESC');
ALTER TABLE quote_ticks SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'instrument_id',
    timescaledb.compress_orderby = 'ts_ns DESC, seq DESC');
ALTER TABLE trade_ticks SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'instrument_id',
    timescaledb.compress_orderby = 'ts_ns DESC, trade_id');
ALTER TABLE equity_snapshots SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'account_id',
    timescaledb.compress_orderby = 'ts_ns DESC');
ALTER TABLE audit_log SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'action',
    timescaledb.compress_orderby = 'ts_ns DESC, event_id');

SELECT add_compression_policy(t, compress_after => 604800000000000::BIGINT, if_not_exists => TRUE)
FROM unnest(ARRAY['bars', 'quote_ticks', 'trade_ticks', 'equity_snapshots', 'audit_log']) AS t;

-- Continuous aggregates of 1-minute bars. Buckets are UTC-aligned nanosecond widths.
CREATE MATERIALIZED VIEW bars_5m WITH (timescaledb.continuous) AS
SELECT instrument_id, time_bucket(300000000000::BIGINT, ts_ns) AS ts_ns,
       first(open, ts_ns) AS open, max(high) AS high, min(low) AS low,
       last(close, ts_ns) AS close, sum(volume) AS volume
FROM bars WHERE "interval" = '1m'
GROUP BY instrument_id, time_bucket(300000000000::BIGINT, ts_ns) WITH NO DATA;

CREATE MATERIALIZED VIEW bars_15m WITH (timescaledb.continuous) AS
SELECT instrument_id, time_bucket(900000000000::BIGINT, ts_ns) AS ts_ns,
       first(open, ts_ns) AS open, max(high) AS high, min(low) AS low,
       last(close, ts_ns) AS close, sum(volume) AS volume
FROM bars WHERE "interval" = '1m'
GROUP BY instrument_id, time_bucket(900000000000::BIGINT, ts_ns) WITH NO DATA;

CREATE MATERIALIZED VIEW bars_1h WITH (timescaledb.continuous) AS
SELECT instrument_id, time_bucket(3600000000000::BIGINT, ts_ns) AS ts_ns,
       first(open, ts_ns) AS open, max(high) AS high, min(low) AS low,
       last(close, ts_ns) AS close, sum(volume) AS volume
FROM bars WHERE "interval" = '1m'
GROUP BY instrument_id, time_bucket(3600000000000::BIGINT, ts_ns) WITH NO DATA;

CREATE MATERIALIZED VIEW bars_1d WITH (timescaledb.continuous) AS
SELECT instrument_id, time_bucket(86400000000000::BIGINT, ts_ns) AS ts_ns,
       first(open, ts_ns) AS open, max(high) AS high, min(low) AS low,
       last(close, ts_ns) AS close, sum(volume) AS volume
FROM bars WHERE "interval" = '1m'
GROUP BY instrument_id, time_bucket(86400000000000::BIGINT, ts_ns) WITH NO DATA;

-- Refresh the recent past regularly; start/end offsets are in nanoseconds.
SELECT add_continuous_aggregate_policy('bars_5m', start_offset => 3600000000000::BIGINT,
    end_offset => 300000000000::BIGINT, schedule_interval => INTERVAL '5 minutes');
SELECT add_continuous_aggregate_policy('bars_15m', start_offset => 10800000000000::BIGINT,
    end_offset => 900000000000::BIGINT, schedule_interval => INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('bars_1h', start_offset => 86400000000000::BIGINT,
    end_offset => 3600000000000::BIGINT, schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('bars_1d', start_offset => 604800000000000::BIGINT,
    end_offset => 86400000000000::BIGINT, schedule_interval => INTERVAL '1 day');
