//! One trade from decision to record: planning and the pre-trade gate,
//! sending legs, matching each at its arrival, unwinding what the legs left
//! uneven, and the events that record it.

use std::collections::BTreeMap;

use arb_contract::codec::Decoded;
use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use arb_contract::{
    Opportunity, OpportunityKind, OrderEvent, OrderStatus, OrderType, PnlEvent, Side, Symbol,
    TradeEvent, TradeLeg, TradeStatus, TransferEvent, TransferStatus,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Engine, LegMode, ids, marks, order_event};
use crate::fill::{self, TakerOrder};
use crate::ledger;
use crate::risk::{self, Inputs, OrderIntent, Purpose, Reason, TradeCheck};
use crate::rules::SymbolRules;

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Where an order is.
#[derive(Debug, Clone, PartialEq)]
enum State {
    /// A sequential leg not sent yet.
    Planned,
    /// Sent; waiting for its venue's book at arrival.
    Sent,
    /// Matched (or refused by the venue): its final event is built.
    Done,
}

/// One order of a trade: a leg of the opportunity or an unwind.
#[derive(Debug, Clone)]
struct Order {
    id: Uuid,
    venue: String,
    symbol: Symbol,
    side: Side,
    qty: Decimal,
    /// The IOC limit; `None` for an unwind, which takes the book at any price.
    limit: Option<Decimal>,
    fee_rate: Decimal,
    rules: SymbolRules,
    unwind: bool,
    state: State,
    decided_at: Timestamp,
    arrival: Timestamp,
    filled: Decimal,
    notional: Decimal,
    fee: Decimal,
}

impl Order {
    /// The IOC order it is at the venue.
    fn taker(&self) -> TakerOrder {
        let limit = self.limit.unwrap_or(match self.side {
            // An unwind takes whatever the book has.
            Side::Buy => Decimal::MAX,
            Side::Sell => Decimal::new(1, 28),
        });
        TakerOrder {
            side: self.side,
            qty: self.qty,
            limit,
            fee_rate: self.fee_rate,
        }
    }

    fn order_type(&self) -> OrderType {
        if self.limit.is_some() {
            OrderType::Limit
        } else {
            OrderType::Market
        }
    }

    /// The base and quote changes of what it filled (fee included).
    fn flows(&self) -> [(&str, &str, Decimal); 2] {
        let (base, quote) = (self.symbol.base(), self.symbol.quote());
        let venue = self.venue.as_str();
        match self.side {
            Side::Buy => [
                (venue, base, self.filled),
                (venue, quote, -self.notional - self.fee),
            ],
            Side::Sell => [
                (venue, base, -self.filled),
                (venue, quote, self.notional - self.fee),
            ],
        }
    }
}

/// A trade whose orders are out.
#[derive(Debug)]
pub struct PendingTrade {
    opp: Opportunity,
    trade_id: Uuid,
    decided_at: Timestamp,
    orders: Vec<Order>,
    /// How many of `orders` are the opportunity's legs (the rest unwinds).
    legs: usize,
    unwinds_planned: bool,
    /// Final order events, published after the trade record.
    finals: Vec<Decoded>,
}

/// What one [`PendingTrade::progress`] call gives.
#[derive(Debug, Default)]
pub struct Step {
    /// To publish now (`new` events of orders just sent; at the end the
    /// trade's record and everything after it).
    pub events: Vec<Decoded>,
    /// The market whose book at this time the trade waits for.
    pub waiting: Option<(String, Symbol, Timestamp)>,
    pub done: bool,
}

type Rejections = Vec<(String, OrderEvent)>;

/// A leg's order as planned: everything but its state.
struct Planned {
    venue: String,
    symbol: Symbol,
    side: Side,
    qty: Decimal,
    limit: Decimal,
    fee_rate: Decimal,
    rules: SymbolRules,
}

