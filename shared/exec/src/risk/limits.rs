//! What the gate enforces: limits per currency, the order rate, and the
//! window of recent orders the rate is counted over.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use arb_contract::time::{Timestamp, to_nanos};
use rust_decimal::Decimal;

/// A limit per currency: an amount for each currency named, and one for
/// every other currency if `default` is set (else those are unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerCurrency {
    pub by_currency: BTreeMap<String, Decimal>,
    pub default: Option<Decimal>,
}

impl PerCurrency {
    /// The limit for `currency`, if there is one.
    pub fn limit(&self, currency: &str) -> Option<Decimal> {
        self.by_currency.get(currency).copied().or(self.default)
    }
}

/// At most `max_orders` orders within any `interval` of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRate {
    pub max_orders: usize,
    pub interval: Duration,
}

/// The limits the gate enforces; `None` (or an empty [`PerCurrency`]) is no
/// limit. The default limits nothing and accepts any edge of zero or more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskLimits {
    /// Largest order notional (quantity × price), in the quote currency.
    pub max_order_notional: PerCurrency,
    /// Largest trade notional, in the opportunity's currency.
    pub max_trade_notional: PerCurrency,
    pub max_open_trades: Option<usize>,
    pub order_rate: Option<OrderRate>,
    /// Smallest re-priced net edge, in basis points, traded on.
    pub min_net_edge_bps: Decimal,
    /// Oldest an opportunity's book may be at decision time.
    pub max_book_age: Option<Duration>,
}

/// The times of orders sent, for the rate limit: a sliding window over
/// event times the executor passes in, never the wall clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderWindow {
    /// Nanoseconds since the epoch, in the order recorded.
    times: VecDeque<i64>,
}

impl OrderWindow {
    /// Records an order sent at `at`, and forgets orders older than `keep`
    /// before it (pass the rate limit's interval; what falls out of it can no
    /// longer count).
    pub fn record(&mut self, at: Timestamp, keep: Duration) {
        let at = to_nanos(&at);
        let horizon = i128::from(at) - nanos(keep);
        while self
            .times
            .front()
            .is_some_and(|&t| i128::from(t) <= horizon)
        {
            self.times.pop_front();
        }
        self.times.push_back(at);
    }

    /// Orders sent in the `interval` ending at `now`: at a time `t` with
    /// `now - interval < t ≤ now`.
    pub fn count_within(&self, now: Timestamp, interval: Duration) -> usize {
        let now = i128::from(to_nanos(&now));
        let from = now - nanos(interval);
        self.times
            .iter()
            .filter(|&&t| {
                let t = i128::from(t);
                from < t && t <= now
            })
            .count()
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// A duration in nanoseconds, saturating (no real limit is 10^22 years).
pub(super) fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}
