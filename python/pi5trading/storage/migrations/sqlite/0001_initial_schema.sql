-- pi5trading schema, SQLite dialect (the embedded default). Forward-only: never edit once
-- released; add 0002_….
--
-- The same logical schema as migrations/postgres/0001_initial_schema.sql, column for column.
-- Dialect differences, all here rather than in code:
--   * money, prices, quantities: TEXT holding the exact decimal string (SQLite has no
--     decimal type and REAL would round). Numeric CHECKs live in the repository instead.
--   * booleans: INTEGER 0/1; JSON: TEXT checked with json_valid().
--   * STRICT tables, so a float slipped into a money column is an error, not a rounding.
--   * time: INTEGER UNIX nanoseconds, UTC, as on PostgreSQL.

CREATE TABLE instruments (
    instrument_id   TEXT PRIMARY KEY,
    symbol          TEXT NOT NULL,
    venue           TEXT NOT NULL,
    asset_class     TEXT NOT NULL,
    currency        TEXT NOT NULL,
    price_increment TEXT NOT NULL,
    size_increment  TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;
CREATE INDEX instruments_symbol_idx ON instruments (symbol);

CREATE TABLE bars (
    instrument_id TEXT NOT NULL,
    interval      TEXT NOT NULL,
    ts_ns         INTEGER NOT NULL,
    open          TEXT NOT NULL,
    high          TEXT NOT NULL,
    low           TEXT NOT NULL,
    close         TEXT NOT NULL,
    volume        TEXT NOT NULL,
    PRIMARY KEY (instrument_id, interval, ts_ns)
) STRICT, WITHOUT ROWID;

CREATE TABLE quote_ticks (
    instrument_id TEXT NOT NULL,
    ts_ns         INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    bid           TEXT NOT NULL,
    ask           TEXT NOT NULL,
    bid_size      TEXT NOT NULL,
    ask_size      TEXT NOT NULL,
    PRIMARY KEY (instrument_id, ts_ns, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE trade_ticks (
    instrument_id TEXT NOT NULL,
    ts_ns         INTEGER NOT NULL,
    trade_id      TEXT NOT NULL,
    price         TEXT NOT NULL,
    size          TEXT NOT NULL,
    aggressor     TEXT NOT NULL CHECK (aggressor IN ('buy', 'sell', 'none')),
    PRIMARY KEY (instrument_id, ts_ns, trade_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE orders (
    order_id        TEXT PRIMARY KEY,
    strategy_id     TEXT NOT NULL,
    instrument_id   TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT NOT NULL
        CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
    quantity        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('created', 'accepted', 'rejected',
        'submitted', 'partially_filled', 'filled', 'cancelled', 'expired')),
    created_ns      INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    time_in_force   TEXT NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok')),
    limit_price     TEXT,
    stop_price      TEXT,
    filled_quantity TEXT NOT NULL,
    avg_fill_price  TEXT,
    reason          TEXT
) STRICT;
CREATE INDEX orders_strategy_idx ON orders (strategy_id, created_ns DESC);
CREATE INDEX orders_created_idx ON orders (created_ns DESC);
CREATE INDEX orders_open_idx ON orders (instrument_id)
    WHERE status IN ('created', 'accepted', 'submitted', 'partially_filled');

CREATE TABLE order_events (
    order_id TEXT NOT NULL,
    seq      INTEGER NOT NULL CHECK (seq > 0),
    ts_ns    INTEGER NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('created', 'accepted', 'rejected',
        'submitted', 'partially_filled', 'filled', 'cancelled', 'expired')),
    reason   TEXT,
    detail   TEXT NOT NULL CHECK (json_valid(detail)),
    PRIMARY KEY (order_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE fills (
    fill_id       TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    strategy_id   TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    side          TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity      TEXT NOT NULL,
    price         TEXT NOT NULL,
    commission    TEXT NOT NULL,
    ts_ns         INTEGER NOT NULL
) STRICT;
CREATE INDEX fills_order_idx ON fills (order_id);
CREATE INDEX fills_strategy_idx ON fills (strategy_id, ts_ns DESC);

CREATE TABLE position_snapshots (
    strategy_id    TEXT NOT NULL,
    instrument_id  TEXT NOT NULL,
    ts_ns          INTEGER NOT NULL,
    quantity       TEXT NOT NULL,
    avg_price      TEXT NOT NULL,
    realized_pnl   TEXT NOT NULL,
    unrealized_pnl TEXT NOT NULL,
    PRIMARY KEY (strategy_id, instrument_id, ts_ns)
) STRICT, WITHOUT ROWID;

CREATE TABLE equity_snapshots (
    account_id     TEXT NOT NULL,
    ts_ns          INTEGER NOT NULL,
    cash           TEXT NOT NULL,
    equity         TEXT NOT NULL,
    realized_pnl   TEXT NOT NULL,
    unrealized_pnl TEXT NOT NULL,
    PRIMARY KEY (account_id, ts_ns)
) STRICT, WITHOUT ROWID;

CREATE TABLE strategies (
    strategy_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    class_path  TEXT NOT NULL,
    created_ns  INTEGER NOT NULL,
    updated_ns  INTEGER NOT NULL,
    config      TEXT NOT NULL CHECK (json_valid(config)),
    state       TEXT NOT NULL CHECK (json_valid(state)),
    status      TEXT NOT NULL CHECK (status IN ('stopped', 'running', 'paused', 'error'))
) STRICT;

CREATE TABLE strategy_runs (
    run_id      TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL REFERENCES strategies (strategy_id) ON DELETE CASCADE,
    mode        TEXT NOT NULL CHECK (mode IN ('backtest', 'paper', 'live')),
    started_ns  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'failed')),
    stopped_ns  INTEGER,
    error       TEXT
) STRICT;
CREATE INDEX strategy_runs_strategy_idx ON strategy_runs (strategy_id, started_ns DESC);

CREATE TABLE backtest_runs (
    run_id         TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    instrument_ids TEXT NOT NULL CHECK (json_valid(instrument_ids)),
    interval       TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL CHECK (end_ns >= start_ns),
    initial_cash   TEXT NOT NULL,
    created_ns     INTEGER NOT NULL,
    strategy_id    TEXT,
    params         TEXT NOT NULL CHECK (json_valid(params)),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    finished_ns    INTEGER,
    error          TEXT
) STRICT;
CREATE INDEX backtest_runs_created_idx ON backtest_runs (created_ns DESC);

CREATE TABLE backtest_results (
    run_id       TEXT PRIMARY KEY REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    final_equity TEXT NOT NULL,
    total_return REAL NOT NULL,
    max_drawdown REAL NOT NULL,
    trades       INTEGER NOT NULL CHECK (trades >= 0),
    sharpe       REAL,
    sortino      REAL,
    win_rate     REAL,
    metrics      TEXT NOT NULL CHECK (json_valid(metrics)),
    report_path  TEXT
) STRICT;

-- No seeded accounts: the first admin is created with `pi5trading create-user`.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'trader', 'viewer')),
    created_ns    INTEGER NOT NULL,
    updated_ns    INTEGER NOT NULL,
    email         TEXT UNIQUE,
    is_active     INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    last_login_ns INTEGER
) STRICT;

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    issued_ns   INTEGER NOT NULL,
    expires_ns  INTEGER NOT NULL,
    revoked_ns  INTEGER,
    replaced_by TEXT
) STRICT;
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE audit_log (
    event_id TEXT NOT NULL,
    ts_ns    INTEGER NOT NULL,
    action   TEXT NOT NULL,
    outcome  TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    actor    TEXT,
    resource TEXT,
    ip       TEXT,
    details  TEXT NOT NULL CHECK (json_valid(details)),
    PRIMARY KEY (event_id, ts_ns)
) STRICT;
CREATE INDEX audit_log_ts_idx ON audit_log (ts_ns DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, ts_ns DESC);

CREATE TABLE alerts (
    alert_id        TEXT PRIMARY KEY,
    ts_ns           INTEGER NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    source          TEXT NOT NULL,
    title           TEXT NOT NULL,
    message         TEXT NOT NULL,
    acknowledged_ns INTEGER,
    acknowledged_by TEXT
) STRICT;
CREATE INDEX alerts_ts_idx ON alerts (ts_ns DESC);
CREATE INDEX alerts_open_idx ON alerts (ts_ns DESC) WHERE acknowledged_ns IS NULL;