/// Sizes, prices and gates the opportunity's legs at `now`.
pub(super) fn plan(
    engine: &mut Engine,
    opp: &Opportunity,
    now: Timestamp,
) -> Result<PendingTrade, Rejections> {
    let reject_all = |failed: usize, reason: &str| -> Rejections {
        opp.legs
            .iter()
            .enumerate()
            .map(|(i, leg)| {
                let order_id = ids::rejected_order(opp.id, i, now);
                let code = if i == failed {
                    reason.to_owned()
                } else {
                    "other_leg_rejected".to_owned()
                };
                let mut e = order_event(
                    ids::order_event(order_id, OrderStatus::Rejected, now),
                    now,
                    order_id,
                    None,
                    opp,
                    &leg.venue,
                    &leg.symbol,
                    leg.side,
                    OrderType::Limit,
                    OrderStatus::Rejected,
                    leg.limit_price
                        .or(Some(leg.vwap))
                        .filter(|p| *p > Decimal::ZERO),
                    leg.qty.max(Decimal::ZERO),
                );
                e.episode_id = Some(opp.episode_id);
                e.reason = Some(code.clone());
                (code, e)
            })
            .collect()
    };
    let mut planned = Vec::with_capacity(opp.legs.len());
    for (i, leg) in opp.legs.iter().enumerate() {
        if !engine.ledger.venues().any(|v| v == leg.venue) {
            return Err(reject_all(i, "unknown_venue"));
        }
        let Some(rules) = engine.cfg.rules.get(&leg.venue, &leg.symbol) else {
            return Err(reject_all(i, "unknown_symbol"));
        };
        if engine.books.latest(&leg.venue, &leg.symbol).is_none() {
            return Err(reject_all(i, "no_book"));
        }
        let worst = leg.limit_price.unwrap_or(leg.vwap);
        let slip = engine.cfg.slippage_bps / BPS;
        let limit = match leg.side {
            Side::Buy => worst * (Decimal::ONE + slip),
            Side::Sell => worst * (Decimal::ONE - slip),
        };
        planned.push(Planned {
            venue: leg.venue.clone(),
            symbol: leg.symbol.clone(),
            side: leg.side,
            qty: rules.round_qty(leg.qty),
            limit: rules.round_price(leg.side, limit),
            fee_rate: engine.fee_rate(&leg.venue, leg.fee_rate),
            rules,
        });
    }
    if opp.kind == OpportunityKind::Cross {
        // Both legs trade the same base: the same quantity on each.
        let q = planned.iter().map(|p| p.qty).min().unwrap_or_default();
        for p in &mut planned {
            p.qty = q;
        }
    }
    let (net_edge_bps, notional) = reprice(engine, opp, &planned);
    let sequential = engine.cfg.legs == LegMode::Sequential;
    let mut reserved: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for (i, p) in planned.iter().enumerate() {
        // In sequence, later legs are gated when they go out.
        if sequential && i > 0 {
            break;
        }
        let intent = OrderIntent {
            venue: &p.venue,
            symbol: &p.symbol,
            side: p.side,
            qty: p.qty,
            price: p.limit,
            fee_rate: p.fee_rate,
            purpose: Purpose::Open(TradeCheck {
                currency: &opp.currency,
                notional,
                net_edge_bps,
                book_ts: opp.book_ts,
            }),
        };
        let key = (p.venue.clone(), intent.spends().to_owned());
        let used = reserved.get(&key).copied().unwrap_or_default();
        if let Err(r) = engine.gate(&intent, &p.rules, now, used) {
            return Err(reject_all(i, r.reason.as_str()));
        }
        *reserved.entry(key).or_default() += intent.cost();
    }
    let trade_id = ids::trade(opp.episode_id, opp.book_ts);
    let orders = planned
        .into_iter()
        .enumerate()
        .map(|(i, p)| Order {
            id: ids::order(opp.episode_id, i, opp.book_ts),
            venue: p.venue,
            symbol: p.symbol,
            side: p.side,
            qty: p.qty,
            limit: Some(p.limit),
            fee_rate: p.fee_rate,
            rules: p.rules,
            unwind: false,
            state: State::Planned,
            decided_at: now,
            arrival: now,
            filled: Decimal::ZERO,
            notional: Decimal::ZERO,
            fee: Decimal::ZERO,
        })
        .collect::<Vec<_>>();
    Ok(PendingTrade {
        legs: orders.len(),
        opp: opp.clone(),
        trade_id,
        decided_at: now,
        orders,
        unwinds_planned: false,
        finals: Vec::new(),
    })
}

