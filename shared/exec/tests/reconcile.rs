#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The ledger's reconciliation identity under 10,000 seeded random trades
//! (issue 12, item 8): fills on three venues and five symbols at prices and
//! sizes with many decimals, fees at several rates (rounded or not), some
//! fills too large to pay for, and transfers between venues (random ones and
//! the rebalancing proposals) with fees and delays. A shadow model kept here
//! with plain `Decimal` arithmetic predicts each refusal and every balance;
//! at the end the ledger's balances equal it, none is below zero, and
//! `reconcile()` reports nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use arb_contract::{Side, Symbol};
use arb_exec::ledger::{
    Fill, Ledger, LedgerError, StartingBalances, TransferId, TransferOrder, TransferTerms,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::{Decimal, RoundingStrategy};

const TRADES: usize = 10_000;
const VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
/// Symbol and a reference price of its base in its quote.
const SYMBOLS: [(&str, &str, &str); 5] = [
    ("BTC", "USD", "60000"),
    ("ETH", "USD", "3000"),
    ("ETH", "BTC", "0.05"),
    ("SOL", "USD", "150"),
    ("SOL", "ETH", "0.05"),
];
const FEE_RATES: [&str; 5] = ["0", "0.0001", "0.00075", "0.001", "0.0026"];
/// Asset, withdrawal fee, floor for the rebalancing proposals.
const ASSETS: [(&str, &str, &str); 4] = [
    ("BTC", "0.0005", "0.25"),
    ("ETH", "0.005", "3"),
    ("SOL", "0.01", "50"),
    ("USD", "25", "10000"),
];

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A uniform draw from `[lo, hi]` at `scale` decimals.
fn between(rng: &mut ChaCha8Rng, lo: Decimal, hi: Decimal, scale: u32) -> Decimal {
    let steps: i64 = 1_000_000;
    let k = Decimal::from(rng.random_range(0..=steps));
    (lo + (hi - lo) * k / Decimal::from(steps))
        .round_dp_with_strategy(scale, RoundingStrategy::ToZero)
}

fn after(t: Timestamp, delay: Duration) -> Timestamp {
    from_nanos(to_nanos(&t) + i64::try_from(delay.as_nanos()).unwrap())
}

/// What the ledger should hold, kept with plain `Decimal` arithmetic.
#[derive(Default)]
struct Shadow {
    held: BTreeMap<(String, String), Decimal>,
    /// Transfer id → (receiver, asset, amount, arrival time).
    pending: BTreeMap<TransferId, (String, String, Decimal, Timestamp)>,
}

impl Shadow {
    fn get(&self, venue: &str, asset: &str) -> Decimal {
        self.held
            .get(&(venue.to_owned(), asset.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    fn add(&mut self, venue: &str, asset: &str, amount: Decimal) {
        *self
            .held
            .entry((venue.to_owned(), asset.to_owned()))
            .or_default() += amount;
    }
}

#[derive(Default, Debug)]
struct Counts {
    fills: usize,
    refused_fills: usize,
    transfers: usize,
    refused_transfers: usize,
    proposed: usize,
    arrived: usize,
    /// Fills after which a balance was exactly zero.
    reached_zero: usize,
}

#[test]
fn ten_thousand_random_trades_reconcile_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut shadow = Shadow::default();
    let starting: Vec<StartingBalances> = VENUES
        .iter()
        .map(|venue| {
            let usd = between(&mut rng, d("50000"), d("150000"), 6);
            let btc = between(&mut rng, d("0.5"), d("3"), 8);
            let eth = between(&mut rng, d("5"), d("40"), 8);
            let text = format!("{venue}:USD={usd},BTC={btc},ETH={eth},SOL=500");
            text.parse().unwrap()
        })
        .collect();
    for s in &starting {
        for (asset, amount) in &s.assets {
            shadow.add(&s.venue, asset, *amount);
        }
    }
    let mut ledger = Ledger::new(starting).unwrap();
    let terms: BTreeMap<String, TransferTerms> = ASSETS
        .iter()
        .map(|(asset, fee, _)| {
            let delay = Duration::from_secs(600);
            (asset.to_string(), TransferTerms { fee: d(fee), delay })
        })
        .collect();
    let floors: BTreeMap<String, Decimal> = ASSETS
        .iter()
        .map(|(asset, _, floor)| (asset.to_string(), d(floor)))
        .collect();
    let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut counts = Counts::default();

    for step in 0..TRADES {
        now = after(now, Duration::from_millis(rng.random_range(1..2_000)));
        for arrived in ledger.advance_to(now).unwrap() {
            let expected = shadow.pending.remove(&arrived.id).unwrap();
            assert_eq!(
                expected,
                (
                    arrived.to.clone(),
                    arrived.asset.clone(),
                    arrived.amount,
                    arrived.arrives_at
                )
            );
            assert!(arrived.arrives_at <= now);
            shadow.add(&arrived.to, &arrived.asset, arrived.amount);
            counts.arrived += 1;
        }
        // Everything due has arrived; nothing else has.
        let pending: Vec<TransferId> = ledger.in_transit().iter().map(|t| t.id).collect();
        assert!(pending.iter().copied().eq(shadow.pending.keys().copied()));
        assert!(shadow.pending.values().all(|p| p.3 > now));

        if step % 500 == 499 {
            for order in ledger.propose_transfers(&floors, &terms) {
                let t = ledger.start_transfer(&order, &terms[&order.asset], now);
                let t = t.expect("a proposal can be paid for");
                shadow.add(&order.from, &order.asset, -order.amount - t.fee);
                let arrival = after(now, terms[&order.asset].delay);
                shadow
                    .pending
                    .insert(t.id, (t.to, t.asset, t.amount, arrival));
                counts.proposed += 1;
            }
        }

        if rng.random_range(0..100) < 3 {
            let (asset, fee, _) = ASSETS[rng.random_range(0..ASSETS.len())];
            let from = VENUES[rng.random_range(0..VENUES.len())];
            let to = VENUES[(VENUES.iter().position(|v| *v == from).unwrap()
                + rng.random_range(1..VENUES.len()))
                % VENUES.len()];
            let factor = between(&mut rng, Decimal::ZERO, d("1.1"), 4);
            let amount = (shadow.get(from, asset) * factor)
                .round_dp_with_strategy(8, RoundingStrategy::ToZero);
            if amount.is_zero() {
                continue;
            }
            let delay = Duration::from_millis(rng.random_range(0..3_600_000));
            let order = TransferOrder {
                asset: asset.to_owned(),
                from: from.to_owned(),
                to: to.to_owned(),
                amount,
            };
            let fee = d(fee);
            let affordable = shadow.get(from, asset) - amount - fee >= Decimal::ZERO;
            match ledger.start_transfer(&order, &TransferTerms { fee, delay }, now) {
                Ok(t) => {
                    assert!(affordable);
                    shadow.add(from, asset, -amount - fee);
                    shadow.pending.insert(
                        t.id,
                        (to.to_owned(), asset.to_owned(), amount, after(now, delay)),
                    );
                    counts.transfers += 1;
                }
                Err(e) => {
                    assert!(!affordable && e.is_unaffordable(), "{e}");
                    counts.refused_transfers += 1;
                }
            }
            continue;
        }

        let venue = VENUES[rng.random_range(0..VENUES.len())];
        let (base, quote, reference) = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
        let symbol = Symbol::new(base, quote).unwrap();
        let side = if rng.random_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let reference = d(reference);
        let scale = rng.random_range(2..=8);
        let price = between(
            &mut rng,
            reference * d("0.95"),
            reference * d("1.05"),
            scale,
        );
        // Up to 15% more than the balance can pay for, and now and then all
        // of the base (to its 8th decimal), to reach zero exactly.
        let most = match side {
            Side::Buy => shadow.get(venue, quote) / price,
            Side::Sell => shadow.get(venue, base),
        };
        // Sizes have at most 8 decimals, as a venue's lot size gives them.
        let qty = if side == Side::Sell && rng.random_range(0..50) == 0 {
            most.round_dp_with_strategy(8, RoundingStrategy::ToZero)
        } else {
            let factor = between(&mut rng, Decimal::ZERO, d("1.15"), 4);
            (most * factor)
                .round_dp_with_strategy(rng.random_range(0..=8), RoundingStrategy::ToZero)
        };
        if qty.is_zero() {
            continue;
        }
        let notional = qty * price;
        let rate = d(FEE_RATES[rng.random_range(0..FEE_RATES.len())]);
        let mut fee = notional * rate;
        if rng.random_bool(0.5) {
            fee = fee.round_dp(8);
        }
        let (base_after, quote_after) = match side {
            Side::Buy => (
                shadow.get(venue, base) + qty,
                shadow.get(venue, quote) - notional - fee,
            ),
            Side::Sell => (
                shadow.get(venue, base) - qty,
                shadow.get(venue, quote) + notional - fee,
            ),
        };
        let affordable = base_after >= Decimal::ZERO && quote_after >= Decimal::ZERO;
        let fill = Fill {
            venue: venue.to_owned(),
            symbol,
            side,
            qty,
            notional,
            fee,
        };
        match ledger.apply_fill(&fill) {
            Ok(()) => {
                assert!(affordable, "{fill:?}");
                shadow.add(venue, base, base_after - shadow.get(venue, base));
                shadow.add(venue, quote, quote_after - shadow.get(venue, quote));
                counts.fills += 1;
                counts.reached_zero += usize::from(
                    ledger.available(venue, base).is_zero()
                        || ledger.available(venue, quote).is_zero(),
                );
            }
            Err(e) => {
                assert!(!affordable, "{fill:?}: {e}");
                assert!(
                    matches!(e, LedgerError::Insufficient { .. }),
                    "{fill:?}: {e}"
                );
                counts.refused_fills += 1;
            }
        }
    }

    let report = ledger.reconcile();
    assert!(report.is_empty(), "{report:?}");
    // Let everything in transit arrive, and check again.
    let last = after(now, Duration::from_secs(3_600));
    for arrived in ledger.advance_to(last).unwrap() {
        shadow.pending.remove(&arrived.id).unwrap();
        shadow.add(&arrived.to, &arrived.asset, arrived.amount);
        counts.arrived += 1;
    }
    assert!(ledger.in_transit().is_empty() && shadow.pending.is_empty());
    let report = ledger.reconcile();
    assert!(report.is_empty(), "{report:?}");

    let mut fees_paid = Decimal::ZERO;
    for account in ledger.accounts().unwrap() {
        let expected = shadow.get(&account.venue, &account.asset);
        assert_eq!(account.balance, expected, "{account:?}");
        assert!(account.balance >= Decimal::ZERO, "{account:?}");
        assert_eq!(
            account.starting + account.fills - account.fees + account.transfers
                - account.transfer_fees,
            account.balance,
            "{account:?}"
        );
        fees_paid += account.fees;
    }
    for venue in VENUES {
        for balance in ledger.snapshot(venue).unwrap() {
            assert_eq!(balance.free, shadow.get(venue, &balance.asset));
        }
    }

    // The run exercised what it claims to.
    println!("{counts:?}, fees {fees_paid}");
    assert!(counts.fills > 5_000, "{counts:?}");
    assert!(counts.refused_fills > 100, "{counts:?}");
    assert!(
        counts.transfers > 50 && counts.refused_transfers > 5,
        "{counts:?}"
    );
    assert!(counts.proposed > 0 && counts.arrived == counts.transfers + counts.proposed);
    assert!(counts.reached_zero > 0, "{counts:?}");
}
