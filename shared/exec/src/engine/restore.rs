//! Rebuilding the engine from its own history (the EXEC stream, in stream
//! order), so a restarted executor goes on with the same balances, P&L and
//! traded episodes.
//!
//! The `TradeEvent` is the record a trade is rebuilt from: its legs carry
//! the exact base and quote amounts and fees, and it is published before the
//! trade's other events. Transfers are rebuilt from their `sent` and
//! `arrived` events. A trade whose orders went out (`new` events) but whose
//! record never came (the executor stopped while its orders were in
//! flight) is closed at start-up: its orders cancelled, the trade recorded
//! as `failed` with nothing filled, its episode counted as traded. Nothing
//! of it was booked, so the balances stay right.

use std::collections::{BTreeMap, HashSet};

use arb_contract::codec::Decoded;
use arb_contract::time::to_nanos;
use arb_contract::{OrderEvent, OrderStatus, TradeEvent, TradeStatus, TransferStatus};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Engine, ids};
use crate::ledger::{self, TransferOrder, TransferTerms};

/// Why a history record could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("trade {trade}: {source}")]
    Trade {
        trade: Uuid,
        #[source]
        source: ledger::LedgerError,
    },
    #[error("transfer {transfer}: {source}")]
    Transfer {
        transfer: Uuid,
        #[source]
        source: ledger::LedgerError,
    },
}

/// Feeds history into an engine; [`Restore::finish`] closes what was left
/// open.
#[derive(Debug)]
pub struct Restore<'a> {
    engine: &'a mut Engine,
    recorded: HashSet<Uuid>,
    /// `new` orders of trades with no record yet, by trade, in order.
    open: BTreeMap<Uuid, Vec<OrderEvent>>,
    applied: u64,
}

impl Engine {
    /// Starts rebuilding this (fresh) engine from history.
    pub fn restore(&mut self) -> Restore<'_> {
        Restore {
            engine: self,
            recorded: HashSet::new(),
            open: BTreeMap::new(),
            applied: 0,
        }
    }
}

impl Restore<'_> {
    /// Applies one history message; messages that change nothing (books,
    /// snapshots, other services' records) are passed over.
    pub fn apply(&mut self, msg: &Decoded) -> Result<(), RestoreError> {
        match msg {
            Decoded::Trade(t) => self.trade(t)?,
            Decoded::Order(o) => {
                if o.status == OrderStatus::New
                    && let Some(trade) = o.trade_id
                    && !self.recorded.contains(&trade)
                {
                    self.open.entry(trade).or_default().push(o.clone());
                }
            }
            Decoded::Transfer(t) => {
                let e = &mut *self.engine;
                match t.status {
                    TransferStatus::Sent => {
                        let order = TransferOrder {
                            asset: t.asset.clone(),
                            from: t.from_venue.clone(),
                            to: t.to_venue.clone(),
                            amount: t.amount,
                        };
                        let delay = to_nanos(&t.arrives_ts).saturating_sub(to_nanos(&t.sent_ts));
                        let terms = TransferTerms {
                            fee: t.fee,
                            delay: std::time::Duration::from_nanos(delay.max(0) as u64),
                        };
                        let started = e.ledger.start_transfer(&order, &terms, t.sent_ts).map_err(
                            |source| RestoreError::Transfer {
                                transfer: t.transfer_id,
                                source,
                            },
                        )?;
                        e.transfer_ids.insert(started.id, t.transfer_id);
                    }
                    TransferStatus::Arrived => {
                        e.ledger
                            .advance_to(t.ts)
                            .map_err(|source| RestoreError::Transfer {
                                transfer: t.transfer_id,
                                source,
                            })?;
                    }
                }
                e.clock = Some(e.clock.map_or(t.ts, |c| c.max(t.ts)));
            }
            Decoded::Pnl(p) if p.trade_id.is_none() => {
                // Transfer costs: their running total is the record's.
                self.engine.cumulative.insert(
                    (p.strategy.clone(), p.currency.clone()),
                    p.cumulative_realized,
                );
            }
            _ => return Ok(()),
        }
        self.applied += 1;
        Ok(())
    }

    fn trade(&mut self, t: &TradeEvent) -> Result<(), RestoreError> {
        if !self.recorded.insert(t.id) {
            return Ok(()); // the same record twice (a republish)
        }
        self.open.remove(&t.id);
        let e = &mut *self.engine;
        for leg in &t.legs {
            if leg.qty.is_zero() {
                continue;
            }
            let fill = ledger::Fill {
                venue: leg.venue.clone(),
                symbol: leg.symbol.clone(),
                side: leg.side,
                qty: leg.qty,
                notional: leg.notional,
                fee: leg.fee,
            };
            e.ledger
                .apply_fill(&fill)
                .map_err(|source| RestoreError::Trade {
                    trade: t.id,
                    source,
                })?;
        }
        if let Some(episode) = t.episode_id {
            e.traded.insert(episode);
        }
        *e.cumulative
            .entry((t.strategy.clone(), t.currency.clone()))
            .or_default() += t.realized_pnl;
        e.clock = Some(e.clock.map_or(t.ts, |c| c.max(t.ts)));
        *e.counters.entry("restore.trades".into()).or_default() += 1;
        Ok(())
    }

    /// How many records changed the engine.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Closes the trades left open, and returns their events with a
    /// snapshot of every venue at the history's last event time (none
    /// without history: there is no event time yet; the caller announces
    /// the balances with its first book): what the executor publishes
    /// before it takes new opportunities.
    pub fn finish(self) -> Vec<Decoded> {
        let Restore { engine, open, .. } = self;
        let mut events = Vec::new();
        for (trade_id, orders) in open {
            let Some(first) = orders.first().cloned() else {
                continue;
            };
            let ts = orders.iter().map(|o| o.ts).max().unwrap_or(first.ts);
            events.push(Decoded::Trade(TradeEvent {
                id: trade_id,
                ts,
                opportunity_id: first.opportunity_id,
                episode_id: first.episode_id,
                strategy: first.strategy.clone(),
                status: TradeStatus::Failed,
                legs: Vec::new(),
                currency: first.symbol.quote().to_owned(),
                notional: Decimal::ZERO,
                fees: Decimal::ZERO,
                realized_pnl: Decimal::ZERO,
                expected_profit: None,
                decision_latency_us: None,
            }));
            for o in orders {
                let mut c = o.clone();
                c.id = ids::order_event(o.order_id, OrderStatus::Cancelled, o.ts);
                c.status = OrderStatus::Cancelled;
                c.reason = Some("executor_restarted".to_owned());
                events.push(Decoded::Order(c));
            }
            if let Some(episode) = first.episode_id {
                engine.traded.insert(episode);
            }
            *engine
                .counters
                .entry("restore.interrupted".into())
                .or_default() += 1;
        }
        events.extend(engine.snapshots());
        events
    }
}
