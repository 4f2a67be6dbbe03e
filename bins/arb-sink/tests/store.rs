//! The sink's writer on a fresh database per test: every message type round-
//! trips through its table, and a batch written twice (a redelivery) leaves
//! one row per message, in both write modes.
#![allow(unused_crate_dependencies)]
#![allow(clippy::type_complexity)] // rows read back as tuples, column by column

use arb_contract::codec::Decoded;
use arb_contract::sample;
use arb_contract::time::from_nanos;
use arb_sink::rows::{CopyRows, Table};
use arb_sink::store::{self, Partitions, WriteMode};
use bytes::Bytes;
use rust_decimal::Decimal;
use sqlx::PgPool;

fn batch(msgs: &[Decoded]) -> Vec<(Table, Bytes)> {
    let mut groups: std::collections::BTreeMap<Table, CopyRows> = Default::default();
    for m in msgs {
        let t = Table::of(m);
        groups
            .entry(t)
            .or_insert_with(|| CopyRows::new(t))
            .push(m, "test.subject")
            .unwrap();
    }
    groups.into_iter().map(|(t, r)| (t, r.finish())).collect()
}

async fn prepare(pool: &PgPool) {
    Partitions::default()
        .ensure(
            pool,
            [chrono::NaiveDate::from_ymd_opt(2025, 11, 23).unwrap()],
        )
        .await
        .unwrap();
}

