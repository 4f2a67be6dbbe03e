//! Throughput of the paper matching model on one core: 10-level taker walks
//! (buys and sells that take every level of a 10-level side), against fresh
//! book states so each walk finds the depth whole, through `Depth::take_into`
//! (the executor's path: consumed depth tracked, the fill buffer reused) and
//! through `fill::take` (no consumption tracking). Prints fills per second,
//! the median of rounds. Run: `cargo bench -p arb-exec --bench fill`.
#![allow(unused_crate_dependencies)]

use std::hint::black_box;
use std::time::Instant;

use arb_contract::time::from_nanos;
use arb_contract::{BookSnapshot, Side, sample};
use arb_exec::fill::{self, Depth, Fill, TakerOrder};
use rust_decimal::Decimal;

const LEVELS: usize = 10;
const FILLS: usize = 1_000_000;
const ROUNDS: usize = 5;

/// Books of one market whose ids differ, so every walk meets a new state.
fn books(n: usize) -> Vec<BookSnapshot> {
    let t = from_nanos(1_763_900_000_000_000_000);
    (0..n as u64)
        .map(|i| sample::book(i, "sim-a", "BTC/USD", LEVELS, t))
        .collect()
}

/// An order that takes all ten levels of the side it walks.
fn order(side: Side, book: &BookSnapshot) -> TakerOrder {
    let levels = match side {
        Side::Buy => &book.asks,
        Side::Sell => &book.bids,
    };
    TakerOrder {
        side,
        qty: levels.iter().map(|l| l.qty).sum::<Decimal>(),
        limit: levels[LEVELS - 1].price,
        fee_rate: Decimal::new(26, 4),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let books = books(1024);
    let orders: Vec<(TakerOrder, TakerOrder)> = books
        .iter()
        .map(|b| (order(Side::Buy, b), order(Side::Sell, b)))
        .collect();
    let mut tracked = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..ROUNDS {
        let mut depth = Depth::new();
        let mut out = Fill::default();
        let start = Instant::now();
        for i in 0..FILLS {
            let (buy, sell) = &orders[i % books.len()];
            let o = if i % 2 == 0 { buy } else { sell };
            depth
                .take_into(&books[i % books.len()], o, &mut out)
                .expect("a valid order");
            assert_eq!(out.levels.len(), LEVELS);
            black_box(&out);
        }
        tracked.push(FILLS as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        for i in 0..FILLS {
            let (buy, sell) = &orders[i % books.len()];
            let o = if i % 2 == 0 { buy } else { sell };
            let f = fill::take(&books[i % books.len()], o).expect("a valid order");
            black_box(f);
        }
        plain.push(FILLS as f64 / start.elapsed().as_secs_f64());
    }
    println!(
        "paper matching model, {LEVELS}-level taker walks, one core, median of {ROUNDS} rounds of {FILLS}"
    );
    println!("| path | fills/s |");
    println!("|---|---:|");
    println!(
        "| Depth::take_into (consumption tracked, buffer reused) | {:.0} |",
        median(tracked.clone())
    );
    println!(
        "| fill::take (fresh book, new Fill) | {:.0} |",
        median(plain)
    );
    let m = median(tracked);
    println!(
        "target >= 1M fills/s for 10-level walks: {} ({:.2}M/s)",
        if m >= 1e6 { "met" } else { "NOT met" },
        m / 1e6
    );
}
