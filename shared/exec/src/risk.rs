//! The pre-trade risk gate (issue 12, item 3): a pure function of an order
//! intent, the executor's risk state and its limits, answering pass or a
//! [`Rejection`] with a reason code (for the `OrderEvent`'s `reason`) and a
//! human detail. The executor calls it for every order before the matching
//! model ([`crate::fill`]) sees it, and records what passed.
//!
//! Everything the gate needs is passed in: the executor's clock (event
//! time), the opportunity's re-priced edge and book time, the available
//! balance from the ledger, the venue's rules ([`crate::rules`]). The gate
//! reads no clock and keeps no state of its own, so a backtest and a replay
//! decide exactly as the live run did.
//!
//! Checks run in this order, and the first that fails is the answer:
//!
//! 1. `halted`: the trading state is `halted`; nothing goes out, unwinds
//!    neither.
//! 2. `reducing_only`: the state is `reducing` and the order opens exposure.
//! 3. `max_open_trades`: as many trades are open as allowed.
//! 4. `stale_book`: the opportunity's book time is older than the maximum
//!    age, measured against the executor's event time.
//! 5. `edge_below_threshold`: the net edge re-priced on the executor's own
//!    books is below the threshold.
//! 6. `max_trade_notional`: the trade's notional exceeds the limit for its
//!    currency.
//! 7. `order_rate`: as many orders went out within the interval as allowed.
//! 8. `max_order_notional`: the order's notional (quantity × price) exceeds
//!    the limit for the symbol's quote currency.
//! 9. The venue's rules: `off_lot`, `off_tick`, `below_min_qty`,
//!    `below_min_notional` (in [`SymbolRules::check`]'s order).
//! 10. `insufficient_balance`: the venue balance cannot pay for the order.
//!
//! Checks 2 to 8 apply to orders that open exposure only. An unwind
//! flattens what an accepted trade left behind: refusing it for a limit
//! meant to bound new risk would keep the very exposure the limits are for.
//! So an unwind meets only the trading state, the venue's rules and the
//! balance, which the venue itself would enforce.

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

use arb_contract::time::{Timestamp, to_nanos};
use arb_contract::{Side, Symbol};
use rust_decimal::Decimal;
use thiserror::Error;

use crate::codes::code_enum;
use crate::rules::{RuleViolation, SymbolRules};

code_enum! {
    /// Whether the executor may trade: changed live through the
    /// `trading_state` configuration key.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum TradingState {
        /// Orders go out, subject to the limits.
        #[default]
        Active => "active",
        /// Only orders that reduce exposure (unwinds) go out.
        Reducing => "reducing",
        /// Nothing goes out.
        Halted => "halted",
    }
}

/// A trading state text that is none of `active`, `reducing`, `halted`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("trading state {text:?} is not one of active, reducing, halted")]
pub struct TradingStateError {
    pub text: String,
}

impl FromStr for TradingState {
    type Err = TradingStateError;

    /// Exactly the words [`TradingState::as_str`] writes, around white space
    /// (a kill switch is not the place to guess at `HALT` or `stop`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = s.trim();
        TradingState::ALL
            .into_iter()
            .find(|state| state.as_str() == word)
            .ok_or_else(|| TradingStateError { text: s.to_owned() })
    }
}

code_enum! {
    /// Why an order was refused; [`Reason::as_str`] is the `OrderEvent`
    /// reason. Declared (so [`Reason::ALL`] lists them) in the order the gate
    /// checks them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Reason {
        Halted => "halted",
        ReducingOnly => "reducing_only",
        MaxOpenTrades => "max_open_trades",
        StaleBook => "stale_book",
        EdgeBelowThreshold => "edge_below_threshold",
        MaxTradeNotional => "max_trade_notional",
        OrderRate => "order_rate",
        MaxOrderNotional => "max_order_notional",
        OffLot => "off_lot",
        OffTick => "off_tick",
        BelowMinQty => "below_min_qty",
        BelowMinNotional => "below_min_notional",
        InsufficientBalance => "insufficient_balance",
    }
}

