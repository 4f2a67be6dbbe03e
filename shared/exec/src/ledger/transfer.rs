//! Transfers between venues: started at once, arriving after their delay
//! in event time, and proposals that rebalance venues to a floor.

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use rust_decimal::Decimal;

use super::{EntryKind, Ledger, LedgerError, exact_add, not_negative, positive};

/// A transfer's number within one ledger, counted from 1 in the order the
/// transfers were started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

/// A move of `amount` of `asset` from one venue to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOrder {
    pub asset: String,
    pub from: String,
    pub to: String,
    pub amount: Decimal,
}

/// What moving one asset costs: a withdrawal fee in that asset, paid by the
/// sender on top of the amount, and the time until it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferTerms {
    pub fee: Decimal,
    pub delay: Duration,
}

/// A started transfer: taken from the sender at `decided_at`, credited to
/// the receiver once the ledger's clock reaches `arrives_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub asset: String,
    pub from: String,
    pub to: String,
    pub amount: Decimal,
    pub fee: Decimal,
    pub decided_at: Timestamp,
    pub arrives_at: Timestamp,
}

impl Ledger {
    /// Starts a transfer decided at `decided_at`: `amount` and the
    /// withdrawal fee leave the sender now; the amount arrives at
    /// `decided_at + delay`, once [`Ledger::advance_to`] reaches that time.
    /// A sender that cannot pay both is refused and nothing changes.
    pub fn start_transfer(
        &mut self,
        order: &TransferOrder,
        terms: &TransferTerms,
        decided_at: Timestamp,
    ) -> Result<Transfer, LedgerError> {
        positive("transfer amount", order.amount)?;
        not_negative("withdrawal fee", terms.fee)?;
        let asset = &order.asset;
        if order.from == order.to {
            return Err(LedgerError::SameVenue {
                venue: order.from.clone(),
                asset: asset.clone(),
            });
        }
        if !self.balances.contains_key(&order.to) {
            return Err(LedgerError::UnknownVenue(order.to.clone()));
        }
        let held = self
            .balances
            .get(&order.from)
            .ok_or_else(|| LedgerError::UnknownVenue(order.from.clone()))?
            .get(asset)
            .copied()
            .unwrap_or(Decimal::ZERO);
        let remaining = exact_add(held, -order.amount)
            .and_then(|r| exact_add(r, -terms.fee))
            .ok_or_else(|| LedgerError::Inexact {
                venue: order.from.clone(),
                asset: asset.clone(),
            })?;
        if remaining < Decimal::ZERO {
            return Err(LedgerError::Insufficient {
                venue: order.from.clone(),
                asset: asset.clone(),
                needed: held.saturating_sub(remaining),
                available: held,
            });
        }
        self.balances
            .entry(order.from.clone())
            .or_default()
            .insert(asset.clone(), remaining);
        self.transfers_started += 1;
        let id = TransferId(self.transfers_started);
        let delay = i64::try_from(terms.delay.as_nanos()).unwrap_or(i64::MAX);
        let transfer = Transfer {
            id,
            asset: asset.clone(),
            from: order.from.clone(),
            to: order.to.clone(),
            amount: order.amount,
            fee: terms.fee,
            decided_at,
            arrives_at: from_nanos(to_nanos(&decided_at).saturating_add(delay)),
        };
        self.record(
            &order.from,
            asset,
            -order.amount,
            EntryKind::TransferOut(id),
        );
        self.record(&order.from, asset, -terms.fee, EntryKind::TransferFee(id));
        self.pending.push(transfer.clone());
        Ok(transfer)
    }

    /// Moves the ledger's clock to the event time `now` (never back) and
    /// credits every transfer due by then (`arrives_at <= now`), returning
    /// them in order of arrival. Should a receiver's balance not hold a
    /// credit exactly, that transfer and the later ones stay pending and the
    /// error says which.
    pub fn advance_to(&mut self, now: Timestamp) -> Result<Vec<Transfer>, LedgerError> {
        let now = self.clock.map_or(now, |c| c.max(now));
        self.clock = Some(now);
        // Called on every book, and almost always with nothing due: a look
        // at the (few) transfers in flight then, with no collect and sort.
        if !self.pending.iter().any(|t| t.arrives_at <= now) {
            return Ok(Vec::new());
        }
        let mut due: Vec<Transfer> = self
            .pending
            .iter()
            .filter(|t| t.arrives_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|t| (t.arrives_at, t.id));
        let mut arrived = Vec::with_capacity(due.len());
        for t in due {
            let assets = self.balances.entry(t.to.clone()).or_default();
            let held = assets.get(&t.asset).copied().unwrap_or(Decimal::ZERO);
            let credited = exact_add(held, t.amount).ok_or_else(|| LedgerError::Inexact {
                venue: t.to.clone(),
                asset: t.asset.clone(),
            })?;
            assets.insert(t.asset.clone(), credited);
            self.record(&t.to, &t.asset, t.amount, EntryKind::TransferIn(t.id));
            self.pending.retain(|p| p.id != t.id);
            arrived.push(t);
        }
        Ok(arrived)
    }

    /// Proposes transfers that lift venues below a floor back up to it. The
    /// rule, for each asset with a floor and transfer terms (by asset), and
    /// each venue whose holding — what it has plus what is in transit to it
    /// — is below that floor (by venue name):
    /// - the sender is the venue holding the most of the asset (the first by
    ///   name on a tie), counting the proposals made before this one;
    /// - the amount is the shortfall, `floor − holding`;
    /// - it is proposed only if the sender keeps at least the floor after
    ///   paying the amount and the withdrawal fee: moving a deficit from one
    ///   venue to another fixes nothing.
    ///
    /// Pure: the ledger is unchanged; start the proposals with
    /// [`Ledger::start_transfer`].
    pub fn propose_transfers(
        &self,
        floors: &BTreeMap<String, Decimal>,
        terms: &BTreeMap<String, TransferTerms>,
    ) -> Vec<TransferOrder> {
        let mut proposals = Vec::new();
        for (asset, floor) in floors {
            let Some(terms) = terms.get(asset) else {
                continue;
            };
            let mut held: BTreeMap<&str, Decimal> = self
                .venues()
                .map(|v| (v, self.available(v, asset)))
                .collect();
            let mut coming: BTreeMap<&str, Decimal> = BTreeMap::new();
            for p in self.pending.iter().filter(|p| &p.asset == asset) {
                let sum = coming.get(p.to.as_str()).copied().unwrap_or_default();
                coming.insert(&p.to, sum.saturating_add(p.amount));
            }
            let venues: Vec<&str> = held.keys().copied().collect();
            for to in venues {
                let Some(holding) =
                    exact_add(held[to], coming.get(to).copied().unwrap_or_default())
                else {
                    continue;
                };
                if holding >= *floor {
                    continue;
                }
                let Some((from, most)) = held.iter().filter(|(v, _)| **v != to).fold(
                    None,
                    |best: Option<(&str, Decimal)>, (v, h)| match best {
                        Some((_, b)) if b >= *h => best,
                        _ => Some((v, *h)),
                    },
                ) else {
                    continue;
                };
                let Some(amount) = exact_add(*floor, -holding) else {
                    continue;
                };
                let left = exact_add(most, -amount).and_then(|l| exact_add(l, -terms.fee));
                let Some(left) = left.filter(|left| left >= floor) else {
                    continue;
                };
                // Each venue is lifted once per asset: only the sender's
                // holding matters to the proposals after this one.
                held.insert(from, left);
                proposals.push(TransferOrder {
                    asset: asset.clone(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                    amount,
                });
            }
        }
        proposals
    }
}
