//! What every decoded message must satisfy before a consumer uses it: book
//! prices and sizes positive and each side strictly sorted best first, event
//! times in a sane range, an opportunity's legs consistent with its kind,
//! balances never negative. [`crate::codec`] checks it on every decode, so an
//! invalid message is refused whole (and dead-lettered by its consumer),
//! never partly used.

use rust_decimal::Decimal;

use crate::error::ValidationError;
use crate::model::*;
use crate::time::{Timestamp, is_sane};

/// A message's own consistency rules.
pub trait Validate {
    fn validate(&self) -> Result<(), ValidationError>;
}

fn time(field: &'static str, t: &Timestamp) -> Result<(), ValidationError> {
    if is_sane(t) {
        Ok(())
    } else {
        Err(ValidationError::AbsurdTime {
            field,
            value: t.to_rfc3339(),
        })
    }
}

fn time_opt(field: &'static str, t: &Option<Timestamp>) -> Result<(), ValidationError> {
    t.as_ref().map_or(Ok(()), |t| time(field, t))
}

fn non_empty(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        Err(ValidationError::Empty { field })
    } else {
        Ok(())
    }
}

fn positive(field: &'static str, d: Decimal) -> Result<(), ValidationError> {
    if d > Decimal::ZERO {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            value: d.to_string(),
            why: "must be positive",
        })
    }
}

fn non_negative(field: &'static str, d: Decimal) -> Result<(), ValidationError> {
    if d.is_sign_negative() && !d.is_zero() {
        Err(ValidationError::OutOfRange {
            field,
            value: d.to_string(),
            why: "must not be negative",
        })
    } else {
        Ok(())
    }
}

/// Which way a side's prices must move from level to level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideOrder {
    /// Bids: each price below the one before.
    Descending,
    /// Asks: each price above the one before.
    Ascending,
}

/// A number as a book level holds it: a `Decimal`, or another reader's
/// exact form of one (the sink's fast reader has its own).
pub trait LevelValue: Copy + std::fmt::Display {
    fn is_positive(&self) -> bool;
    /// By value; `None` if the two cannot be compared exactly.
    fn cmp_value(&self, other: &Self) -> Option<std::cmp::Ordering>;
}

impl LevelValue for Decimal {
    fn is_positive(&self) -> bool {
        *self > Decimal::ZERO
    }