/// The trade's net edge and notional on the executor's latest books: each
/// leg walked as planned, leftover assets valued at their marks.
fn reprice(engine: &Engine, opp: &Opportunity, planned: &[Planned]) -> (Decimal, Decimal) {
    let mut flows: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut notional = Decimal::ZERO;
    for p in planned {
        let Some(book) = engine.books.latest(&p.venue, &p.symbol) else {
            continue;
        };
        let order = TakerOrder {
            side: p.side,
            qty: p.qty,
            limit: p.limit,
            fee_rate: p.fee_rate,
        };
        let Ok(f) = fill::take(book, &order) else {
            continue;
        };
        let (base, quote) = (p.symbol.base(), p.symbol.quote());
        let (db, dq) = match p.side {
            Side::Buy => (f.filled, -f.notional - f.fee),
            Side::Sell => (-f.filled, f.notional - f.fee),
        };
        *flows.entry(base).or_default() += db;
        *flows.entry(quote).or_default() += dq;
        if quote == opp.currency && p.side == Side::Buy {
            notional += f.notional;
        }
        if base == opp.currency && p.side == Side::Sell {
            notional += f.filled;
        }
    }
    let pnl: Decimal = flows
        .iter()
        .map(|(asset, q)| {
            engine
                .mark(asset, &opp.currency)
                .map_or(Decimal::ZERO, |m| marks::value(*q, m))
        })
        .sum();
    if notional.is_zero() {
        return (Decimal::ZERO, notional);
    }
    ((pnl / notional * BPS).round_dp(4), notional)
}

impl PendingTrade {
    pub fn trade_id(&self) -> Uuid {
        self.trade_id
    }

    pub fn opportunity(&self) -> &Opportunity {
        &self.opp
    }

    /// Sends what may go out now: every planned leg when concurrent, the
    /// first when sequential (later ones go from `progress`).
    pub(super) fn send_ready(&mut self, engine: &mut Engine) -> Vec<Decoded> {
        let sequential = engine.cfg.legs == LegMode::Sequential;
        let mut events = Vec::new();
        for i in 0..self.orders.len() {
            if self.orders[i].state != State::Planned {
                continue;
            }
            if sequential && i > 0 {
                break;
            }
            let at = self.decided_at;
            events.push(self.send(engine, i, at));
        }
        events
    }

    /// Order `i` goes out at `at`: its arrival is drawn, its `new` event
    /// built, and it counts toward the order rate.
    fn send(&mut self, engine: &mut Engine, i: usize, at: Timestamp) -> Decoded {
        let latency = engine.latency(&self.orders[i].venue);
        let o = &mut self.orders[i];
        let delay = latency.for_order(engine.cfg.seed, o.id.as_bytes());
        o.decided_at = at;
        o.arrival = from_nanos(to_nanos(&at).saturating_add(super::duration_nanos(delay)));
        o.state = State::Sent;
        let keep = engine
            .live
            .limits
            .order_rate
            .map_or(std::time::Duration::ZERO, |r| r.interval);
        engine.risk.recent_orders.record(at, keep);
        engine.count("orders.sent");
        let mut e = order_event(
            ids::order_event(o.id, OrderStatus::New, at),
            at,
            o.id,
            Some(self.trade_id),
            &self.opp,
            &o.venue,
            &o.symbol,
            o.side,
            o.order_type(),
            OrderStatus::New,
            o.limit,
            o.qty,
        );
        e.episode_id = Some(self.opp.episode_id);
        Decoded::Order(e)
    }

    /// Matches what it can; see [`Engine::progress`].
    pub(super) fn progress(&mut self, engine: &mut Engine, force: bool) -> Step {
        let mut step = Step::default();
        loop {
            // Match every sent order whose arrival book is known.
            for i in 0..self.orders.len() {
                if self.orders[i].state != State::Sent {
                    continue;
                }
                let o = &self.orders[i];
                let Engine { books, depth, .. } = &mut *engine;
                let book = books
                    .first_at_or_after(&o.venue, &o.symbol, o.arrival)
                    .or_else(|| force.then(|| books.latest(&o.venue, &o.symbol)).flatten());
                let Some(book) = book else {
                    step.waiting = Some((o.venue.clone(), o.symbol.clone(), o.arrival));
                    return step;
                };
                let taken = depth.take(book, &o.taker());
                self.book_fill(engine, i, taken);
            }
            if engine.cfg.legs == LegMode::Sequential && self.send_next_leg(engine, &mut step) {
                continue;
            }
            if !self.unwinds_planned {
                self.unwinds_planned = true;
                if self.plan_unwinds(engine, &mut step) {
                    continue;
                }
            }
            break;
        }
        step.events.extend(self.finish(engine));
        step.done = true;
        step
    }

