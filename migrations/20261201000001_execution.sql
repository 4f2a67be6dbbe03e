-- arbitrade schema: what the paper executor adds.
--
-- An order's exact filled quote amount and its episode, a trade's episode and
-- decision latency, and one row per transfer event (exec.transfer.<ASSET>). A trade's
-- legs are JSONB, so their new fields (notional, unwind) need no column.
-- Like every row the sink writes, a transfer row is keyed by its message id;
-- the two events of one transfer (sent, arrived) share transfer_id, an
-- indexed column and no foreign key.

-- ---------------------------------------------------------------- execution

-- filled_notional: the sum of qty × price over the levels taken
-- (avg_fill_price is this over filled_qty, rounded); episode_id: the
-- opportunity episode the order's trade acts on.
ALTER TABLE orders
    ADD COLUMN filled_notional NUMERIC NOT NULL DEFAULT 0,
    ADD COLUMN episode_id      UUID;
CREATE INDEX orders_episode_idx ON orders (episode_id);

-- episode_id: the opportunity episode acted on (at most one trade each);
-- decision_latency_us: event time from the opportunity's book to the decision.
ALTER TABLE trades
    ADD COLUMN episode_id          UUID,
    ADD COLUMN decision_latency_us BIGINT;
CREATE INDEX trades_episode_idx ON trades (episode_id);

-- One row per transfer event: sent when the amount and fee leave from_venue,
-- arrived when the amount reaches to_venue. amount is what arrives, fee (in
-- asset) is paid by the sender on top; cost is the fee valued in currency.
CREATE TABLE transfers (
    id          UUID PRIMARY KEY,
    ts          TIMESTAMPTZ NOT NULL,
    transfer_id UUID NOT NULL,
    asset       TEXT NOT NULL,
    from_venue  TEXT NOT NULL,
    to_venue    TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    fee         NUMERIC NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sent', 'arrived')),
    sent_ts     TIMESTAMPTZ NOT NULL,
    arrives_ts  TIMESTAMPTZ NOT NULL,
    cost        NUMERIC,
    currency    TEXT,
    inserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX transfers_transfer_id_idx ON transfers (transfer_id);
CREATE INDEX transfers_asset_ts_idx ON transfers (asset, ts);