    fn cmp_value(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Checks one side of a book: every price and size positive, prices
/// strictly sorted best first (so no level appears twice).
pub fn check_side<P: LevelValue>(
    side: &'static str,
    levels: impl IntoIterator<Item = (P, P)>,
    order: SideOrder,
) -> Result<(), ValidationError> {
    use std::cmp::Ordering;
    let mut prev: Option<P> = None;
    for (index, (price, qty)) in levels.into_iter().enumerate() {
        for (what, v) in [("price", price), ("size", qty)] {
            if !v.is_positive() {
                return Err(ValidationError::NotPositive {
                    side,
                    index,
                    what,
                    value: v.to_string(),
                });
            }
        }
        if let Some(p) = prev {
            let sorted = matches!(
                (order, price.cmp_value(&p)),
                (SideOrder::Descending, Some(Ordering::Less))
                    | (SideOrder::Ascending, Some(Ordering::Greater))
            );
            if !sorted {
                return Err(ValidationError::Unsorted {
                    side,
                    index,
                    price: price.to_string(),
                    order: match order {
                        SideOrder::Descending => "below",
                        SideOrder::Ascending => "above",
                    },
                });
            }
        }
        prev = Some(price);
    }
    Ok(())
}

impl Validate for BookSnapshot {
    fn validate(&self) -> Result<(), ValidationError> {
        non_empty("venue", &self.venue)?;
        time("received_ts", &self.received_ts)?;
        time_opt("exchange_ts", &self.exchange_ts)?;
        fn side(l: &[Level]) -> impl Iterator<Item = (Decimal, Decimal)> + '_ {
            l.iter().map(|l| (l.price, l.qty))
        }
        check_side("bid", side(&self.bids), SideOrder::Descending)?;
        check_side("ask", side(&self.asks), SideOrder::Ascending)
    }
}

impl Validate for FeedStatus {
    fn validate(&self) -> Result<(), ValidationError> {
        non_empty("venue", &self.venue)?;
        time("ts", &self.ts)
    }
}

fn legs(kind: &'static str, why: impl Into<String>) -> ValidationError {
    ValidationError::Legs {
        kind,
        why: why.into(),
    }
}

impl Validate for Opportunity {
    fn validate(&self) -> Result<(), ValidationError> {
        time("book_ts", &self.book_ts)?;
        time_opt("received_ts", &self.received_ts)?;
        time_opt("published_ts", &self.published_ts)?;
        time_opt("opened_ts", &self.opened_ts)?;
        non_empty("key", &self.key)?;
        non_empty("currency", &self.currency)?;
        non_negative("notional", self.notional)?;
        for l in &self.legs {
            non_empty("leg venue", &l.venue)?;
            positive("leg qty", l.qty)?;
            positive("leg vwap", l.vwap)?;
            if let Some(p) = l.limit_price {
                positive("leg limit_price", p)?;
            }
            if l.fee_rate.is_sign_negative() && !l.fee_rate.is_zero() || l.fee_rate >= Decimal::ONE
            {
                return Err(ValidationError::OutOfRange {
                    field: "leg fee_rate",
                    value: l.fee_rate.to_string(),
                    why: "must be a fraction in [0, 1)",
                });
            }
        }
        match self.kind {
            OpportunityKind::Cross => {
                let k = "cross";
                let [a, b] = self.legs.as_slice() else {
                    return Err(legs(k, format!("{} legs, not 2", self.legs.len())));
                };
                if a.symbol != b.symbol {
                    return Err(legs(k, "the legs trade different symbols"));
                }
                if a.venue == b.venue {
                    return Err(legs(k, "both legs on one venue"));
                }
                if a.side == b.side {
                    return Err(legs(k, "both legs on one side"));
                }
                if a.symbol.quote() != self.currency {
                    return Err(legs(k, "profit not counted in the symbol's quote"));
                }
            }
            OpportunityKind::Triangular => {
                let k = "triangular";
                let [a, b, c] = self.legs.as_slice() else {
                    return Err(legs(k, format!("{} legs, not 3", self.legs.len())));
                };
                if a.venue != b.venue || b.venue != c.venue {
                    return Err(legs(k, "the legs are not on one venue"));
                }
                // The cycle starts and ends in the profit currency.
                fn pays(l: &OpportunityLeg) -> &str {
                    match l.side {
                        Side::Buy => l.symbol.quote(),
                        Side::Sell => l.symbol.base(),
                    }
                }
                fn gets(l: &OpportunityLeg) -> &str {
                    match l.side {
                        Side::Buy => l.symbol.base(),
                        Side::Sell => l.symbol.quote(),
                    }
                }
                if pays(a) != self.currency
                    || gets(a) != pays(b)
                    || gets(b) != pays(c)
                    || gets(c) != self.currency
                {
                    return Err(legs(
                        k,
                        format!("the legs do not form a cycle from {}", self.currency),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Validate for OrderEvent {
    fn validate(&self) -> Result<(), ValidationError> {
        time("ts", &self.ts)?;
        non_empty("venue", &self.venue)?;
        non_empty("strategy", &self.strategy)?;
        non_negative("qty", self.qty)?;
        non_negative("filled_qty", self.filled_qty)?;
        non_negative("filled_notional", self.filled_notional)?;
        non_negative("fee", self.fee)?;
        if self.filled_qty > self.qty {
            return Err(ValidationError::OutOfRange {
                field: "filled_qty",
                value: self.filled_qty.to_string(),
                why: "more than the order's qty",
            });
        }
        if let Some(p) = self.price {
            positive("price", p)?;
        }
        if let Some(p) = self.avg_fill_price {
            positive("avg_fill_price", p)?;
        }
        Ok(())
    }
}

impl Validate for TradeEvent {
    fn validate(&self) -> Result<(), ValidationError> {
        time("ts", &self.ts)?;
        non_empty("strategy", &self.strategy)?;
        for l in &self.legs {
            non_negative("leg qty", l.qty)?;
            positive("leg price", l.price)?;
            non_negative("leg notional", l.notional)?;
            non_negative("leg fee", l.fee)?;
        }
        non_negative("notional", self.notional)
    }
}

/// Implements [`Validate`] for messages whose only rules are a sane `ts`
/// and a non-empty name field.
macro_rules! stamped_and_named {
    ($($ty:ty: $name:ident),* $(,)?) => {$(
        impl Validate for $ty {
            fn validate(&self) -> Result<(), ValidationError> {
                time("ts", &self.ts)?;
                non_empty(stringify!($name), &self.$name)
            }
        }
    )*};
}

stamped_and_named!(PnlEvent: strategy, AuditEvent: service, DeadLetter: service);

impl Validate for PortfolioSnapshot {
    fn validate(&self) -> Result<(), ValidationError> {
        time("ts", &self.ts)?;
        non_empty("venue", &self.venue)?;
        for b in &self.balances {
            non_empty("asset", &b.asset)?;
            non_negative("balance free", b.free)?;
            non_negative("balance locked", b.locked)?;
        }
        Ok(())
    }
}

impl Validate for TransferEvent {
    fn validate(&self) -> Result<(), ValidationError> {
        time("ts", &self.ts)?;
        time("sent_ts", &self.sent_ts)?;
        time("arrives_ts", &self.arrives_ts)?;
        non_empty("asset", &self.asset)?;
        non_empty("from_venue", &self.from_venue)?;
        non_empty("to_venue", &self.to_venue)?;
        if self.from_venue == self.to_venue {
            return Err(ValidationError::OutOfRange {
                field: "to_venue",
                value: self.to_venue.clone(),
                why: "the same venue as from_venue",
            });
        }
        positive("amount", self.amount)?;
        non_negative("fee", self.fee)?;
        if self.arrives_ts < self.sent_ts {
            return Err(ValidationError::OutOfRange {
                field: "arrives_ts",
                value: self.arrives_ts.to_string(),
                why: "before sent_ts",
            });
        }
        Ok(())
    }
}

impl Validate for RuntimeState {
    fn validate(&self) -> Result<(), ValidationError> {
        time("ts", &self.ts)?;
        time("started_at", &self.started_at)?;
        non_empty("service", &self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use crate::time::from_nanos;

    #[test]
    fn stamped_and_named_messages_need_their_name() {
        let ts = from_nanos(1_700_000_000_000_000_000);
        let (mut pnl, mut audit, mut dlq) = (
            sample::pnl(1, ts),
            sample::audit(1, ts),
            sample::dead_letter(1, ts),
        );
        assert_eq!(pnl.validate(), Ok(()));
        assert_eq!(audit.validate(), Ok(()));
        assert_eq!(dlq.validate(), Ok(()));
        pnl.strategy.clear();
        audit.service = " ".into();
        dlq.service.clear();
        let empty = |field| Err(ValidationError::Empty { field });
        assert_eq!(pnl.validate(), empty("strategy"));
        assert_eq!(audit.validate(), empty("service"));
        assert_eq!(dlq.validate(), empty("service"));
    }
}