/// The columns `cols` of `msg`'s row in its table.
async fn row<T>(pool: &PgPool, msg: &Decoded, cols: &str) -> T
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let sql = format!("SELECT {cols} FROM {} WHERE id = $1", Table::of(msg).name());
    sqlx::query_as(&sql)
        .bind(msg.id())
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn samples() -> Vec<Decoded> {
    let ts = from_nanos(1_763_900_000_000_000_000); // 2025-11-23
    (0..24)
        .map(|n| sample::mixed(n, ts + chrono::Duration::seconds(n as i64)))
        .collect()
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn every_type_round_trips_through_its_table(pool: PgPool) {
    prepare(&pool).await;
    let msgs = samples();
    let written = store::write_batch(&pool, WriteMode::Copy, &batch(&msgs))
        .await
        .unwrap();
    assert_eq!(written.values().sum::<u64>(), 24);

    for m in &msgs {
        match m {
            Decoded::Book(b) => {
                let (venue, symbol, seq, bids, asks, sizes, best_bid, checksum): (String, String, i64, Vec<Decimal>, Vec<Decimal>, Vec<Decimal>, Decimal, String) =
                    row(&pool, m, "venue, symbol, sequence, bid_prices, ask_prices, ask_sizes, best_bid, checksum").await;
                assert_eq!(
                    (venue.as_str(), symbol.as_str(), seq as u64),
                    (b.venue.as_str(), "BTC/USD", b.sequence.unwrap())
                );
                assert_eq!(bids, b.bids.iter().map(|l| l.price).collect::<Vec<_>>());
                assert_eq!(asks, b.asks.iter().map(|l| l.price).collect::<Vec<_>>());
                assert_eq!(sizes, b.asks.iter().map(|l| l.qty).collect::<Vec<_>>());
                assert_eq!(best_bid, b.bids[0].price);
                assert_eq!(checksum, "verified");
            }
            Decoded::Opportunity(o) => {
                let (episode, state, net, legs): (uuid::Uuid, String, Decimal, serde_json::Value) =
                    row(&pool, m, "episode_id, state, net_edge_bps, legs").await;
                assert_eq!(
                    (episode, state.as_str(), net),
                    (o.episode_id, "open", o.net_edge_bps)
                );
                assert_eq!(legs, serde_json::to_value(&o.legs).unwrap());
            }
            Decoded::Order(o) => {
                let (order_id, trade_id, episode, status, filled, notional, fee): (
                    uuid::Uuid,
                    Option<uuid::Uuid>,
                    Option<uuid::Uuid>,
                    String,
                    Decimal,
                    Decimal,
                    Decimal,
                ) = row(
                    &pool,
                    m,
                    "order_id, trade_id, episode_id, status, filled_qty, filled_notional, fee",
                )
                .await;
                assert_eq!(
                    (order_id, trade_id, episode, status.as_str(), filled, fee),
                    (
                        o.order_id,
                        o.trade_id,
                        o.episode_id,
                        "filled",
                        o.filled_qty,
                        o.fee
                    )
                );
                assert!(episode.is_some(), "samples set it");
                // Exact, scale included (NUMERIC keeps the trailing digits).
                assert_eq!(notional.to_string(), o.filled_notional.to_string());
            }
            Decoded::Trade(t) => {
                let (opp, episode, latency, pnl, legs): (
                    Option<uuid::Uuid>,
                    Option<uuid::Uuid>,
                    Option<i64>,
                    Decimal,
                    serde_json::Value,
                ) = row(
                    &pool,
                    m,
                    "opportunity_id, episode_id, decision_latency_us, realized_pnl, legs",
                )
                .await;
                assert_eq!(
                    (opp, episode, latency, pnl),
                    (
                        t.opportunity_id,
                        t.episode_id,
                        t.decision_latency_us,
                        t.realized_pnl
                    )
                );
                assert!(episode.is_some() && latency.is_some(), "samples set both");
                assert_eq!(legs, serde_json::to_value(&t.legs).unwrap());
                let back: Vec<arb_contract::model::TradeLeg> =
                    serde_json::from_value(legs).unwrap();
                assert_eq!(back, t.legs, "legs' notional and unwind flow through");
            }
            Decoded::Pnl(p) => {
                let (realized, unrealized, cumulative): (Decimal, Decimal, Decimal) =
                    row(&pool, m, "realized, unrealized, cumulative_realized").await;
                assert_eq!(
                    (realized, unrealized, cumulative),
                    (p.realized, p.unrealized, p.cumulative_realized)
                );
            }
            Decoded::Portfolio(p) => {
                let (venue, balances, total): (String, serde_json::Value, Option<Decimal>) =
                    row(&pool, m, "venue, balances, total_value").await;
                assert_eq!((venue.as_str(), total), (p.venue.as_str(), p.total_value));
                assert_eq!(balances, serde_json::to_value(&p.balances).unwrap());
            }
            Decoded::Transfer(x) => {
                let (transfer_id, asset, from, to, amount, fee, status): (
                    uuid::Uuid,
                    String,
                    String,
                    String,
                    Decimal,
                    Decimal,
                    String,
                ) = row(
                    &pool,
                    m,
                    "transfer_id, asset, from_venue, to_venue, amount, fee, status",
                )
                .await;
                assert_eq!(
                    (
                        transfer_id,
                        asset.as_str(),
                        from.as_str(),
                        to.as_str(),
                        amount,
                        fee,
                        status.as_str()
                    ),
                    (
                        x.transfer_id,
                        x.asset.as_str(),
                        x.from_venue.as_str(),
                        x.to_venue.as_str(),
                        x.amount,
                        x.fee,
                        x.status.as_str()
                    )
                );
                let (ts, sent, arrives, cost, currency): (
                    chrono::DateTime<chrono::Utc>,
                    chrono::DateTime<chrono::Utc>,
                    chrono::DateTime<chrono::Utc>,
                    Option<Decimal>,
                    Option<String>,
                ) = row(&pool, m, "ts, sent_ts, arrives_ts, cost, currency").await;
                assert_eq!(
                    (ts, sent, arrives, cost, currency),
                    (x.ts, x.sent_ts, x.arrives_ts, x.cost, x.currency.clone())
                );
            }
            Decoded::Audit(a) => {
                let (kind, severity, detail, payload): (
                    String,
                    String,
                    serde_json::Value,
                    Option<Vec<u8>>,
                ) = row(&pool, m, "kind, severity, detail, payload").await;
                assert_eq!(
                    (kind.as_str(), severity.as_str()),
                    (a.kind.as_str(), "warn")
                );
                assert_eq!((detail, payload), (a.detail.clone(), a.payload.clone()));
            }
            Decoded::Status(_) => {
                let (kind, severity, detail): (String, String, serde_json::Value) =
                    row(&pool, m, "kind, severity, detail").await;
                assert_eq!((kind.as_str(), severity.as_str()), ("feed_status", "warn"));
                assert_eq!(detail["reason"], "checksum");
            }
            Decoded::DeadLetter(d) => {
                let (kind, message, subject, payload): (String, String, String, Vec<u8>) =
                    row(&pool, m, "kind, message, subject, payload").await;
                assert_eq!(
                    (kind.as_str(), message.as_str(), subject.as_str()),
                    ("dead_letter", d.reason.as_str(), d.subject.as_str())
                );
                assert_eq!(payload, d.payload);
            }
            Decoded::State(s) => {
                let (service, uptime, counters): (String, i64, serde_json::Value) =
                    row(&pool, m, "service, uptime_secs, counters").await;
                assert_eq!(
                    (service.as_str(), uptime as u64),
                    (s.service.as_str(), s.uptime_secs)
                );
                assert_eq!(counters, serde_json::to_value(&s.counters).unwrap());
            }
        }
    }
}

async fn total_rows(pool: &PgPool) -> i64 {
    let mut n = 0;
    for t in Table::ALL {
        n += sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {}", t.name()))
            .fetch_one(pool)
            .await
            .unwrap();
    }
    n
}

#[sqlx::test(migrator = "arb_runtime::db::MIGRATOR")]
async fn a_redelivered_batch_adds_nothing_in_either_mode(pool: PgPool) {
    prepare(&pool).await;
    let msgs = samples();
    for mode in [WriteMode::Copy, WriteMode::Staged] {
        let first = store::write_batch(&pool, mode, &batch(&msgs[..12]))
            .await
            .unwrap();
        let again = store::write_batch(&pool, mode, &batch(&msgs))
            .await
            .unwrap();
        if mode == WriteMode::Copy {
            assert_eq!(first.values().sum::<u64>(), 12);
        }
        // Half of the second batch is new: the duplicate half is dropped, the rest written.
        let new_rows: u64 = again.values().sum();
        assert!(
            new_rows <= 12,
            "{mode:?}: {new_rows} new rows from a batch whose first half exists"
        );
        assert_eq!(total_rows(&pool).await, 24, "{mode:?}");
    }
}
