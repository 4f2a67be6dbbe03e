//! The schema on a fresh database per test (`#[sqlx::test]` creates it and
//! applies `migrations/`): extension, tables, columns, keys, constraints,
//! idempotent migrations, partitions, and a round trip through each table.
#![allow(unused_crate_dependencies)]

use arb_runtime::db::{self, MIGRATOR, TABLES};
use rust_decimal::Decimal;
use sqlx::PgPool;

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn pgcrypto_is_there_and_generates_uuids(pool: PgPool) {
    let ext: Option<String> =
        sqlx::query_scalar("SELECT extname::text FROM pg_extension WHERE extname = 'pgcrypto'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert_eq!(ext.as_deref(), Some("pgcrypto"));
    let id: uuid::Uuid = sqlx::query_scalar("SELECT gen_random_uuid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(id.get_version_num(), 4);
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn every_table_exists_and_starts_empty(pool: PgPool) {
    for t in TABLES.iter().chain(&["_sqlx_migrations"]) {
        let kind: Option<String> =
            sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = $1")
                .bind(t)
                .fetch_optional(&pool)
                .await
                .unwrap();
        assert!(kind.is_some(), "table {t} missing");
        if *t != "_sqlx_migrations" {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(n, 0, "{t} starts empty");
        }
    }
    let partitioned: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'market_snapshots'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(partitioned, "p", "market_snapshots is partitioned");
    let strategy: String = sqlx::query_scalar(
        "SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'market_snapshots'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(strategy, "r", "by range");
    let v = db::verify(&pool).await.unwrap();
    assert!(v.is_ok(), "{v:?}");
}

async fn schema_fingerprint(pool: &PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'public' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn running_migrations_again_is_a_no_op(pool: PgPool) {
    let before = schema_fingerprint(&pool).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    MIGRATOR.run(&pool).await.expect("second run");
    db::migrate(&pool).await.expect("third run");
    assert_eq!(schema_fingerprint(&pool).await, before);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after, applied);
    assert_eq!(applied as usize, MIGRATOR.iter().count());
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn columns_have_the_expected_types(pool: PgPool) {
    let cols = schema_fingerprint(&pool).await;
    let expect = [
        ("market_snapshots", "id", "uuid"),
        ("market_snapshots", "ts", "timestamp with time zone"),
        ("market_snapshots", "venue", "text"),
        ("market_snapshots", "symbol", "text"),
        ("market_snapshots", "sequence", "bigint"),
        ("market_snapshots", "best_bid", "numeric"),
        ("market_snapshots", "bid_prices", "ARRAY"),
        ("market_snapshots", "ask_sizes", "ARRAY"),
        ("opportunities", "episode_id", "uuid"),
        ("opportunities", "net_edge_bps", "numeric"),
        ("opportunities", "expected_profit", "numeric"),
        ("opportunities", "legs", "jsonb"),
        ("opportunities", "book_ts", "timestamp with time zone"),
        ("trades", "opportunity_id", "uuid"),
        ("trades", "realized_pnl", "numeric"),
        ("trades", "legs", "jsonb"),
        ("trades", "episode_id", "uuid"),
        ("trades", "decision_latency_us", "bigint"),
        ("orders", "order_id", "uuid"),
        ("orders", "trade_id", "uuid"),
        ("orders", "opportunity_id", "uuid"),
        ("orders", "qty", "numeric"),
        ("orders", "fee", "numeric"),
        ("orders", "filled_notional", "numeric"),
        ("orders", "episode_id", "uuid"),
        ("transfers", "id", "uuid"),
        ("transfers", "ts", "timestamp with time zone"),
        ("transfers", "transfer_id", "uuid"),
        ("transfers", "asset", "text"),
        ("transfers", "from_venue", "text"),
        ("transfers", "to_venue", "text"),
        ("transfers", "amount", "numeric"),
        ("transfers", "fee", "numeric"),
        ("transfers", "status", "text"),
        ("transfers", "sent_ts", "timestamp with time zone"),
        ("transfers", "arrives_ts", "timestamp with time zone"),
        ("transfers", "cost", "numeric"),
        ("transfers", "currency", "text"),
        ("transfers", "inserted_at", "timestamp with time zone"),
        ("pnl_events", "cumulative_realized", "numeric"),
        ("portfolio_snapshots", "balances", "jsonb"),
        ("portfolio_snapshots", "total_value", "numeric"),
        ("audit_events", "detail", "jsonb"),
        ("audit_events", "payload", "bytea"),
        ("runtime_state_snapshots", "counters", "jsonb"),
        ("account_snapshots", "taker_fee", "numeric"),
        ("account_snapshots", "balances", "jsonb"),
        ("backtest_jobs", "params", "jsonb"),
        ("config_settings", "value", "jsonb"),
        ("config_pairings", "base_asset", "text"),
        ("config_backtesting_defaults", "initial_balance", "numeric"),
    ];
    for (t, c, ty) in expect {
        let found = cols.iter().find(|(tt, cc, _)| tt == t && cc == c);
        assert_eq!(found.map(|(_, _, d)| d.as_str()), Some(ty), "{t}.{c}");
    }
    // Money is never floating point.
    let floats: Vec<(String, String, String)> = cols
        .into_iter()
        .filter(|(_, _, d)| d == "double precision" || d == "real")
        .collect();
    assert!(floats.is_empty(), "floating-point columns: {floats:?}");
}

/// The contract's side: every field of a message stored one row per message
/// has a column of the same name in its table (legs and balances as JSONB).
#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn every_field_of_the_stored_messages_has_its_column(pool: PgPool) {
    use arb_contract::sample;
    let cols = schema_fingerprint(&pool).await;
    let ts = arb_contract::time::from_nanos(1_763_900_000_000_000_000);
    let messages = [
        (
            "opportunities",
            serde_json::to_value(sample::opportunity(1, ts)),
        ),
        ("orders", serde_json::to_value(sample::order(1, ts))),
        ("trades", serde_json::to_value(sample::trade(1, ts))),
        ("pnl_events", serde_json::to_value(sample::pnl(1, ts))),
        (
            "portfolio_snapshots",
            serde_json::to_value(sample::portfolio(1, ts)),
        ),
        ("transfers", serde_json::to_value(sample::transfer(1, ts))),
    ];
    for (table, fields) in messages {
        let fields = fields.unwrap();
        let fields = fields.as_object().expect("a message is a map");
        assert!(fields.len() > 5, "{table}: {fields:?}");
        for field in fields.keys() {
            assert!(
                cols.iter().any(|(t, c, _)| t == table && c == field),
                "{table} has no column {field}"
            );
        }
    }
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn execution_columns_default_and_transfers_round_trip(pool: PgPool) {
    type Ts = chrono::DateTime<chrono::Utc>;
    // An order stored before the executor's fields (or by a writer that
    // leaves them out) has filled nothing; a trade has no episode.
    sqlx::query(
        "INSERT INTO orders (id, ts, order_id, strategy, venue, symbol, side, order_type, status, qty, filled_qty, fee)
         VALUES (gen_random_uuid(), now(), gen_random_uuid(), 'cross', 'sim-a', 'BTC/USD', 'buy', 'limit', 'new', 1, 0, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let notional: Decimal = sqlx::query_scalar("SELECT filled_notional FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notional, Decimal::ZERO);
    let null = sqlx::query(
        "INSERT INTO orders (id, ts, order_id, strategy, venue, symbol, side, order_type, status, qty, filled_qty, fee, filled_notional)
         VALUES (gen_random_uuid(), now(), gen_random_uuid(), 'cross', 'sim-a', 'BTC/USD', 'buy', 'limit', 'new', 1, 0, 0, NULL)",
    )
    .execute(&pool)
    .await;
    assert!(null.is_err(), "filled_notional is NOT NULL");

    let episode = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO trades (id, ts, strategy, status, currency, notional, fees, realized_pnl, legs, episode_id, decision_latency_us)
         VALUES (gen_random_uuid(), now(), 'cross', 'unwound', 'USD', 1, 0, 0, '[]', $1, $2)",
    )
    .bind(episode)
    .bind(i64::MAX)
    .execute(&pool)
    .await
    .unwrap();
    let (got, latency): (Option<uuid::Uuid>, Option<i64>) =
        sqlx::query_as("SELECT episode_id, decision_latency_us FROM trades")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((got, latency), (Some(episode), Some(i64::MAX)));

    // Both events of one transfer, sharing its transfer_id.
    let insert = "INSERT INTO transfers (id, ts, transfer_id, asset, from_venue, to_venue, amount, fee, status, sent_ts, arrives_ts, cost, currency)
                  VALUES (gen_random_uuid(), $1, $2, 'BTC', 'sim-a', 'sim-b', $3, $4, $5, $6, $7, $8, $9)";
    let (transfer, sent, arrives) = (
        uuid::Uuid::now_v7(),
        "2026-12-01T10:00:00.123456Z".parse::<Ts>().unwrap(),
        "2026-12-01T10:10:00.123456Z".parse::<Ts>().unwrap(),
    );
    let (amount, fee) = (Decimal::new(2_500_000_000, 8), Decimal::new(50_000, 8));
    for (status, ts, cost) in [
        ("sent", sent, Some(Decimal::new(3_250, 2))),
        ("arrived", arrives, None),
    ] {
        sqlx::query(insert)
            .bind(ts)
            .bind(transfer)
            .bind(amount)
            .bind(fee)
            .bind(status)
            .bind(sent)
            .bind(arrives)
            .bind(cost)
            .bind(cost.map(|_| "USD"))
            .execute(&pool)
            .await
            .unwrap();
    }
    type Row = (
        String,
        Decimal,
        Decimal,
        Ts,
        Option<Decimal>,
        Option<String>,
    );
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT status, amount, fee, arrives_ts, cost, currency FROM transfers WHERE transfer_id = $1 ORDER BY ts",
        )
        .bind(transfer)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            (
                "sent".to_owned(),
                amount,
                fee,
                arrives,
                Some(Decimal::new(3_250, 2)),
                Some("USD".to_owned())
            ),
            ("arrived".to_owned(), amount, fee, arrives, None, None),
        ]
    );
    assert_eq!(rows[0].1.to_string(), "25.00000000", "exact, scale kept");
    let bad = sqlx::query(insert)
        .bind(sent)
        .bind(transfer)
        .bind(amount)
        .bind(fee)
        .bind("lost")
        .bind(sent)
        .bind(arrives)
        .bind(None::<Decimal>)
        .bind(None::<String>)
        .execute(&pool)
        .await;
    assert!(bad.is_err(), "status is sent or arrived");
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn keys_unique_constraints_and_indexes(pool: PgPool) {
    let constraints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, contype::text, pg_get_constraintdef(oid)
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let has = |t: &str, ty: &str, def: &str| {
        constraints
            .iter()
            .any(|(tt, c, d)| tt == t && c == ty && d == def)
    };
    for t in TABLES {
        let pk = if t == "market_snapshots" {
            "PRIMARY KEY (id, ts)"
        } else {
            ""
        };
        let found = constraints
            .iter()
            .any(|(tt, c, d)| tt == t && c == "p" && (pk.is_empty() || d == pk));
        assert!(found, "{t} has a primary key {pk}");
    }
    assert!(has(
        "config_pairings",
        "u",
        "UNIQUE (base_asset, quote_asset)"
    ));
    assert!(has("config_sections", "u", "UNIQUE (name)"));
    assert!(has(
        "config_settings",
        "f",
        "FOREIGN KEY (section_id) REFERENCES config_sections(id) ON DELETE SET NULL"
    ));
    // Cross-stream references are indexed columns, not foreign keys.
    for t in [
        "orders",
        "trades",
        "opportunities",
        "pnl_events",
        "transfers",
    ] {
        assert!(
            !constraints.iter().any(|(tt, c, _)| tt == t && c == "f"),
            "{t} must not hold foreign keys"
        );
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT tablename::text, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (t, col) in [
        ("orders", "(trade_id)"),
        ("orders", "(opportunity_id)"),
        ("trades", "(opportunity_id)"),
        ("trades", "(episode_id)"),
        ("orders", "(episode_id)"),
        ("transfers", "(transfer_id)"),
        ("transfers", "(asset, ts)"),
        ("opportunities", "(episode_id)"),
        ("market_snapshots", "(venue, symbol, ts)"),
        ("audit_events", "(ts)"),
    ] {
        assert!(
            indexes.iter().any(|(tt, d)| tt == t && d.ends_with(col)),
            "index on {t} {col}"
        );
    }
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn config_pairings_upsert_updates_in_place(pool: PgPool) {
    let upsert = "INSERT INTO config_pairings (base_asset, quote_asset, enabled, venues) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (base_asset, quote_asset) DO UPDATE
                  SET enabled = EXCLUDED.enabled, venues = EXCLUDED.venues, updated_at = now()
                  RETURNING id";
    let first: i32 = sqlx::query_scalar(upsert)
        .bind("BTC")
        .bind("USD")
        .bind(true)
        .bind(vec!["kraken"])
        .fetch_one(&pool)
        .await
        .unwrap();
    let second: i32 = sqlx::query_scalar(upsert)
        .bind("BTC")
        .bind("USD")
        .bind(false)
        .bind(vec!["kraken", "binance"])
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(first, second, "same row updated");
    let (n, enabled, venues): (i64, bool, Vec<String>) = sqlx::query_as(
        "SELECT count(*) OVER (), enabled, venues FROM config_pairings WHERE base_asset = 'BTC'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (n, enabled, venues),
        (1, false, vec!["kraken".to_owned(), "binance".to_owned()])
    );
    let dup =
        sqlx::query("INSERT INTO config_pairings (base_asset, quote_asset) VALUES ('BTC', 'USD')")
            .execute(&pool)
            .await;
    assert!(dup.is_err(), "a plain duplicate insert is refused");
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn config_and_job_tables_round_trip(pool: PgPool) {
    let section: i32 = sqlx::query_scalar(
        "INSERT INTO config_sections (name, description) VALUES ('risk', 'limits') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO config_settings (key, section_id, value) VALUES ('risk.max_notional', $1, '{\"USD\": \"2500.50\"}')")
        .bind(section)
        .execute(&pool)
        .await
        .unwrap();
    let v: serde_json::Value =
        sqlx::query_scalar("SELECT value FROM config_settings WHERE key = 'risk.max_notional'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(v["USD"], "2500.50");

    let fee = Decimal::new(40, 4);
    sqlx::query("INSERT INTO account_snapshots (venue, fee_tier, taker_fee, balances) VALUES ('kraken', 'tier-1', $1, '[{\"asset\":\"USD\",\"free\":\"10.5\"}]')")
        .bind(fee)
        .execute(&pool)
        .await
        .unwrap();
    let (got, balances): (Decimal, serde_json::Value) =
        sqlx::query_as("SELECT taker_fee, balances FROM account_snapshots WHERE venue = 'kraken'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(got, fee);
    assert_eq!(balances[0]["free"], "10.5");

    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO backtest_jobs (strategy, replay_from, replay_to, params) VALUES ('cross', now() - interval '1 day', now(), '{\"seed\": 7}') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (status, params): (String, serde_json::Value) =
        sqlx::query_as("SELECT status, params FROM backtest_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), params["seed"].as_i64()),
        ("pending", Some(7))
    );
    let bad = sqlx::query("INSERT INTO backtest_jobs (strategy, replay_from, replay_to, status) VALUES ('x', now(), now(), 'bogus')")
        .execute(&pool)
        .await;
    assert!(bad.is_err(), "status is constrained");

    let defaults: Decimal = sqlx::query_scalar(
        "INSERT INTO config_backtesting_defaults DEFAULT VALUES RETURNING initial_balance",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(defaults, Decimal::from(10_000));
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn partitions_are_created_ahead_and_pruned(pool: PgPool) {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 30).unwrap();
    let created = db::ensure_partitions(&pool, day, 3).await.unwrap();
    assert_eq!(
        created,
        [
            "market_snapshots_p20260130",
            "market_snapshots_p20260131",
            "market_snapshots_p20260201"
        ]
    );
    assert!(
        db::ensure_partitions(&pool, day, 3)
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    // A row lands in its day's partition.
    sqlx::query(
        "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, checksum, bid_prices, bid_sizes, ask_prices, ask_sizes)
         VALUES (gen_random_uuid(), '2026-01-31T23:59:59Z', now(), 'kraken', 'BTC/USD', 'verified', '{1}', '{1}', '{2}', '{1}')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM market_snapshots_p20260131")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let orphan = sqlx::query(
        "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, checksum, bid_prices, bid_sizes, ask_prices, ask_sizes)
         VALUES (gen_random_uuid(), '2030-01-01T00:00:00Z', now(), 'k', 'B/U', 'x', '{}', '{}', '{}', '{}')",
    )
    .execute(&pool)
    .await;
    assert!(
        orphan.is_err(),
        "no partition, no row (the sink creates partitions before writing)"
    );

    let cutoff = "2026-02-01T00:00:00Z".parse().unwrap();
    let dropped = db::drop_partitions_before(&pool, cutoff).await.unwrap();
    assert_eq!(
        dropped,
        ["market_snapshots_p20260130", "market_snapshots_p20260131"],
        "whole days before the cutoff"
    );
    let left = db::verify(&pool).await.unwrap().market_partitions;
    assert_eq!(left, ["market_snapshots_p20260201"]);
}