impl From<&RuleViolation> for Reason {
    fn from(v: &RuleViolation) -> Self {
        match v {
            RuleViolation::OffLot { .. } => Reason::OffLot,
            RuleViolation::OffTick { .. } => Reason::OffTick,
            RuleViolation::BelowMinQty { .. } => Reason::BelowMinQty,
            RuleViolation::BelowMinNotional { .. } => Reason::BelowMinNotional,
        }
    }
}

/// An order the gate refused: the code and what a person reading the event
/// needs to see why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    fn new(reason: Reason, detail: String) -> Rejection {
        Rejection { reason, detail }
    }
}

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
fn nanos(d: Duration) -> i128 {
    i128::try_from(d.as_nanos()).unwrap_or(i128::MAX)
}

/// What the executor's state says, as the gate sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskState {
    pub trading: TradingState,
    /// Trades accepted and not yet finished.
    pub open_trades: usize,
    pub recent_orders: OrderWindow,
}

/// The trade an opening order belongs to, with the values the executor
/// computed for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeCheck<'a> {
    /// The currency the trade's notional is counted in.
    pub currency: &'a str,
    /// Amount of `currency` put in.
    pub notional: Decimal,
    /// The net edge, re-priced on the executor's own latest books.
    pub net_edge_bps: Decimal,
    /// The opportunity's book (event) time.
    pub book_ts: Timestamp,
}

/// Whether an order opens exposure (part of a new trade) or reduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose<'a> {
    Open(TradeCheck<'a>),
    /// Flattens leftover exposure of a trade already accepted.
    Unwind,
}

/// An order the executor means to send, already rounded to the venue's lot
/// and tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderIntent<'a> {
    pub venue: &'a str,
    pub symbol: &'a Symbol,
    pub side: Side,
    /// In the base currency.
    pub qty: Decimal,
    /// The limit price, in the quote currency.
    pub price: Decimal,
    /// The taker fee rate (a fraction), charged in the quote currency.
    pub fee_rate: Decimal,
    pub purpose: Purpose<'a>,
}

impl OrderIntent<'_> {
    /// Quantity × price, in the quote currency.
    pub fn notional(&self) -> Decimal {
        self.qty * self.price
    }

    /// The currency the order spends: the quote for a buy, the base for a
    /// sell.
    pub fn spends(&self) -> &str {
        match self.side {
            Side::Buy => self.symbol.quote(),
            Side::Sell => self.symbol.base(),
        }
    }

    /// How much of [`spends`](Self::spends) the order needs at most: a buy
    /// pays notional plus fee at its limit, a sell gives its quantity (its fee
    /// comes out of the quote it receives).
    pub fn cost(&self) -> Decimal {
        match self.side {
            Side::Buy => self.notional() * (Decimal::ONE + self.fee_rate),
            Side::Sell => self.qty,
        }
    }
}

/// What the executor passes in beside the order, state and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs<'a> {
    /// The executor's clock: the event time of the decision.
    pub now: Timestamp,
    /// The venue's available balance of the currency the order spends
    /// ([`OrderIntent::spends`]), from the ledger.
    pub available: Decimal,
    pub rules: &'a SymbolRules,
}

/// The gate: `Ok(())` if the order may go out, else the first rule it fails,
/// in the order documented at the top of this module.
pub fn check(
    order: &OrderIntent<'_>,
    state: &RiskState,
    limits: &RiskLimits,
    inputs: &Inputs<'_>,
) -> Result<(), Rejection> {
    if state.trading == TradingState::Halted {
        return Err(Rejection::new(
            Reason::Halted,
            "trading is halted".to_owned(),
        ));
    }
    if let Purpose::Open(trade) = order.purpose {
        check_open(order, &trade, state, limits, inputs.now)?;
    }
    inputs.rules.check(order.qty, order.price).map_err(|v| {
        Rejection::new(
            Reason::from(&v),
            format!("{} {}: {v}", order.venue, order.symbol),
        )
    })?;
    let cost = order.cost();
    if cost > inputs.available {
        return Err(Rejection::new(
            Reason::InsufficientBalance,
            format!(
                "{} {} needs {cost} {} but {} is available",
                order.venue,
                order.side.as_str(),
                order.spends(),
                inputs.available
            ),
        ));
    }
    Ok(())
}

