//! Balances per venue and asset that reconcile to the last unit (issue 12,
//! items 8–10): the executor's book of what each venue holds, fed with the
//! fills the matching model produced and with simulated transfers between
//! venues, and read by the risk gate (`available`), the portfolio snapshots
//! and P&L (the journal's fee entries).
//!
//! Every change is a journal [`Entry`], a signed amount of one asset on one
//! venue, so that for every venue and asset
//! `starting + fills − fees + transfers − transfer fees = balance` holds
//! exactly; [`Ledger::reconcile`] checks it. Arithmetic is `Decimal` and
//! exact: a change whose result `Decimal` could only hold rounded is refused
//! like one that would overdraw, and a refused change changes nothing.
//! Time is the event time the caller passes in; the ledger reads no clock.

use std::collections::BTreeMap;

use arb_contract::time::Timestamp;
use arb_contract::{Balance, Side, Symbol};
use rust_decimal::Decimal;
use thiserror::Error;

mod config;
mod reconcile;
#[cfg(test)]
mod tests;
mod transfer;

pub use config::{BalanceParseError, StartingBalances};
pub use reconcile::{Account, Difference, InexactSum, ReconcileReport, TransferProblem};
pub use transfer::{Transfer, TransferId, TransferOrder, TransferTerms};

/// A change the ledger refused; it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error("venue {0} has starting balances twice")]
    DuplicateVenue(String),
    #[error("venue {0} has no balances in this ledger")]
    UnknownVenue(String),
    #[error("{what} {value} must be {rule}")]
    BadAmount {
        what: &'static str,
        value: Decimal,
        rule: &'static str,
    },
    #[error("a transfer of {asset} from {venue} to itself")]
    SameVenue { venue: String, asset: String },
    #[error("{venue} holds {available} {asset}, {needed} would be taken")]
    Insufficient {
        venue: String,
        asset: String,
        needed: Decimal,
        available: Decimal,
    },
    #[error("the {asset} balance of {venue} cannot hold the result exactly")]
    Inexact { venue: String, asset: String },
}

impl LedgerError {
    /// The balance cannot pay for the change: the risk gate should have
    /// rejected the order, and the executor records it as rejected. Every
    /// other kind is a configuration or caller error.
    pub fn is_unaffordable(&self) -> bool {
        matches!(self, LedgerError::Insufficient { .. })
    }
}

/// An execution to book: `qty` of the symbol's base for `notional` of its
/// quote, and a `fee` charged in the quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub venue: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Decimal,
    pub notional: Decimal,
    pub fee: Decimal,
}

/// What one journal entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// The base or the quote leg of a fill.
    Fill { symbol: Symbol, side: Side },
    /// A fill's fee, in the quote.
    Fee { symbol: Symbol, side: Side },
    /// The amount leaving the sender.
    TransferOut(TransferId),
    /// The withdrawal fee, paid by the sender in the asset moved.
    TransferFee(TransferId),
    /// The amount reaching the receiver.
    TransferIn(TransferId),
}

/// One signed change of one asset on one venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the journal, from 0.
    pub seq: u64,
    pub venue: String,
    pub asset: String,
    /// Added to the balance (negative when taken from it).
    pub amount: Decimal,
    pub kind: EntryKind,
}

/// Balances per venue and asset, with the journal that explains them and
/// the transfers under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    starting: BTreeMap<String, BTreeMap<String, Decimal>>,
    balances: BTreeMap<String, BTreeMap<String, Decimal>>,
    journal: Vec<Entry>,
    pending: Vec<Transfer>,
    clock: Option<Timestamp>,
    transfers_started: u64,
}

/// `a + b`, or `None` when a `Decimal` could hold it only rounded or not at
/// all. Adding brings both to the larger scale; when the mantissa would
/// overflow, `Decimal` drops digits and the scale instead. (A zero operand
/// gives back the other one as it is, at its own scale: exact too.)
fn exact_add(a: Decimal, b: Decimal) -> Option<Decimal> {
    let sum = a.checked_add(b)?;
    (a.is_zero() || b.is_zero() || sum.scale() >= a.scale().max(b.scale())).then_some(sum)
}

fn positive(what: &'static str, value: Decimal) -> Result<(), LedgerError> {
    amount_rule(what, value, value > Decimal::ZERO, "above zero")
}

fn not_negative(what: &'static str, value: Decimal) -> Result<(), LedgerError> {
    amount_rule(what, value, value >= Decimal::ZERO, "zero or more")
}

/// `Ok` when `value` keeps the rule (`holds`), else the refusal naming it.
fn amount_rule(
    what: &'static str,
    value: Decimal,
    holds: bool,
    rule: &'static str,
) -> Result<(), LedgerError> {
    if holds {
        return Ok(());
    }
    Err(LedgerError::BadAmount { what, value, rule })
}

impl Ledger {
    /// A ledger holding each venue's starting balances; a venue given twice,
    /// or a negative amount, is refused. Only these venues can trade or take
    /// part in transfers.
    pub fn new(
        starting: impl IntoIterator<Item = StartingBalances>,
    ) -> Result<Ledger, LedgerError> {
        let mut venues = BTreeMap::new();
        for s in starting {
            for amount in s.assets.values() {
                not_negative("starting balance", *amount)?;
            }
            if venues.insert(s.venue.clone(), s.assets).is_some() {
                return Err(LedgerError::DuplicateVenue(s.venue));
            }
        }
        Ok(Ledger {
            balances: venues.clone(),
            starting: venues,
            journal: Vec::new(),
            pending: Vec::new(),
            clock: None,
            transfers_started: 0,
        })
    }