    /// Books what order `i` took from its book (the ledger may still refuse
    /// it); builds its final event(s).
    fn book_fill(
        &mut self,
        engine: &mut Engine,
        i: usize,
        taken: Result<fill::Fill, fill::FillError>,
    ) {
        let o = &self.orders[i];
        let mut reason: Option<String> = None;
        match taken {
            Ok(f) if !f.is_empty() => {
                let booked = ledger::Fill {
                    venue: o.venue.clone(),
                    symbol: o.symbol.clone(),
                    side: o.side,
                    qty: f.filled,
                    notional: f.notional,
                    fee: f.fee,
                };
                match engine.ledger.apply_fill(&booked) {
                    Ok(()) => {
                        let o = &mut self.orders[i];
                        o.filled = f.filled;
                        o.notional = f.notional;
                        o.fee = f.fee;
                    }
                    Err(e) if e.is_unaffordable() => {
                        reason = Some(Reason::InsufficientBalance.as_str().to_owned());
                    }
                    Err(_) => reason = Some("inexact_amount".to_owned()),
                }
            }
            Ok(_) => reason = Some("no_liquidity_within_limit".to_owned()),
            Err(e) => reason = Some(e.reason().to_owned()),
        }
        let o = &mut self.orders[i];
        o.state = State::Done;
        let at = o.arrival;
        let o = o.clone();
        let base = |status: OrderStatus| {
            let mut e = order_event(
                ids::order_event(o.id, status, at),
                at,
                o.id,
                Some(self.trade_id),
                &self.opp,
                &o.venue,
                &o.symbol,
                o.side,
                o.order_type(),
                status,
                o.limit,
                o.qty,
            );
            e.episode_id = Some(self.opp.episode_id);
            e.filled_qty = o.filled;
            e.filled_notional = o.notional;
            e.avg_fill_price = o.notional.checked_div(o.filled);
            e.fee = o.fee;
            e
        };
        if let Some(reason) = reason {
            let status = if reason == Reason::InsufficientBalance.as_str() {
                OrderStatus::Rejected
            } else {
                OrderStatus::Cancelled
            };
            let mut e = base(status);
            e.reason = Some(reason);
            engine.count(format!("orders.{}", status.as_str()));
            self.finals.push(Decoded::Order(e));
        } else if o.filled == o.qty {
            engine.count("orders.filled");
            self.finals.push(Decoded::Order(base(OrderStatus::Filled)));
        } else {
            engine.count("orders.partially_filled");
            self.finals
                .push(Decoded::Order(base(OrderStatus::PartiallyFilled)));
            let mut e = base(OrderStatus::Cancelled);
            e.reason = Some("ioc_remainder".to_owned());
            self.finals.push(Decoded::Order(e));
        }
    }

    /// Sequential legs: once leg `i` is done, leg `i + 1` goes out at its
    /// arrival, sized to what it brought in. True if one was sent.
    fn send_next_leg(&mut self, engine: &mut Engine, step: &mut Step) -> bool {
        let Some(next) = (0..self.legs).find(|&i| self.orders[i].state == State::Planned) else {
            return false;
        };
        let prev = &self.orders[next - 1];
        if prev.state != State::Done {
            return false;
        }
        if prev.filled.is_zero() {
            // Nothing came in: the later legs are not sent at all.
            for o in &mut self.orders[next..self.legs] {
                o.state = State::Done;
            }
            return false;
        }
        // What the previous leg brought in, in the asset the next one spends.
        let got = match prev.side {
            Side::Buy => prev.filled,
            Side::Sell => prev.notional - prev.fee,
        };
        let at = prev.arrival;
        let o = &self.orders[next];
        // A buy spends it at its limit, fee included; never more than planned.
        let affordable = match o.side {
            Side::Sell => Some(got),
            Side::Buy => o
                .limit
                .and_then(|l| got.checked_div(l * (Decimal::ONE + o.fee_rate))),
        };
        let qty = o.rules.round_qty(affordable.unwrap_or_default().min(o.qty));
        let intent = OrderIntent {
            venue: &o.venue,
            symbol: &o.symbol,
            side: o.side,
            qty,
            price: o.limit.unwrap_or_default(),
            fee_rate: o.fee_rate,
            // It closes what the leg before opened.
            purpose: Purpose::Unwind,
        };
        let verdict = engine.gate(&intent, &o.rules, at, Decimal::ZERO);
        self.orders[next].qty = qty;
        match verdict {
            Ok(()) => {
                let e = self.send(engine, next, at);
                step.events.push(e);
                true
            }
            Err(r) => {
                self.reject_unsent(engine, next, at, r.reason.as_str());
                true
            }
        }
    }

