-- pi5trading schema, PostgreSQL dialect. Forward-only: never edit once released; add 0002_….
--
-- Conventions (the same logical schema as migrations/sqlite/0001_initial_schema.sql):
--   * time: BIGINT UNIX nanoseconds, UTC (*_ns), the engine's clock unit. Not timestamptz,
--     which stops at microseconds and would make SQLite and PostgreSQL disagree.
--   * money, prices, quantities: NUMERIC without a declared scale, so a value comes back
--     exactly as written; the repository rejects more than 9 decimal places (engine scale).
--   * enumerations: lower-case TEXT with CHECK constraints.
--   * engine event tables (bars, ticks, orders, order_events, fills, snapshots, audit, alerts)
--     carry natural primary keys and no foreign keys: writes are idempotent
--     (ON CONFLICT DO NOTHING) and a journal replay never fails on ordering.

CREATE TABLE instruments (
    instrument_id   TEXT PRIMARY KEY,
    symbol          TEXT NOT NULL,
    venue           TEXT NOT NULL,
    asset_class     TEXT NOT NULL,
    currency        TEXT NOT NULL,
    price_increment NUMERIC NOT NULL CHECK (price_increment > 0),
    size_increment  NUMERIC NOT NULL CHECK (size_increment > 0),
    active          BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX instruments_symbol_idx ON instruments (symbol);

CREATE TABLE bars (
    instrument_id TEXT NOT NULL,
    interval      TEXT NOT NULL,
    ts_ns         BIGINT NOT NULL,
    open          NUMERIC NOT NULL,
    high          NUMERIC NOT NULL,
    low           NUMERIC NOT NULL,
    close         NUMERIC NOT NULL,
    volume        NUMERIC NOT NULL CHECK (volume >= 0),
    PRIMARY KEY (instrument_id, interval, ts_ns),
    CHECK (low <= open AND low <= close AND high >= open AND high >= close)
);

CREATE TABLE quote_ticks (
    instrument_id TEXT NOT NULL,
    ts_ns         BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    bid           NUMERIC NOT NULL,
    ask           NUMERIC NOT NULL,
    bid_size      NUMERIC NOT NULL CHECK (bid_size >= 0),
    ask_size      NUMERIC NOT NULL CHECK (ask_size >= 0),
    PRIMARY KEY (instrument_id, ts_ns, seq)
);

CREATE TABLE trade_ticks (
    instrument_id TEXT NOT NULL,
    ts_ns         BIGINT NOT NULL,
    trade_id      TEXT NOT NULL,
    price         NUMERIC NOT NULL,
    size          NUMERIC NOT NULL CHECK (size > 0),
    aggressor     TEXT NOT NULL CHECK (aggressor IN ('buy', 'sell', 'none')),
    PRIMARY KEY (instrument_id, ts_ns, trade_id)
);

CREATE TABLE orders (
    order_id        TEXT PRIMARY KEY,
    strategy_id     TEXT NOT NULL,
    instrument_id   TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT NOT NULL
        CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
    quantity        NUMERIC NOT NULL CHECK (quantity > 0),
    status          TEXT NOT NULL CHECK (status IN ('created', 'accepted', 'rejected',
        'submitted', 'partially_filled', 'filled', 'cancelled', 'expired')),
    created_ns      BIGINT NOT NULL,
    updated_ns      BIGINT NOT NULL,
    time_in_force   TEXT NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok')),
    limit_price     NUMERIC,
    stop_price      NUMERIC,
    filled_quantity NUMERIC NOT NULL CHECK (filled_quantity >= 0),
    avg_fill_price  NUMERIC,
    reason          TEXT
);
CREATE INDEX orders_strategy_idx ON orders (strategy_id, created_ns DESC);
CREATE INDEX orders_created_idx ON orders (created_ns DESC);
CREATE INDEX orders_open_idx ON orders (instrument_id)
    WHERE status IN ('created', 'accepted', 'submitted', 'partially_filled');

CREATE TABLE order_events (
    order_id TEXT NOT NULL,
    seq      INTEGER NOT NULL CHECK (seq > 0),
    ts_ns    BIGINT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('created', 'accepted', 'rejected',
        'submitted', 'partially_filled', 'filled', 'cancelled', 'expired')),
    reason   TEXT,
    detail   JSONB NOT NULL,
    PRIMARY KEY (order_id, seq)
);

