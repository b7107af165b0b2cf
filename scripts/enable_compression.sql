-- Enable TimescaleDB compression on an existing pi5trading database.
--
-- `pi5trading migrate` does all of this by itself (pi5trading/storage/migrations/timescale/) as soon as the
-- TimescaleDB extension is available. Use this script when you manage the database by hand,
-- e.g. after converting an existing PostgreSQL install:
--
--   psql "$PI5_DATABASE__URL" -v ON_ERROR_STOP=1 -f scripts/enable_compression.sql
--
-- Safe to re-run. Time columns are BIGINT UNIX nanoseconds, so intervals are nanoseconds:
-- 1 day = 86400000000000, 7 days = 604800000000000.
-- Needs: timescaledb in shared_preload_libraries, and the tables already hypertables
-- (storage/migrations/timescale/0001_hypertables.sql creates them).

\set ON_ERROR_STOP on

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RAISE EXCEPTION 'TimescaleDB is not installed in this database: install it, add it to '
            'shared_preload_libraries, restart PostgreSQL and run `pi5trading migrate`';
    END IF;
END
$$;

-- Segment by instrument (queries ask for one instrument's range), newest first.
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

-- Integer time needs an "now" function for policies (idempotent).
CREATE OR REPLACE FUNCTION pi5_unix_nanos_now() RETURNS BIGINT
    LANGUAGE SQL STABLE AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::BIGINT $$;
SELECT set_integer_now_func(t, 'pi5_unix_nanos_now', replace_if_exists => TRUE)
FROM unnest(ARRAY['bars', 'quote_ticks', 'trade_ticks', 'equity_snapshots', 'audit_log']) AS t;

-- Compress chunks older than 7 days.
SELECT add_compression_policy(t, compress_after => 604800000000000::BIGINT, if_not_exists => TRUE)
FROM unnest(ARRAY['bars', 'quote_ticks', 'trade_ticks', 'equity_snapshots', 'audit_log']) AS t;

-- Compress what is already old now, instead of waiting for the policy's first run. With
-- integer time, show_chunks' older_than is a point in time (nanoseconds since 1970), not an
-- age: "7 days ago" is now minus 7 days.
SELECT compress_chunk(c, if_not_compressed => TRUE)
FROM show_chunks('bars', older_than => pi5_unix_nanos_now() - 604800000000000) AS c;
SELECT compress_chunk(c, if_not_compressed => TRUE)
FROM show_chunks('quote_ticks', older_than => pi5_unix_nanos_now() - 604800000000000) AS c;
SELECT compress_chunk(c, if_not_compressed => TRUE)
FROM show_chunks('trade_ticks', older_than => pi5_unix_nanos_now() - 604800000000000) AS c;

-- What it saved.
SELECT hypertable_name,
       pg_size_pretty(before_compression_total_bytes) AS before,
       pg_size_pretty(after_compression_total_bytes) AS after,
       round(100.0 * (1 - after_compression_total_bytes::numeric
             / NULLIF(before_compression_total_bytes, 0)), 1) AS saved_pct
FROM (
    SELECT h.hypertable_name, s.*
    FROM timescaledb_information.hypertables AS h,
         LATERAL hypertable_compression_stats(format('%I.%I', h.hypertable_schema,
                                                     h.hypertable_name)::regclass) AS s
) AS stats
ORDER BY hypertable_name;
