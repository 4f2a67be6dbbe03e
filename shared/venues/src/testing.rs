//! What the adapters' tests share: reading an adapter's actions, and an
//! independent model of the book a venue's frames describe.

use std::collections::BTreeMap;

use arb_contract::model::{BookSnapshot, FeedState, ResyncReason};
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{Level, Symbol};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::adapter::{Action, Adapter, BookSettings};

pub(crate) fn t0() -> Timestamp {
    from_nanos(1)
}

/// `symbols` at subscribed depth 10, 1,000 levels kept, top 10 published.
pub(crate) fn settings(symbols: &[&str]) -> BookSettings {
    BookSettings {
        symbols: symbols.iter().map(|s| s.parse().unwrap()).collect(),
        depth: 10,
        book_levels: 1000,
        top: 10,
    }
}

/// Feeds `frame` to `a`, which must use it; returns what it asked for.
#[track_caller]
pub(crate) fn feed(a: &mut impl Adapter, frame: &str) -> Vec<Action> {
    let mut out = Vec::new();
    if let Err(e) = a.on_text(frame, t0(), &mut out) {
        panic!("{e}: {frame}");
    }
    out
}

/// The one book among `actions`.
#[track_caller]
pub(crate) fn one_book(actions: &[Action]) -> BookSnapshot {
    match books(actions)[..] {
        [b] => b.clone(),
        _ => panic!("not one book: {actions:?}"),
    }
}

pub(crate) fn books(actions: &[Action]) -> Vec<&BookSnapshot> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Book(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// The frames sent, as JSON.
pub(crate) fn sends(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(s) => Some(serde_json::from_str(s).unwrap()),
            _ => None,
        })
        .collect()
}

/// The symbols (`None`: all of them) of each `resync` status with `reason`.
pub(crate) fn resyncs(actions: &[Action], reason: ResyncReason) -> Vec<Option<&Symbol>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Status {
                symbol,
                state: FeedState::Resync,
                reason: Some(r),
                ..
            } if *r == reason => Some(symbol.as_ref()),
            _ => None,
        })
        .collect()
}

/// The rule for a frame on a sequenced channel that cannot be applied in
/// full: one `resync` (gap) for `symbol` (`None`: the whole connection),
/// and no book.
#[track_caller]
pub(crate) fn assert_gap(actions: &[Action], symbol: Option<&str>, case: &str) {
    let got: Vec<Option<String>> = resyncs(actions, ResyncReason::Gap)
        .into_iter()
        .map(|s| s.map(Symbol::to_string))
        .collect();
    assert_eq!(got, [symbol.map(str::to_owned)], "{case}: {actions:?}");
    assert!(books(actions).is_empty(), "{case}: a book after a gap");
}

/// A book as a venue's frames describe it, kept in plain maps: a snapshot
/// replaces it, a level sets an absolute quantity (0 deletes), and each
/// side is cut to `depth` after a message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    depth: usize,
}

/// `(price, qty)` as the tests write them.
pub(crate) type Px<'a> = (&'a str, &'a str);

impl Model {
    pub(crate) fn new(depth: usize) -> Self {
        Model {
            depth,
            ..Model::default()
        }
    }

    /// A `"snapshot"` replaces the book, anything else updates it.
    pub(crate) fn apply(&mut self, kind: &str, bids: &[Px], asks: &[Px]) {
        if kind == "snapshot" {
            self.snapshot(bids, asks);
        } else {
            self.update(bids, asks);
        }
    }

    pub(crate) fn snapshot(&mut self, bids: &[Px], asks: &[Px]) {
        self.bids.clear();
        self.asks.clear();
        self.update(bids, asks);
    }

    pub(crate) fn update(&mut self, bids: &[Px], asks: &[Px]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for (p, q) in levels {
                let (p, q): (Decimal, Decimal) = (p.parse().unwrap(), q.parse().unwrap());
                if q.is_zero() {
                    side.remove(&p);
                } else {
                    side.insert(p, q);
                }
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    /// Bids best (highest) first.
    pub(crate) fn bids(&self) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
        self.bids.iter().rev().map(|(p, q)| (*p, *q))
    }

    /// Asks best (lowest) first.
    pub(crate) fn asks(&self) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
        self.asks.iter().map(|(p, q)| (*p, *q))
    }

    /// Checks that `b` holds the model's best `top` levels on each side.
    #[track_caller]
    pub(crate) fn assert_top(&self, b: &BookSnapshot, top: usize, case: &str) {
        let levels = |it: &mut dyn Iterator<Item = (Decimal, Decimal)>| -> Vec<Level> {
            it.take(top).map(|(p, q)| Level::new(p, q)).collect()
        };
        assert_eq!(b.bids, levels(&mut self.bids()), "{case}: bids");
        assert_eq!(b.asks, levels(&mut self.asks()), "{case}: asks");
    }
}