/// Checks 2 to 8, for an order that opens exposure.
fn check_open(
    order: &OrderIntent<'_>,
    trade: &TradeCheck<'_>,
    state: &RiskState,
    limits: &RiskLimits,
    now: Timestamp,
) -> Result<(), Rejection> {
    if state.trading == TradingState::Reducing {
        return Err(Rejection::new(
            Reason::ReducingOnly,
            "trading state is reducing: only unwinds go out".to_owned(),
        ));
    }
    if let Some(max) = limits.max_open_trades
        && state.open_trades >= max
    {
        return Err(Rejection::new(
            Reason::MaxOpenTrades,
            format!("{} trades open, at most {max} allowed", state.open_trades),
        ));
    }
    if let Some(max_age) = limits.max_book_age {
        let age = i128::from(to_nanos(&now)) - i128::from(to_nanos(&trade.book_ts));
        if age > nanos(max_age) {
            return Err(Rejection::new(
                Reason::StaleBook,
                format!(
                    "book is {} ms old at decision, at most {} ms allowed",
                    age / 1_000_000,
                    max_age.as_millis()
                ),
            ));
        }
    }
    if trade.net_edge_bps < limits.min_net_edge_bps {
        return Err(Rejection::new(
            Reason::EdgeBelowThreshold,
            format!(
                "re-priced net edge {} bps is below the threshold {} bps",
                trade.net_edge_bps, limits.min_net_edge_bps
            ),
        ));
    }
    if let Some(max) = limits.max_trade_notional.limit(trade.currency)
        && trade.notional > max
    {
        return Err(Rejection::new(
            Reason::MaxTradeNotional,
            format!(
                "trade notional {} {} exceeds the limit {max}",
                trade.notional, trade.currency
            ),
        ));
    }
    if let Some(rate) = limits.order_rate {
        let sent = state.recent_orders.count_within(now, rate.interval);
        if sent >= rate.max_orders {
            return Err(Rejection::new(
                Reason::OrderRate,
                format!(
                    "{sent} orders in the last {} ms, at most {} allowed",
                    rate.interval.as_millis(),
                    rate.max_orders
                ),
            ));
        }
    }
    let quote = order.symbol.quote();
    if let Some(max) = limits.max_order_notional.limit(quote) {
        let notional = order.notional();
        if notional > max {
            return Err(Rejection::new(
                Reason::MaxOrderNotional,
                format!("order notional {notional} {quote} exceeds the limit {max}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::time::from_nanos;

    const SEC: i64 = 1_000_000_000;
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600 * SEC;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn at_ms(ms: i64) -> Timestamp {
        from_nanos(T0 + ms * 1_000_000)
    }

    fn btc_usd() -> Symbol {
        "BTC/USD".parse().unwrap()
    }

    const RULES: SymbolRules = SymbolRules {
        lot: Decimal::from_parts(1, 0, 0, false, 4),     // 0.0001
        tick: Decimal::from_parts(1, 0, 0, false, 2),    // 0.01
        min_qty: Decimal::from_parts(1, 0, 0, false, 3), // 0.001
        min_notional: Decimal::from_parts(10, 0, 0, false, 0), // 10
    };

    /// Limits every test starts from, each one the boundary the
    /// `passes_at_every_boundary` case sits on.
    fn limits() -> RiskLimits {
        RiskLimits {
            max_order_notional: PerCurrency {
                by_currency: [("USD".to_owned(), d("10000"))].into(),
                default: Some(d("1")),
            },
            max_trade_notional: PerCurrency {
                by_currency: [("USD".to_owned(), d("20000"))].into(),
                default: None,
            },
            max_open_trades: Some(2),
            order_rate: Some(OrderRate {
                max_orders: 3,
                interval: Duration::from_secs(1),
            }),
            min_net_edge_bps: d("5"),
            max_book_age: Some(Duration::from_millis(500)),
        }
    }

    /// One open trade and two orders in the last second: one below each limit.
    fn state() -> RiskState {
        let mut recent_orders = OrderWindow::default();
        for ms in [9_000, 9_500, 9_999] {
            recent_orders.record(at_ms(ms), Duration::from_secs(1));
        }
        RiskState {
            trading: TradingState::Active,
            open_trades: 1,
            recent_orders,
        }
    }

    /// The case every row changes one thing of.
    struct Case {
        trading: TradingState,
        open_trades: usize,
        recent: Vec<i64>,
        now_ms: i64,
        book_ms: i64,
        edge: &'static str,
        trade_currency: &'static str,
        trade_notional: &'static str,
        side: Side,
        qty: &'static str,
        price: &'static str,
        fee_rate: &'static str,
        available: &'static str,
        unwind: bool,
    }

    /// At every limit's boundary: passes.
    fn base() -> Case {
        Case {
            trading: TradingState::Active,
            open_trades: 1,             // max 2
            recent: vec![9_001, 9_500], // 2 in (9 000, 10 000]; max 3 per second
            now_ms: 10_000,
            book_ms: 9_500, // exactly 500 ms old
            edge: "5",      // exactly the threshold
            trade_currency: "USD",
            trade_notional: "20000", // exactly the limit
            side: Side::Buy,
            qty: "0.1",
            price: "100000", // notional 10000, exactly the limit
            fee_rate: "0.001",
            available: "10010", // exactly notional + fee
            unwind: false,
        }
    }

    impl Case {
        /// An order of `qty` at `price`.
        fn order(&mut self, qty: &'static str, price: &'static str) {
            self.qty = qty;
            self.price = price;
        }

        /// A sell of the order's quantity, holding `available` of the base.
        fn sell_holding(&mut self, available: &'static str) {
            self.side = Side::Sell;
            self.available = available;
        }
    }

    fn run(c: &Case) -> Result<(), &'static str> {
        let symbol = btc_usd();
        let mut state = state();
        state.trading = c.trading;
        state.open_trades = c.open_trades;
        state.recent_orders = OrderWindow::default();
        for &ms in &c.recent {
            state
                .recent_orders
                .record(at_ms(ms), Duration::from_secs(1));
        }
        let purpose = if c.unwind {
            Purpose::Unwind
        } else {
            Purpose::Open(TradeCheck {
                currency: c.trade_currency,
                notional: d(c.trade_notional),
                net_edge_bps: d(c.edge),
                book_ts: at_ms(c.book_ms),
            })
        };
        let order = OrderIntent {
            venue: "sim-a",
            symbol: &symbol,
            side: c.side,
            qty: d(c.qty),
            price: d(c.price),
            fee_rate: d(c.fee_rate),
            purpose,
        };
        let inputs = Inputs {
            now: at_ms(c.now_ms),
            available: d(c.available),
            rules: &RULES,
        };
        check(&order, &state, &limits(), &inputs).map_err(|r| {
            assert!(!r.detail.is_empty());
            r.reason.as_str()
        })
    }

    #[test]
    fn passes_at_every_boundary() {
        assert_eq!(run(&base()), Ok(()));
    }

    #[test]
    fn each_rule_rejects_with_its_reason() {
        type Edit = fn(&mut Case);
        // The reason code the edited case is refused with, or "pass".
        let rows: [(&str, Edit, &str); 28] = [
            ("halted", |c| c.trading = TradingState::Halted, "halted"),
            (
                "reducing",
                |c| c.trading = TradingState::Reducing,
                "reducing_only",
            ),
            (
                "open trades at max",
                |c| c.open_trades = 2,
                "max_open_trades",
            ),
            ("no trades open", |c| c.open_trades = 0, "pass"),
            ("book 501 ms old", |c| c.book_ms = 9_499, "stale_book"),
            ("book from the future", |c| c.book_ms = 10_100, "pass"),
            (
                "edge just below",
                |c| c.edge = "4.99",
                "edge_below_threshold",
            ),
            ("negative edge", |c| c.edge = "-1", "edge_below_threshold"),
            (
                "trade over its limit",
                |c| c.trade_notional = "20000.01",
                "max_trade_notional",
            ),
            // No default for trade notional: an unnamed currency is unlimited.
            (
                "trade in an unlimited currency",
                |c| {
                    c.trade_currency = "EUR";
                    c.trade_notional = "1000000";
                },
                "pass",
            ),
            (
                "third order in the second",
                |c| c.recent = vec![9_001, 9_500, 9_999],
                "order_rate",
            ),
            // The window is (now - 1 s, now]: an order exactly 1 s ago is out.
            (
                "oldest order falls out",
                |c| c.recent = vec![9_000, 9_500, 9_999],
                "pass",
            ),
            (
                "order over its limit",
                |c| {
                    c.price = "100000.01";
                    c.available = "20000";
                },
                "max_order_notional",
            ),
            ("off lot", |c| c.qty = "0.09995", "off_lot"),
            ("off tick", |c| c.price = "99999.995", "off_tick"),
            ("below min qty", |c| c.qty = "0.0009", "below_min_qty"),
            ("min qty exactly", |c| c.order("0.001", "10000"), "pass"),
            ("zero qty", |c| c.qty = "0", "below_min_qty"),
            (
                "below min notional",
                |c| c.order("0.001", "9999.99"),
                "below_min_notional",
            ),
            ("min notional exactly", |c| c.order("0.01", "1000"), "pass"),
            (
                "balance short by a cent",
                |c| c.available = "10009.99",
                "insufficient_balance",
            ),
            (
                "balance short of the fee",
                |c| c.available = "10000",
                "insufficient_balance",
            ),
            ("sell spends base", |c| c.sell_holding("0.1"), "pass"),
            (
                "sell short of base",
                |c| c.sell_holding("0.0999"),
                "insufficient_balance",
            ),
            // First failing rule wins: halted before everything else.
            (
                "halted and everything else",
                |c| {
                    c.trading = TradingState::Halted;
                    c.open_trades = 9;
                    c.edge = "0";
                    c.available = "0";
                },
                "halted",
            ),
            (
                "stale and no edge",
                |c| {
                    c.book_ms = 0;
                    c.edge = "0";
                },
                "stale_book",
            ),
            (
                "order rate before order notional",
                |c| {
                    c.recent = vec![9_100, 9_200, 9_300];
                    c.price = "200000";
                },
                "order_rate",
            ),
            (
                "rules before balance",
                |c| {
                    c.qty = "0.0009";
                    c.available = "0";
                },
                "below_min_qty",
            ),
        ];
        for (name, edit, want) in rows {
            let mut c = base();
            edit(&mut c);
            assert_eq!(run(&c).err().unwrap_or("pass"), want, "{name}");
        }
    }

    #[test]
    fn reducing_lets_an_unwind_through_and_refuses_a_new_order() {
        let mut c = base();
        c.trading = TradingState::Reducing;
        assert_eq!(run(&c), Err("reducing_only"));
        c.unwind = true;
        assert_eq!(run(&c), Ok(()));
        // An unwind meets no trade limit (stale book, open trades, rate, ...)...
        c.open_trades = 9;
        c.book_ms = 0;
        c.edge = "-100";
        c.recent = vec![9_900, 9_901, 9_902, 9_903];
        c.price = "200000";
        c.available = "100000";
        assert_eq!(run(&c), Ok(()));
        // ...but still the venue's rules and the balance.
        c.available = "1";
        assert_eq!(run(&c), Err("insufficient_balance"));
        c.qty = "0.0009";
        assert_eq!(run(&c), Err("below_min_qty"));
    }

    #[test]
    fn halted_refuses_both() {
        for unwind in [false, true] {
            let mut c = base();
            c.trading = TradingState::Halted;
            c.unwind = unwind;
            assert_eq!(run(&c), Err("halted"), "unwind {unwind}");
        }
    }

    #[test]
    fn no_limits_pass_anything_with_a_non_negative_edge() {
        let symbol = btc_usd();
        let order = OrderIntent {
            venue: "sim-b",
            symbol: &symbol,
            side: Side::Buy,
            qty: d("1000"),
            price: d("100000"),
            fee_rate: Decimal::ZERO,
            purpose: Purpose::Open(TradeCheck {
                currency: "USD",
                notional: d("100000000"),
                net_edge_bps: Decimal::ZERO,
                book_ts: at_ms(0),
            }),
        };
        let mut state = state();
        state.open_trades = 1_000;
        let inputs = Inputs {
            now: at_ms(3_600_000),
            available: d("100000000"),
            rules: &RULES,
        };
        assert_eq!(
            check(&order, &state, &RiskLimits::default(), &inputs),
            Ok(())
        );
    }

    #[test]
    fn order_notional_limit_falls_back_to_the_default() {
        let symbol: Symbol = "ETH/BTC".parse().unwrap();
        let order = OrderIntent {
            venue: "sim-a",
            symbol: &symbol,
            side: Side::Sell,
            qty: d("10"),
            price: d("0.11"),
            fee_rate: Decimal::ZERO,
            purpose: Purpose::Open(TradeCheck {
                currency: "USD",
                notional: d("100"),
                net_edge_bps: d("10"),
                book_ts: at_ms(10_000),
            }),
        };
        let rules = SymbolRules::sim_default(&symbol);
        let inputs = Inputs {
            now: at_ms(10_000),
            available: d("10"),
            rules: &rules,
        };
        // 10 × 0.11 = 1.1 BTC against the default limit of 1.
        let got = check(&order, &state(), &limits(), &inputs).map_err(|r| r.reason);
        assert_eq!(got, Err(Reason::MaxOrderNotional));
        let unwind = OrderIntent {
            purpose: Purpose::Unwind,
            ..order
        };
        assert_eq!(check(&unwind, &state(), &limits(), &inputs), Ok(()));
    }

    #[test]
    fn order_window_slides_over_event_time_and_forgets() {
        let second = Duration::from_secs(1);
        let mut w = OrderWindow::default();
        for ms in [0, 200, 400, 1_000, 1_300] {
            w.record(at_ms(ms), second);
        }
        // Recording at 1 000 forgot 0; at 1 300 forgot 200.
        assert_eq!(w.len(), 3);
        for (now, want) in [
            (1_300, 3),
            (1_399, 3),
            (1_400, 2),
            (2_000, 1),
            (2_300, 0),
            (500, 1),
        ] {
            assert_eq!(w.count_within(at_ms(now), second), want, "now {now}");
        }
        assert!(OrderWindow::default().is_empty());
    }

    #[test]
    fn trading_state_parses_its_own_words_only() {
        for state in TradingState::ALL {
            assert_eq!(state.to_string().parse::<TradingState>(), Ok(state));
        }
        assert_eq!(" halted\n".parse(), Ok(TradingState::Halted));
        for bad in ["", "HALTED", "halt", "stop", "active reducing", "paused"] {
            assert_eq!(
                bad.parse::<TradingState>(),
                Err(TradingStateError {
                    text: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        assert_eq!(TradingState::default(), TradingState::Active);
    }

    #[test]
    fn reason_codes_are_distinct_and_each_rule_has_its_own() {
        let codes: std::collections::BTreeSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        let zero = Decimal::ZERO;
        for (v, code) in [
            (
                RuleViolation::OffLot {
                    qty: zero,
                    lot: zero,
                },
                "off_lot",
            ),
            (
                RuleViolation::OffTick {
                    price: zero,
                    tick: zero,
                },
                "off_tick",
            ),
            (
                RuleViolation::BelowMinQty {
                    qty: zero,
                    min_qty: zero,
                },
                "below_min_qty",
            ),
            (
                RuleViolation::BelowMinNotional {
                    notional: zero,
                    min_notional: zero,
                },
                "below_min_notional",
            ),
        ] {
            assert_eq!(Reason::from(&v).as_str(), code);
        }
    }
}