    /// What `venue` holds of `asset` and can spend now (zero when unknown;
    /// nothing is locked, transfers in transit are held by no venue).
    pub fn available(&self, venue: &str, asset: &str) -> Decimal {
        self.balances
            .get(venue)
            .and_then(|assets| assets.get(asset))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    /// The venues, by name.
    pub fn venues(&self) -> impl Iterator<Item = &str> {
        self.balances.keys().map(String::as_str)
    }

    /// Every entry so far, in order.
    pub fn journal(&self) -> &[Entry] {
        &self.journal
    }

    /// The latest event time the caller advanced the ledger to.
    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    /// Transfers that left their sender and have not arrived, in the order
    /// they were started.
    pub fn in_transit(&self) -> &[Transfer] {
        &self.pending
    }

    /// How much of each asset all venues together hold beyond their
    /// starting balances (what is in transit counts as gone until it
    /// arrives): the journal's sum per asset, without reading the journal.
    pub fn change(&self) -> BTreeMap<&str, Decimal> {
        let mut out: BTreeMap<&str, Decimal> = BTreeMap::new();
        for (venue, assets) in &self.balances {
            for (asset, held) in assets {
                *out.entry(asset.as_str()).or_default() += *held - self.starting_of(venue, asset);
            }
        }
        out
    }

    /// `venue`'s balances for a `PortfolioSnapshot`, sorted by asset (every
    /// asset it ever held, zero ones too); `None` for an unknown venue.
    pub fn snapshot(&self, venue: &str) -> Option<Vec<Balance>> {
        let assets = self.balances.get(venue)?;
        Some(
            assets
                .iter()
                .map(|(asset, free)| Balance {
                    asset: asset.clone(),
                    free: *free,
                    locked: Decimal::ZERO,
                })
                .collect(),
        )
    }

    /// Books a fill: a buy adds `qty` of the base and takes `notional + fee`
    /// of the quote; a sell takes `qty` of the base and adds
    /// `notional − fee` of the quote. A fill that would leave a balance
    /// below zero is refused and changes nothing.
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<(), LedgerError> {
        positive("fill quantity", fill.qty)?;
        not_negative("fill notional", fill.notional)?;
        not_negative("fill fee", fill.fee)?;
        let (base, quote) = (fill.symbol.base(), fill.symbol.quote());
        let (base_change, quote_change) = match fill.side {
            Side::Buy => (fill.qty, -fill.notional),
            Side::Sell => (-fill.qty, fill.notional),
        };
        let venue = &fill.venue;
        let (new_base, new_quote) = {
            let held = self
                .balances
                .get(venue)
                .ok_or_else(|| LedgerError::UnknownVenue(venue.clone()))?;
            let inexact = |asset: &str| LedgerError::Inexact {
                venue: venue.clone(),
                asset: asset.to_owned(),
            };
            let base_held = held.get(base).copied().unwrap_or(Decimal::ZERO);
            let quote_held = held.get(quote).copied().unwrap_or(Decimal::ZERO);
            let new_base = exact_add(base_held, base_change).ok_or_else(|| inexact(base))?;
            let new_quote = exact_add(quote_held, quote_change)
                .and_then(|q| exact_add(q, -fill.fee))
                .ok_or_else(|| inexact(quote))?;
            let short =
                |asset: &str, needed: Decimal, available: Decimal| LedgerError::Insufficient {
                    venue: venue.clone(),
                    asset: asset.to_owned(),
                    needed,
                    available,
                };
            if new_base < Decimal::ZERO {
                return Err(short(base, fill.qty, base_held));
            }
            if new_quote < Decimal::ZERO {
                // What the fill takes from the quote, net of what it brings.
                return Err(short(
                    quote,
                    quote_held.saturating_sub(new_quote),
                    quote_held,
                ));
            }
            (new_base, new_quote)
        };
        let assets = self.balances.entry(venue.clone()).or_default();
        assets.insert(base.to_owned(), new_base);
        assets.insert(quote.to_owned(), new_quote);
        let (symbol, side) = (&fill.symbol, fill.side);
        let leg = || EntryKind::Fill {
            symbol: symbol.clone(),
            side,
        };
        self.record(venue, base, base_change, leg());
        self.record(venue, quote, quote_change, leg());
        let fee = EntryKind::Fee {
            symbol: symbol.clone(),
            side,
        };
        self.record(venue, quote, -fill.fee, fee);
        Ok(())
    }

    fn starting_of(&self, venue: &str, asset: &str) -> Decimal {
        self.starting
            .get(venue)
            .and_then(|assets| assets.get(asset))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn record(&mut self, venue: &str, asset: &str, amount: Decimal, kind: EntryKind) {
        self.journal.push(Entry {
            seq: self.journal.len() as u64,
            venue: venue.to_owned(),
            asset: asset.to_owned(),
            amount,
            kind,
        });
    }
}
