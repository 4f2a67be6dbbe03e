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

use std::str::FromStr;

use arb_contract::time::{Timestamp, to_nanos};
use arb_contract::{Side, Symbol};
use rust_decimal::Decimal;
use thiserror::Error;

use crate::codes::code_enum;
use crate::rules::{RuleViolation, SymbolRules};

mod limits;
#[cfg(test)]
mod tests;

use limits::nanos;
pub use limits::{OrderRate, OrderWindow, PerCurrency, RiskLimits};

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
