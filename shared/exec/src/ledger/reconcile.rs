//! Reconciliation: every balance recomputed from the starting balances and
//! the journal, and every transfer checked against its entries.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use thiserror::Error;

use super::{EntryKind, Ledger, TransferId, exact_add};

/// One venue and asset's account, rebuilt from the journal:
/// `starting + fills − fees + transfers − transfer_fees` should be `balance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub venue: String,
    pub asset: String,
    pub starting: Decimal,
    /// Signed sum of fill entries (bought base and sold-for quote positive).
    pub fills: Decimal,
    /// Fill fees paid, positive.
    pub fees: Decimal,
    /// Signed sum of transfers out and in.
    pub transfers: Decimal,
    /// Withdrawal fees paid, positive.
    pub transfer_fees: Decimal,
    /// What the ledger holds now.
    pub balance: Decimal,
}

/// Something [`Ledger::reconcile`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The journal adds up to another amount than the balance held.
    Balance {
        venue: String,
        asset: String,
        journal: Decimal,
        held: Decimal,
    },
    /// The journal's sums cannot be formed exactly in a `Decimal`.
    Inexact { venue: String, asset: String },
    /// A balance below zero.
    Negative {
        venue: String,
        asset: String,
        held: Decimal,
    },
    /// A transfer whose journal entries and pending state disagree.
    Transfer {
        id: TransferId,
        problem: TransferProblem,
    },
}

/// How a transfer's record can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferProblem {
    /// It arrived or is pending, but never left a sender.
    NeverLeft,
    /// It left, and neither arrived nor is pending.
    Lost,
    /// It left, or arrived, or is pending, more than once.
    Duplicated,
    /// What arrived or is pending is not what left (amount or asset).
    AmountDiffers,
}

/// A journal sum a `Decimal` cannot hold exactly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the journal's sums for {asset} on {venue} cannot be formed exactly")]
pub struct InexactSum {
    pub venue: String,
    pub asset: String,
}

/// What [`Ledger::reconcile`] found: empty when every balance is right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub differences: Vec<Difference>,
}

impl ReconcileReport {
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }
}

impl Ledger {
    /// Every venue and asset's account rebuilt from the starting balances
    /// and the journal, by venue and asset: what P&L and a reconciliation
    /// in SQL count. Refused when a sum cannot be formed exactly.
    pub fn accounts(&self) -> Result<Vec<Account>, InexactSum> {
        self.sums()
            .into_iter()
            .map(|((venue, asset), sums)| {
                let [fills, fees, transfers, transfer_fees] = sums.ok_or_else(|| InexactSum {
                    venue: venue.to_owned(),
                    asset: asset.to_owned(),
                })?;
                Ok(Account {
                    venue: venue.to_owned(),
                    asset: asset.to_owned(),
                    starting: self.starting_of(venue, asset),
                    fills,
                    fees: -fees,
                    transfers,
                    transfer_fees: -transfer_fees,
                    balance: self.available(venue, asset),
                })
            })
            .collect()
    }

    /// Recomputes every balance from the starting balances and the journal
    /// and reports each one that differs or is below zero, and each transfer
    /// that did not leave once and then either arrive once, with the same
    /// amount, or stay pending. Empty when all is right.
    pub fn reconcile(&self) -> ReconcileReport {
        let mut differences = Vec::new();
        for ((venue, asset), sums) in self.sums() {
            let (venue, asset) = (venue.to_owned(), asset.to_owned());
            let held = self.available(&venue, &asset);
            // Summed by kind first, then combined: another order of
            // additions than the one that built the balance.
            let journal = sums.and_then(|[fills, fees, transfers, transfer_fees]| {
                [fills, fees, transfers, transfer_fees]
                    .into_iter()
                    .try_fold(self.starting_of(&venue, &asset), exact_add)
            });
            match journal {
                None => differences.push(Difference::Inexact {
                    venue: venue.clone(),
                    asset: asset.clone(),
                }),
                Some(journal) if journal != held => differences.push(Difference::Balance {
                    venue: venue.clone(),
                    asset: asset.clone(),
                    journal,
                    held,
                }),
                Some(_) => {}
            }
            if held < Decimal::ZERO {
                differences.push(Difference::Negative { venue, asset, held });
            }
        }
        differences.extend(self.transfer_problems());
        ReconcileReport { differences }
    }

    /// Per venue and asset, the journal's sums of fills, fees, transfers and
    /// transfer fees (signed as entered); `None` where one is inexact.
    fn sums(&self) -> BTreeMap<(&str, &str), Option<[Decimal; 4]>> {
        let mut sums = BTreeMap::new();
        for (venue, assets) in self.starting.iter().chain(&self.balances) {
            for asset in assets.keys() {
                sums.insert((venue.as_str(), asset.as_str()), Some([Decimal::ZERO; 4]));
            }
        }
        for e in &self.journal {
            let slot = match e.kind {
                EntryKind::Fill { .. } => 0,
                EntryKind::Fee { .. } => 1,
                EntryKind::TransferOut(_) | EntryKind::TransferIn(_) => 2,
                EntryKind::TransferFee(_) => 3,
            };
            let sum = sums
                .entry((e.venue.as_str(), e.asset.as_str()))
                .or_insert(Some([Decimal::ZERO; 4]));
            *sum = sum.and_then(|mut s| {
                s[slot] = exact_add(s[slot], e.amount)?;
                Some(s)
            });
        }
        sums
    }

    /// Each transfer's journal entries against the pending list.
    fn transfer_problems(&self) -> Vec<Difference> {
        #[derive(Default)]
        struct Seen<'a> {
            out: Vec<(&'a str, Decimal)>,
            arrived: Vec<(&'a str, Decimal)>,
            pending: Vec<(&'a str, Decimal)>,
        }
        let mut seen: BTreeMap<TransferId, Seen<'_>> = BTreeMap::new();
        for e in &self.journal {
            match e.kind {
                EntryKind::TransferOut(id) => {
                    seen.entry(id).or_default().out.push((&e.asset, -e.amount))
                }
                EntryKind::TransferIn(id) => seen
                    .entry(id)
                    .or_default()
                    .arrived
                    .push((&e.asset, e.amount)),
                _ => {}
            }
        }
        for p in &self.pending {
            seen.entry(p.id)
                .or_default()
                .pending
                .push((&p.asset, p.amount));
        }
        let mut problems = Vec::new();
        for (id, s) in seen {
            let problem = match (s.out.as_slice(), [s.arrived, s.pending].concat().as_slice()) {
                ([], _) => Some(TransferProblem::NeverLeft),
                ([_], []) => Some(TransferProblem::Lost),
                ([sent], [landed]) if sent != landed => Some(TransferProblem::AmountDiffers),
                ([_], [_]) => None,
                _ => Some(TransferProblem::Duplicated),
            };
            if let Some(problem) = problem {
                problems.push(Difference::Transfer { id, problem });
            }
        }
        problems
    }
}
