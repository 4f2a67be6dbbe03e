-- arbitrade schema: every table of DESIGN.md.
--
-- Rows written by the sink are keyed by the message id (a UUIDv7), so a
-- redelivered message is dropped by ON CONFLICT DO NOTHING. Rows that refer to
-- rows of another stream (an order to its trade, a trade to its opportunity)
-- carry the id in an indexed column, not a foreign key: independent streams
-- arrive in no fixed order. Money is NUMERIC, times are timestamptz.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- ---------------------------------------------------------------- configuration

CREATE TABLE config_sections (
    id          SERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE config_settings (
    key         TEXT PRIMARY KEY,
    section_id  INTEGER REFERENCES config_sections (id) ON DELETE SET NULL,
    value       JSONB NOT NULL,
    description TEXT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX config_settings_section_idx ON config_settings (section_id);
CREATE INDEX config_settings_updated_idx ON config_settings (updated_at);

CREATE TABLE config_pairings (
    id          SERIAL PRIMARY KEY,
    base_asset  TEXT NOT NULL,
    quote_asset TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT true,
    venues      TEXT[] NOT NULL DEFAULT '{}',
    min_notional NUMERIC,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT config_pairings_base_quote_key UNIQUE (base_asset, quote_asset),
    CONSTRAINT config_pairings_distinct_assets CHECK (base_asset <> quote_asset)
);

CREATE TABLE config_backtesting_defaults (
    id               SERIAL PRIMARY KEY,
    start_currency   TEXT NOT NULL DEFAULT 'USD',
    initial_balance  NUMERIC NOT NULL DEFAULT 10000,
    min_net_edge_bps NUMERIC NOT NULL DEFAULT 5,
    max_notional     NUMERIC NOT NULL DEFAULT 10000,
    fees             JSONB NOT NULL DEFAULT '{}',
    params           JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- market data

-- One row per published book snapshot, partitioned by day of its event time.
-- Partitions are named market_snapshots_pYYYYMMDD; the sink creates them ahead
-- of time (arb_ensure_market_partitions) and arbctl db prune drops old ones.
CREATE TABLE market_snapshots (
    id          UUID NOT NULL,
    ts          TIMESTAMPTZ NOT NULL,
    received_ts TIMESTAMPTZ NOT NULL,
    venue       TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    sequence    BIGINT,
    checksum    TEXT NOT NULL,
    best_bid    NUMERIC,
    best_ask    NUMERIC,
    bid_prices  NUMERIC[] NOT NULL,
    bid_sizes   NUMERIC[] NOT NULL,
    ask_prices  NUMERIC[] NOT NULL,
    ask_sizes   NUMERIC[] NOT NULL,
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX market_snapshots_venue_symbol_ts_idx ON market_snapshots (venue, symbol, ts);
CREATE INDEX market_snapshots_ts_idx ON market_snapshots USING brin (ts);

CREATE FUNCTION arb_market_partition_name(day DATE) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$ SELECT 'market_snapshots_p' || to_char(day, 'YYYYMMDD') $$;

-- Creates the partition of each day in [first_day, first_day + days); returns
-- the names it created. Safe to call concurrently.
CREATE FUNCTION arb_ensure_market_partitions(first_day DATE, days INTEGER)
RETURNS SETOF TEXT LANGUAGE plpgsql AS $$
DECLARE
    d DATE;
    part TEXT;
BEGIN
    FOR i IN 0 .. GREATEST(days, 1) - 1 LOOP
        d := first_day + i;
        part := arb_market_partition_name(d);
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF market_snapshots FOR VALUES FROM (%L) TO (%L)',
                    part, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
                RETURN NEXT part;
            EXCEPTION WHEN duplicate_table THEN
                NULL; -- another sink created it first
            END;
        END IF;
    END LOOP;
END $$;

-- Drops every partition whose whole day lies before cutoff; returns their names.
CREATE FUNCTION arb_drop_market_partitions(cutoff TIMESTAMPTZ)
RETURNS SETOF TEXT LANGUAGE plpgsql AS $$
DECLARE
    part RECORD;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'market_snapshots'::regclass
          AND c.relname ~ '^market_snapshots_p[0-9]{8}$'
          AND (to_date(substring(c.relname FROM 19), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        RETURN NEXT part.relname;
    END LOOP;
END $$;

-- ---------------------------------------------------------------- opportunities

-- One row per opportunity message: an episode has one open, some updates, one close.
CREATE TABLE opportunities (
    id              UUID PRIMARY KEY,
    episode_id      UUID NOT NULL,
    kind            TEXT NOT NULL,
    key             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'update', 'close')),
    book_ts         TIMESTAMPTZ NOT NULL,
    received_ts     TIMESTAMPTZ,
    published_ts    TIMESTAMPTZ,
    currency        TEXT NOT NULL,
    notional        NUMERIC NOT NULL,
    gross_edge_bps  NUMERIC NOT NULL,
    net_edge_bps    NUMERIC NOT NULL,
    expected_profit NUMERIC NOT NULL,
    peak_edge_bps   NUMERIC,
    opened_ts       TIMESTAMPTZ,
    duration_ms     BIGINT,
    legs            JSONB NOT NULL,
    inserted_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX opportunities_episode_idx ON opportunities (episode_id);
CREATE INDEX opportunities_book_ts_idx ON opportunities (book_ts);
CREATE INDEX opportunities_kind_key_ts_idx ON opportunities (kind, key, book_ts);

-- ---------------------------------------------------------------- execution

CREATE TABLE trades (
    id              UUID PRIMARY KEY,
    ts              TIMESTAMPTZ NOT NULL,
    opportunity_id  UUID,
    strategy        TEXT NOT NULL,
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    notional        NUMERIC NOT NULL,
    fees            NUMERIC NOT NULL,
    realized_pnl    NUMERIC NOT NULL,
    expected_profit NUMERIC,
    legs            JSONB NOT NULL,
    inserted_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX trades_opportunity_idx ON trades (opportunity_id);
CREATE INDEX trades_ts_idx ON trades (ts);
CREATE INDEX trades_strategy_ts_idx ON trades (strategy, ts);

-- One row per order event (new, partially_filled, filled, rejected, cancelled).
CREATE TABLE orders (
    id             UUID PRIMARY KEY,
    ts             TIMESTAMPTZ NOT NULL,
    order_id       UUID NOT NULL,
    venue_order_id TEXT,
    trade_id       UUID,
    opportunity_id UUID,
    strategy       TEXT NOT NULL,
    venue          TEXT NOT NULL,
    symbol         TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type     TEXT NOT NULL,
    status         TEXT NOT NULL,
    price          NUMERIC,
    qty            NUMERIC NOT NULL,
    filled_qty     NUMERIC NOT NULL,
    avg_fill_price NUMERIC,
    fee            NUMERIC NOT NULL,
    fee_currency   TEXT,
    reason         TEXT,
    inserted_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_order_id_idx ON orders (order_id, ts);
CREATE INDEX orders_trade_idx ON orders (trade_id);
CREATE INDEX orders_opportunity_idx ON orders (opportunity_id);
CREATE INDEX orders_venue_symbol_ts_idx ON orders (venue, symbol, ts);
CREATE INDEX orders_ts_idx ON orders (ts);

CREATE TABLE pnl_events (
    id                  UUID PRIMARY KEY,
    ts                  TIMESTAMPTZ NOT NULL,
    strategy            TEXT NOT NULL,
    trade_id            UUID,
    currency            TEXT NOT NULL,
    realized            NUMERIC NOT NULL,
    unrealized          NUMERIC NOT NULL,
    fees                NUMERIC NOT NULL,
    cumulative_realized NUMERIC NOT NULL,
    inserted_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pnl_events_strategy_ts_idx ON pnl_events (strategy, ts);
CREATE INDEX pnl_events_trade_idx ON pnl_events (trade_id);

CREATE TABLE portfolio_snapshots (
    id                 UUID PRIMARY KEY,
    ts                 TIMESTAMPTZ NOT NULL,
    venue              TEXT NOT NULL,
    balances           JSONB NOT NULL,
    valuation_currency TEXT,
    total_value        NUMERIC,
    inserted_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX portfolio_snapshots_venue_ts_idx ON portfolio_snapshots (venue, ts);

-- Fee tier and balances as a venue reports them for our account.
CREATE TABLE account_snapshots (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    ts         TIMESTAMPTZ NOT NULL DEFAULT now(),
    venue      TEXT NOT NULL,
    fee_tier   TEXT,
    maker_fee  NUMERIC,
    taker_fee  NUMERIC,
    volume_30d NUMERIC,
    balances   JSONB NOT NULL DEFAULT '[]',
    raw        JSONB
);
CREATE INDEX account_snapshots_venue_ts_idx ON account_snapshots (venue, ts);

-- ---------------------------------------------------------------- system

-- Audit records, feed status changes and dead letters.
CREATE TABLE audit_events (
    id          UUID PRIMARY KEY,
    ts          TIMESTAMPTZ NOT NULL,
    service     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    subject     TEXT,
    detail      JSONB NOT NULL DEFAULT 'null',
    payload     BYTEA,
    inserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_ts_idx ON audit_events (ts);
CREATE INDEX audit_events_service_kind_ts_idx ON audit_events (service, kind, ts);

CREATE TABLE runtime_state_snapshots (
    id          UUID PRIMARY KEY,
    ts          TIMESTAMPTZ NOT NULL,
    service     TEXT NOT NULL,
    instance    TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    uptime_secs BIGINT NOT NULL,
    counters    JSONB NOT NULL,
    lag         JSONB NOT NULL,
    detail      JSONB NOT NULL DEFAULT 'null',
    inserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX runtime_state_service_ts_idx ON runtime_state_snapshots (service, ts);

CREATE TABLE backtest_jobs (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    strategy    TEXT NOT NULL,
    replay_from TIMESTAMPTZ NOT NULL,
    replay_to   TIMESTAMPTZ NOT NULL,
    params      JSONB NOT NULL DEFAULT '{}',
    result      JSONB,
    error       TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    CHECK (replay_to >= replay_from)
);
CREATE INDEX backtest_jobs_status_idx ON backtest_jobs (status, created_at);