    /// An order refused when it was to go out: rejected, never sent.
    fn reject_unsent(&mut self, engine: &mut Engine, i: usize, at: Timestamp, reason: &str) {
        let o = &mut self.orders[i];
        o.state = State::Done;
        o.arrival = at;
        let o = o.clone();
        let mut e = order_event(
            ids::order_event(o.id, OrderStatus::Rejected, at),
            at,
            o.id,
            Some(self.trade_id),
            &self.opp,
            &o.venue,
            &o.symbol,
            o.side,
            o.order_type(),
            OrderStatus::Rejected,
            o.limit,
            o.qty,
        );
        e.episode_id = Some(self.opp.episode_id);
        e.reason = Some(reason.to_owned());
        engine.count(format!("rejected.{reason}"));
        self.finals.push(Decoded::Order(e));
    }

    /// Net change per venue and asset of everything filled so far.
    fn exposure(&self) -> BTreeMap<(String, String), Decimal> {
        let mut net: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for o in &self.orders {
            for (venue, asset, q) in o.flows() {
                *net.entry((venue.to_owned(), asset.to_owned())).or_default() += q;
            }
        }
        net
    }

    /// The trade's leftover of each asset but its currency, all venues
    /// together (a cross trade moves the base between venues, which is no
    /// exposure), with the venue where it sits: the one whose change has the
    /// leftover's sign and is largest (the first by name on a tie).
    fn leftovers(
        &self,
        exposure: BTreeMap<(String, String), Decimal>,
    ) -> Vec<(String, String, Decimal)> {
        let mut by_asset: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
        for ((venue, asset), q) in exposure {
            if asset != self.opp.currency {
                by_asset.entry(asset).or_default().push((venue, q));
            }
        }
        let mut out = Vec::new();
        for (asset, venues) in by_asset {
            let total: Decimal = venues.iter().map(|(_, q)| *q).sum();
            if total.is_zero() {
                continue;
            }
            let sign = |q: Decimal| if total > Decimal::ZERO { q } else { -q };
            let Some((venue, _)) =
                venues
                    .iter()
                    .fold(None, |best: Option<&(String, Decimal)>, v| match best {
                        Some(b) if sign(b.1) >= sign(v.1) => Some(b),
                        _ => Some(v),
                    })
            else {
                continue;
            };
            out.push((venue.clone(), asset, total));
        }
        out
    }

    /// Sends an unwind for each leftover ([`Self::leftovers`]) that its
    /// venue's `ASSET/CURRENCY` book can flatten and the venue's rules
    /// accept (less is dust). True if any went out.
    fn plan_unwinds(&mut self, engine: &mut Engine, step: &mut Step) -> bool {
        let at = self
            .orders
            .iter()
            .map(|o| o.arrival)
            .max()
            .unwrap_or(self.decided_at);
        let currency = self.opp.currency.clone();
        let mut sent = false;
        for (venue, asset, net) in self.leftovers(self.exposure()) {
            let Ok(symbol) = Symbol::new(&asset, &currency) else {
                continue;
            };
            let (Some(rules), Some(book)) = (
                engine.cfg.rules.get(&venue, &symbol),
                engine.books.latest(&venue, &symbol),
            ) else {
                continue;
            };
            let side = if net > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let qty = rules.round_qty(net.abs());
            let price = match side {
                Side::Sell => book.best_bid().map(|l| l.price),
                Side::Buy => book.best_ask().map(|l| l.price),
            };
            let Some(price) = price else { continue };
            if rules.check(qty, rules.round_price(side, price)).is_err() {
                continue; // dust: below what the venue takes
            }
            let fee_rate = engine.fee_rate(&venue, Decimal::ZERO);
            let index = self.orders.len();
            self.orders.push(Order {
                id: ids::order(self.opp.episode_id, index, self.opp.book_ts),
                venue: venue.clone(),
                symbol: symbol.clone(),
                side,
                qty,
                limit: None,
                fee_rate,
                rules,
                unwind: true,
                state: State::Planned,
                decided_at: at,
                arrival: at,
                filled: Decimal::ZERO,
                notional: Decimal::ZERO,
                fee: Decimal::ZERO,
            });
            let intent = OrderIntent {
                venue: &venue,
                symbol: &symbol,
                side,
                qty,
                price: rules.round_price(side, price),
                fee_rate,
                purpose: Purpose::Unwind,
            };
            match engine.gate(&intent, &rules, at, Decimal::ZERO) {
                Ok(()) => {
                    let e = self.send(engine, index, at);
                    step.events.push(e);
                    engine.count("orders.unwind");
                    sent = true;
                }
                Err(r) => self.reject_unsent(engine, index, at, r.reason.as_str()),
            }
        }
        sent
    }

