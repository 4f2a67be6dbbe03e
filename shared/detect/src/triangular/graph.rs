//! The triangles a venue's symbols make: per venue, the graph of currencies
//! its symbols join; when a symbol's first book arrives, the triangles
//! through a start currency that it completes, each with its two cycles.
//! Built once per symbol, so an update only looks at its own triangles.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::walk::Dir;
use crate::book_store::{BookStore, SlotId};
use crate::settings::Fees;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub slot: SlotId,
    pub dir: Dir,
}

/// One direction around a triangle, from and back to `start`.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub legs: [Leg; 3],
    /// e.g. `sim-a_USD-BTC-ETH`.
    pub key: String,
    pub start: String,
}

#[derive(Debug, Clone)]
pub struct Triangle {
    pub cycles: [Cycle; 2],
}

/// The triangles of every venue, and what each slot is part of.
#[derive(Debug, Clone)]
pub struct TriangleGraph {
    fees: Fees,
    start_currencies: Vec<String>,
    triangles: Vec<Triangle>,
    /// Triangles each slot is a side of.
    by_slot: Vec<Vec<usize>>,
    /// Per venue: currency → neighbour currency → the slot joining them.
    /// The neighbours are iterated when a book completes triangles, and
    /// that order is the order of the triangles (so of their messages): by
    /// name, not a hash map's order, which changes from process to process.
    graph: HashMap<usize, HashMap<String, BTreeMap<String, SlotId>>>,
    /// Per slot: `1 − fee` in Decimal and f64.
    fee_mult: Vec<(Decimal, f64)>,
}

impl TriangleGraph {
    pub fn new(fees: Fees, start_currencies: Vec<String>) -> Self {
        TriangleGraph {
            fees,
            start_currencies,
            triangles: Vec::new(),
            by_slot: Vec::new(),
            graph: HashMap::new(),
            fee_mult: Vec::new(),
        }
    }

    pub fn triangle_count(&self) -> usize {
        self.triangles.len()
    }

    /// The triangles `slot` is a side of.
    pub fn triangles_of(&self, slot: SlotId) -> &[usize] {
        self.by_slot.get(slot).map_or(&[], Vec::as_slice)
    }

    pub fn cycle(&self, triangle: usize, direction: usize) -> &Cycle {
        &self.triangles[triangle].cycles[direction]
    }

    /// `1 − fee` of the slot's venue, in Decimal and f64.
    pub fn fee_mult(&self, slot: SlotId) -> (Decimal, f64) {
        self.fee_mult[slot]
    }

    /// Adds a new slot's edge to its venue's graph and the triangles it completes.
    pub fn add_slot(&mut self, store: &BookStore, slot: SlotId) {
        let (venue, base, quote) = {
            let s = store.slot(slot);
            (
                s.venue,
                s.symbol.base().to_owned(),
                s.symbol.quote().to_owned(),
            )
        };
        let fee = self.fees.rate(store.venue_name(venue));
        if self.fee_mult.len() <= slot {
            self.fee_mult.resize(slot + 1, (Decimal::ONE, 1.0));
            self.by_slot.resize(slot + 1, Vec::new());
        }
        let fm = Decimal::ONE - fee;
        self.fee_mult[slot] = (fm, fm.to_f64().unwrap_or(1.0));
        let g = self.graph.entry(venue).or_default();
        if g.get(&base).is_some_and(|n| n.contains_key(&quote)) {
            // Another symbol already joins these two currencies (e.g. the
            // inverse pair): keep the first.
            return;
        }
        g.entry(base.clone())
            .or_default()
            .insert(quote.clone(), slot);
        g.entry(quote.clone())
            .or_default()
            .insert(base.clone(), slot);

        let mut found: Vec<(String, String, String)> = Vec::new();
        for start in &self.start_currencies {
            let Some(around_start) = g.get(start) else {
                continue;
            };
            if &base == start || &quote == start {
                let x = if &base == start { &quote } else { &base };
                if let Some(around_x) = g.get(x) {
                    for y in around_x.keys() {
                        if y != start && y != x && around_start.contains_key(y) {
                            found.push((start.clone(), x.clone(), y.clone()));
                        }
                    }
                }
            } else if around_start.contains_key(&base) && around_start.contains_key(&quote) {
                found.push((start.clone(), base.clone(), quote.clone()));
            }
        }
        let venue_name = store.venue_name(venue).to_owned();
        for (s, x, y) in found {
            let g = &self.graph[&venue];
            let (sx, xy, ys) = (g[&s][&x], g[&x][&y], g[&y][&s]);
            let conv = |slot: SlotId, to: &str| Leg {
                slot,
                dir: if store.slot(slot).symbol.base() == to {
                    Dir::Buy
                } else {
                    Dir::Sell
                },
            };
            let forward = Cycle {
                legs: [conv(sx, &x), conv(xy, &y), conv(ys, &s)],
                key: format!("{venue_name}_{s}-{x}-{y}"),
                start: s.clone(),
            };
            let reverse = Cycle {
                legs: [conv(ys, &y), conv(xy, &x), conv(sx, &s)],
                key: format!("{venue_name}_{s}-{y}-{x}"),
                start: s.clone(),
            };
            let t = self.triangles.len();
            self.triangles.push(Triangle {
                cycles: [forward, reverse],
            });
            for sl in [sx, xy, ys] {
                self.by_slot[sl].push(t);
            }
        }
    }

    /// Top-of-book cycle rate after fees, in f64: an upper bound of any
    /// depth-walked rate.
    pub fn top_rate(&self, store: &BookStore, cycle: &Cycle) -> f64 {
        let mut r = 1.0;
        for leg in &cycle.legs {
            let s = store.slot(leg.slot);
            let fm = self.fee_mult[leg.slot].1;
            r *= match leg.dir {
                Dir::Buy => fm / s.top_ask,
                Dir::Sell => s.top_bid * fm,
            };
        }
        r
    }
}