CREATE TABLE fills (
    fill_id       TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    strategy_id   TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity      NUMERIC NOT NULL CHECK (quantity > 0),
    price         NUMERIC NOT NULL,
    commission    NUMERIC NOT NULL,
    ts_ns         BIGINT NOT NULL
);
CREATE INDEX fills_order_idx ON fills (order_id);
CREATE INDEX fills_strategy_idx ON fills (strategy_id, ts_ns DESC);

CREATE TABLE position_snapshots (
    strategy_id    TEXT NOT NULL,
    instrument_id  TEXT NOT NULL,
    ts_ns          BIGINT NOT NULL,
    quantity       NUMERIC NOT NULL,
    avg_price      NUMERIC NOT NULL,
    realized_pnl   NUMERIC NOT NULL,
    unrealized_pnl NUMERIC NOT NULL,
    PRIMARY KEY (strategy_id, instrument_id, ts_ns)
);

CREATE TABLE equity_snapshots (
    account_id     TEXT NOT NULL,
    ts_ns          BIGINT NOT NULL,
    cash           NUMERIC NOT NULL,
    equity         NUMERIC NOT NULL,
    realized_pnl   NUMERIC NOT NULL,
    unrealized_pnl NUMERIC NOT NULL,
    PRIMARY KEY (account_id, ts_ns)
);

CREATE TABLE strategies (
    strategy_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    class_path  TEXT NOT NULL,
    created_ns  BIGINT NOT NULL,
    updated_ns  BIGINT NOT NULL,
    config      JSONB NOT NULL,
    state       JSONB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('stopped', 'running', 'paused', 'error'))
);

CREATE TABLE strategy_runs (
    run_id      TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies (strategy_id) ON DELETE CASCADE,
    mode        TEXT NOT NULL CHECK (mode IN ('backtest', 'paper', 'live')),
    started_ns  BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'failed')),
    stopped_ns  BIGINT,
    error       TEXT
);
CREATE INDEX strategy_runs_strategy_idx ON strategy_runs (strategy_id, started_ns DESC);

CREATE TABLE backtest_runs (
    run_id         TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    instrument_ids JSONB NOT NULL,
    interval       TEXT NOT NULL,
    start_ns       BIGINT NOT NULL,
    end_ns         BIGINT NOT NULL CHECK (end_ns >= start_ns),
    initial_cash   NUMERIC NOT NULL CHECK (initial_cash > 0),
    created_ns     BIGINT NOT NULL,
    strategy_id    TEXT,
    params         JSONB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    finished_ns    BIGINT,
    error          TEXT
);
CREATE INDEX backtest_runs_created_idx ON backtest_runs (created_ns DESC);

CREATE TABLE backtest_results (
    run_id       TEXT PRIMARY KEY REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    final_equity NUMERIC NOT NULL,
    total_return DOUBLE PRECISION NOT NULL,
    max_drawdown DOUBLE PRECISION NOT NULL,
    trades       INTEGER NOT NULL CHECK (trades >= 0),
    sharpe       DOUBLE PRECISION,
    sortino      DOUBLE PRECISION,
    win_rate     DOUBLE PRECISION,
    metrics      JSONB NOT NULL,
    report_path  TEXT
);

-- No seeded accounts: the first admin is created with `pi5trading create-user`.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'trader', 'viewer')),
    created_ns    BIGINT NOT NULL,
    updated_ns    BIGINT NOT NULL,
    email         TEXT UNIQUE,
    is_active     BOOLEAN NOT NULL,
    last_login_ns BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    issued_ns   BIGINT NOT NULL,
    expires_ns  BIGINT NOT NULL,
    revoked_ns  BIGINT,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    event_id TEXT NOT NULL,
    ts_ns    BIGINT NOT NULL,
    action   TEXT NOT NULL,
    outcome  TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    actor    TEXT,
    resource TEXT,
    ip       TEXT,
    details  JSONB NOT NULL,
    -- ts_ns is part of the key so the table can become a TimescaleDB hypertable.
    PRIMARY KEY (event_id, ts_ns)
);
CREATE INDEX audit_log_ts_idx ON audit_log (ts_ns DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, ts_ns DESC);

CREATE TABLE alerts (
    alert_id        TEXT PRIMARY KEY,
    ts_ns           BIGINT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    source          TEXT NOT NULL,
    title           TEXT NOT NULL,
    message         TEXT NOT NULL,
    acknowledged_ns BIGINT,
    acknowledged_by TEXT
);
CREATE INDEX alerts_ts_idx ON alerts (ts_ns DESC);
CREATE INDEX alerts_open_idx ON alerts (ts_ns DESC) WHERE acknowledged_ns IS NULL;