    /// The trade's record and what follows it.
    fn finish(&mut self, engine: &mut Engine) -> Vec<Decoded> {
        let currency = self.opp.currency.clone();
        let end = self
            .orders
            .iter()
            .map(|o| o.arrival)
            .max()
            .unwrap_or(self.decided_at);
        let filled_legs = self.orders[..self.legs]
            .iter()
            .filter(|o| !o.filled.is_zero())
            .count();
        let unwound = self.orders[self.legs..].iter().any(|o| !o.filled.is_zero());
        let exposure = self.exposure();
        let flow: Decimal = exposure
            .iter()
            .filter(|((_, asset), _)| *asset == currency)
            .map(|(_, q)| *q)
            .sum();
        // Leftover per asset, all venues together, beyond the currency.
        let left = self.leftovers(exposure);
        let marked: Decimal = left
            .iter()
            .filter_map(|(_, asset, q)| engine.mark(asset, &currency).map(|m| marks::value(*q, m)))
            .sum();
        let open_left = left.iter().any(|(venue, asset, q)| {
            let sym = Symbol::new(asset, &currency).ok();
            let rules = sym.as_ref().and_then(|s| engine.cfg.rules.get(venue, s));
            let price = sym
                .as_ref()
                .and_then(|s| engine.books.latest(venue, s))
                .and_then(marks::mid);
            match (rules, price) {
                (Some(r), Some(p)) => r
                    .check(r.round_qty(q.abs()), r.round_price(Side::Sell, p))
                    .is_ok(),
                _ => true,
            }
        });
        let status = if filled_legs == 0 {
            TradeStatus::Failed
        } else if open_left {
            TradeStatus::Partial
        } else if unwound {
            TradeStatus::Unwound
        } else {
            TradeStatus::Completed
        };
        let realized = flow + marked;
        let mut fees = Decimal::ZERO;
        let mut notional = Decimal::ZERO;
        let mut legs = Vec::new();
        for o in self.orders.iter().filter(|o| !o.filled.is_zero()) {
            let quote = o.symbol.quote();
            fees += if quote == currency {
                o.fee
            } else {
                engine
                    .mark(quote, &currency)
                    .map_or(Decimal::ZERO, |m| marks::value(o.fee, m))
            };
            if !o.unwind && o.side == Side::Buy && quote == currency {
                notional += o.notional;
            }
            legs.push(TradeLeg {
                order_id: o.id,
                venue: o.venue.clone(),
                symbol: o.symbol.clone(),
                side: o.side,
                qty: o.filled,
                price: (o.notional / o.filled).normalize(),
                notional: o.notional,
                fee: o.fee,
                fee_currency: Some(quote.to_owned()),
                unwind: o.unwind,
            });
        }
        let strategy = self.opp.kind.as_str().to_owned();
        let latency_us = (i128::from(to_nanos(&self.decided_at))
            - i128::from(to_nanos(&self.opp.book_ts)))
            / 1_000;
        let trade = TradeEvent {
            id: self.trade_id,
            ts: end,
            opportunity_id: Some(self.opp.id),
            episode_id: Some(self.opp.episode_id),
            strategy: strategy.clone(),
            status,
            legs,
            currency: currency.clone(),
            notional,
            fees,
            realized_pnl: realized,
            expected_profit: Some(self.opp.expected_profit),
            decision_latency_us: i64::try_from(latency_us).ok(),
        };
        engine.count(format!("trades.{}", status.as_str()));
        engine.finish(self.opp.episode_id);
        let cumulative = {
            let c = engine
                .cumulative
                .entry((strategy.clone(), currency.clone()))
                .or_default();
            *c += realized;
            *c
        };
        let mut events = vec![Decoded::Trade(trade)];
        events.append(&mut self.finals);
        events.push(Decoded::Pnl(PnlEvent {
            id: ids::pnl(self.trade_id, end),
            ts: end,
            strategy,
            trade_id: Some(self.trade_id),
            currency,
            realized,
            unrealized: engine.unrealized(),
            fees,
            cumulative_realized: cumulative,
        }));
        let mut venues: Vec<&str> = self.orders.iter().map(|o| o.venue.as_str()).collect();
        venues.sort_unstable();
        venues.dedup();
        for v in venues {
            events.push(Decoded::Portfolio(engine.portfolio(v, end)));
        }
        events.extend(engine.rebalance(end));
        events
    }
}

impl Engine {
    /// The risk gate for one order at `now`, with `reserved` of what it
    /// spends already promised to earlier legs of the same trade.
    fn gate(
        &mut self,
        intent: &OrderIntent<'_>,
        rules: &SymbolRules,
        now: Timestamp,
        reserved: Decimal,
    ) -> Result<(), risk::Rejection> {
        self.risk.trading = self.live.trading;
        let inputs = Inputs {
            now,
            available: self.ledger.available(intent.venue, intent.spends()) - reserved,
            rules,
        };
        risk::check(intent, &self.risk, &self.live.limits, &inputs)
    }

    /// What the marks say beyond what was booked: every venue's holdings
    /// against its starting balances, valued at the latest mids in the
    /// valuation currency, less the realized P&L counted in it.
    pub(super) fn unrealized(&self) -> Decimal {
        let valuation = &self.cfg.valuation;
        let marked: Decimal = self
            .ledger
            .change()
            .iter()
            .filter_map(|(asset, q)| self.mark(asset, valuation).map(|m| marks::value(*q, m)))
            .sum();
        let realized: Decimal = self
            .cumulative
            .iter()
            .filter(|((_, c), _)| c == valuation)
            .map(|(_, v)| *v)
            .sum();
        marked - realized
    }

    /// Starts the transfers that lift venues back to their floors; each a
    /// `sent` event, its cost in P&L (strategy `transfer`) and the sender's
    /// snapshot.
    pub(super) fn rebalance(&mut self, at: Timestamp) -> Vec<Decoded> {
        let proposals = self
            .ledger
            .propose_transfers(&self.cfg.floors, &self.cfg.transfers);
        let mut events = Vec::new();
        for p in proposals {
            let Some(terms) = self.cfg.transfers.get(&p.asset).copied() else {
                continue;
            };
            let Ok(t) = self.ledger.start_transfer(&p, &terms, at) else {
                self.count("transfers.refused");
                continue;
            };
            let id = ids::transfer(&t);
            self.transfer_ids.insert(t.id, id);
            let valuation = self.cfg.valuation.clone();
            let cost = self
                .mark(&t.asset, &valuation)
                .map(|m| marks::value(t.fee, m));
            events.push(Decoded::Transfer(TransferEvent {
                id: ids::transfer_event(id, TransferStatus::Sent, at),
                ts: at,
                transfer_id: id,
                asset: t.asset.clone(),
                from_venue: t.from.clone(),
                to_venue: t.to.clone(),
                amount: t.amount,
                fee: t.fee,
                status: TransferStatus::Sent,
                sent_ts: t.decided_at,
                arrives_ts: t.arrives_at,
                cost,
                currency: Some(valuation.clone()),
            }));
            self.count("transfers.sent");
            let cost = cost.unwrap_or_default();
            let cumulative = {
                let c = self
                    .cumulative
                    .entry((TRANSFER.to_owned(), valuation.clone()))
                    .or_default();
                *c -= cost;
                *c
            };
            events.push(Decoded::Pnl(PnlEvent {
                id: ids::transfer_pnl(id, at),
                ts: at,
                strategy: TRANSFER.to_owned(),
                trade_id: None,
                currency: valuation,
                realized: -cost,
                unrealized: self.unrealized(),
                fees: cost,
                cumulative_realized: cumulative,
            }));
            events.push(Decoded::Portfolio(self.portfolio(&t.from, at)));
        }
        events
    }
}

/// The P&L line transfer costs are counted under.
pub(crate) const TRANSFER: &str = "transfer";
