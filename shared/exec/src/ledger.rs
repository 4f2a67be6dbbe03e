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
use std::str::FromStr;
use std::time::Duration;

use arb_contract::subject::check_token;
use arb_contract::symbol::normalize_asset;
use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use arb_contract::{Balance, Side, SubjectError, Symbol};
use rust_decimal::Decimal;
use thiserror::Error;

/// One venue's starting balances, as one `--balance` value gives them:
/// `sim-a:USD=100000,BTC=2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartingBalances {
    pub venue: String,
    /// Amount per asset code (normalized: upper case).
    pub assets: BTreeMap<String, Decimal>,
}

/// A `--balance` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BalanceParseError {
    #[error("balance {text:?} is not of the form VENUE:ASSET=AMOUNT[,ASSET=AMOUNT...]")]
    UnknownForm { text: String },
    #[error("balance {text:?} names no usable venue: {source}")]
    BadVenue {
        text: String,
        #[source]
        source: SubjectError,
    },
    #[error("asset code {asset:?} is not letters and digits")]
    BadAsset { asset: String },
    #[error("amount {value:?} of {asset} is not a decimal number")]
    BadNumber { asset: String, value: String },
    #[error("amount {amount} of {asset} is negative")]
    Negative { asset: String, amount: Decimal },
    #[error("asset {asset} is given twice for venue {venue}")]
    DuplicateAsset { venue: String, asset: String },
}

impl FromStr for StartingBalances {
    type Err = BalanceParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || BalanceParseError::UnknownForm {
            text: text.to_owned(),
        };
        let (venue, list) = text.trim().split_once(':').ok_or_else(unknown)?;
        let venue = check_token("venue", venue.trim())
            .map_err(|source| BalanceParseError::BadVenue {
                text: text.to_owned(),
                source,
            })?
            .to_owned();
        let mut assets = BTreeMap::new();
        for item in list.split(',') {
            let (asset, value) = item.split_once('=').ok_or_else(unknown)?;
            let asset = normalize_asset(asset);
            if asset.is_empty() || !asset.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(BalanceParseError::BadAsset { asset });
            }
            let value = value.trim();
            let amount = Decimal::from_str(value).map_err(|_| BalanceParseError::BadNumber {
                asset: asset.clone(),
                value: value.to_owned(),
            })?;
            if amount < Decimal::ZERO {
                return Err(BalanceParseError::Negative { asset, amount });
            }
            if assets.insert(asset.clone(), amount.abs()).is_some() {
                return Err(BalanceParseError::DuplicateAsset { venue, asset });
            }
        }
        Ok(StartingBalances { venue, assets })
    }
}

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

/// A transfer's number within one ledger, counted from 1 in the order the
/// transfers were started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u64);

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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn btc_usd() -> Symbol {
        Symbol::new("BTC", "USD").unwrap()
    }

    fn ledger(balances: &[&str]) -> Ledger {
        Ledger::new(balances.iter().map(|b| b.parse().unwrap())).unwrap()
    }

    fn fill(venue: &str, side: Side, qty: &str, notional: &str, fee: &str) -> Fill {
        Fill {
            venue: venue.to_owned(),
            symbol: btc_usd(),
            side,
            qty: d(qty),
            notional: d(notional),
            fee: d(fee),
        }
    }

    fn btc(from: &str, to: &str, amount: &str) -> TransferOrder {
        TransferOrder {
            asset: "BTC".to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            amount: d(amount),
        }
    }

    #[test]
    fn a_buy_and_a_sell_with_fees_give_exact_balances() {
        let mut l = ledger(&["sim-a:USD=100000,BTC=2"]);
        // 0.5 BTC for 30000.25 USD at a 0.26% taker fee: 78.00065 USD.
        l.apply_fill(&fill("sim-a", Side::Buy, "0.5", "30000.25", "78.00065"))
            .unwrap();
        assert_eq!(l.available("sim-a", "BTC"), d("2.5"));
        // 100000 − 30000.25 − 78.00065
        assert_eq!(l.available("sim-a", "USD"), d("69921.74935"));
        // 1.25 BTC for 75000.125 USD at 0.1%: 75.000125 USD.
        l.apply_fill(&fill("sim-a", Side::Sell, "1.25", "75000.125", "75.000125"))
            .unwrap();
        assert_eq!(l.available("sim-a", "BTC"), d("1.25"));
        // 69921.74935 + 75000.125 − 75.000125
        assert_eq!(l.available("sim-a", "USD"), d("144846.874225"));
        assert_eq!(l.journal().len(), 6);
        let accounts = l.accounts().unwrap();
        let usd = accounts.iter().find(|a| a.asset == "USD").unwrap();
        assert_eq!(
            (usd.starting, usd.fills, usd.fees, usd.balance),
            (
                d("100000"),
                d("44999.875"),
                d("153.000775"),
                d("144846.874225")
            )
        );
        assert!(l.reconcile().is_empty(), "{:?}", l.reconcile());
        assert_eq!(
            l.snapshot("sim-a").unwrap(),
            vec![
                Balance {
                    asset: "BTC".into(),
                    free: d("1.25"),
                    locked: Decimal::ZERO
                },
                Balance {
                    asset: "USD".into(),
                    free: d("144846.874225"),
                    locked: Decimal::ZERO
                },
            ]
        );
        assert_eq!(l.snapshot("sim-b"), None);
    }

    #[test]
    fn a_fill_that_would_overdraw_is_refused_and_changes_nothing() {
        let mut l = ledger(&["sim-a:USD=1000,BTC=0.01"]);
        let before = l.clone();
        let refused = [
            (
                fill("sim-a", Side::Buy, "0.02", "999", "1.0000001"),
                LedgerError::Insufficient {
                    venue: "sim-a".into(),
                    asset: "USD".into(),
                    needed: d("1000.0000001"),
                    available: d("1000"),
                },
            ),
            (
                fill("sim-a", Side::Sell, "0.010000001", "600", "1"),
                LedgerError::Insufficient {
                    venue: "sim-a".into(),
                    asset: "BTC".into(),
                    needed: d("0.010000001"),
                    available: d("0.01"),
                },
            ),
            (
                fill("sim-b", Side::Buy, "0.01", "1", "0"),
                LedgerError::UnknownVenue("sim-b".into()),
            ),
            (
                fill("sim-a", Side::Buy, "0", "1", "0"),
                LedgerError::BadAmount {
                    what: "fill quantity",
                    value: d("0"),
                    rule: "above zero",
                },
            ),
            (
                fill("sim-a", Side::Buy, "0.01", "1", "-0.1"),
                LedgerError::BadAmount {
                    what: "fill fee",
                    value: d("-0.1"),
                    rule: "zero or more",
                },
            ),
        ];
        for (f, expected) in refused {
            assert_eq!(l.apply_fill(&f), Err(expected));
            assert_eq!(l, before);
        }
        // Exactly affordable is allowed, down to zero.
        l.apply_fill(&fill("sim-a", Side::Buy, "0.02", "999", "1"))
            .unwrap();
        assert_eq!(l.available("sim-a", "USD"), Decimal::ZERO);
        assert!(l.reconcile().is_empty());
    }

    #[test]
    fn a_result_decimal_would_round_is_refused() {
        let mut l = ledger(&["sim-a:USD=70000000000000000000000000000,BTC=1"]);
        let before = l.clone();
        // 7e28 + 0.5 needs 30 digits: a Decimal would round it.
        let f = fill("sim-a", Side::Sell, "0.5", "0.5", "0");
        assert_eq!(
            l.apply_fill(&f),
            Err(LedgerError::Inexact {
                venue: "sim-a".into(),
                asset: "USD".into()
            })
        );
        assert_eq!(l, before);
        assert_eq!(exact_add(Decimal::MAX, Decimal::ONE), None);
        assert_eq!(exact_add(d("1.10"), d("2.2")), Some(d("3.30")));
        // Decimal returns the other operand for a zero one, scale and all.
        assert_eq!(exact_add(d("0.00000000"), d("319.42")), Some(d("319.42")));
        assert_eq!(exact_add(d("319.42"), d("-0.0000")), Some(d("319.42")));
    }

    #[test]
    fn a_transfer_pays_its_fee_at_once_and_arrives_after_its_delay() {
        let mut l = ledger(&["sim-a:USD=10,BTC=2", "sim-b:USD=10"]);
        let terms = TransferTerms {
            fee: d("0.0005"),
            delay: Duration::from_secs(30 * 60),
        };
        let decided = t("2026-01-01T00:00:00Z");
        let tr = l
            .start_transfer(&btc("sim-a", "sim-b", "0.75"), &terms, decided)
            .unwrap();
        assert_eq!(tr.arrives_at, t("2026-01-01T00:30:00Z"));
        assert_eq!(tr.id, TransferId(1));
        // 2 − 0.75 − 0.0005
        assert_eq!(l.available("sim-a", "BTC"), d("1.2495"));
        assert_eq!(l.available("sim-b", "BTC"), Decimal::ZERO);
        assert_eq!(l.in_transit(), std::slice::from_ref(&tr));
        assert!(l.reconcile().is_empty());

        assert_eq!(
            l.advance_to(t("2026-01-01T00:29:59.999999999Z")),
            Ok(vec![])
        );
        assert_eq!(l.available("sim-b", "BTC"), Decimal::ZERO);
        assert_eq!(l.in_transit().len(), 1);

        assert_eq!(
            l.advance_to(t("2026-01-01T00:30:00Z")),
            Ok(vec![tr.clone()])
        );
        assert_eq!(l.available("sim-a", "BTC"), d("1.2495"));
        assert_eq!(l.available("sim-b", "BTC"), d("0.75"));
        assert!(l.in_transit().is_empty());
        // The clock never goes back.
        l.advance_to(decided).unwrap();
        assert_eq!(l.clock(), Some(t("2026-01-01T00:30:00Z")));

        let fees: Vec<_> = l
            .journal()
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::TransferFee(_)))
            .map(|e| (e.venue.as_str(), e.amount))
            .collect();
        assert_eq!(fees, [("sim-a", d("-0.0005"))]);
        let accounts = l.accounts().unwrap();
        let a = accounts
            .iter()
            .find(|a| a.venue == "sim-a" && a.asset == "BTC")
            .unwrap();
        assert_eq!((a.transfers, a.transfer_fees), (d("-0.75"), d("0.0005")));
        assert!(l.reconcile().is_empty(), "{:?}", l.reconcile());

        // The sender must pay the amount and the fee: 1.2495 + 0.0005 > 1.2495.
        let before = l.clone();
        let refused = l.start_transfer(&btc("sim-a", "sim-b", "1.2495"), &terms, decided);
        assert_eq!(
            refused,
            Err(LedgerError::Insufficient {
                venue: "sim-a".into(),
                asset: "BTC".into(),
                needed: d("1.2500"),
                available: d("1.2495"),
            })
        );
        let same = l.start_transfer(&btc("sim-a", "sim-a", "1"), &terms, decided);
        assert!(matches!(same, Err(LedgerError::SameVenue { .. })));
        let unknown = l.start_transfer(&btc("sim-a", "sim-x", "1"), &terms, decided);
        assert_eq!(unknown, Err(LedgerError::UnknownVenue("sim-x".into())));
        assert_eq!(l, before);
    }

    #[test]
    fn reconcile_finds_a_balance_or_a_transfer_gone_wrong() {
        let mut l = ledger(&["sim-a:USD=10,BTC=2", "sim-b:USD=10"]);
        let terms = TransferTerms {
            fee: Decimal::ZERO,
            delay: Duration::from_secs(1),
        };
        let now = t("2026-01-01T00:00:00Z");
        l.start_transfer(&btc("sim-a", "sim-b", "1"), &terms, now)
            .unwrap();
        let good = l.clone();

        l.balances
            .get_mut("sim-b")
            .unwrap()
            .insert("USD".into(), d("10.000000001"));
        assert_eq!(
            l.reconcile().differences,
            [Difference::Balance {
                venue: "sim-b".into(),
                asset: "USD".into(),
                journal: d("10"),
                held: d("10.000000001"),
            }]
        );

        let mut l = good.clone();
        l.pending.clear();
        let lost = Difference::Transfer {
            id: TransferId(1),
            problem: TransferProblem::Lost,
        };
        assert_eq!(l.reconcile().differences, [lost]);

        let mut l = good.clone();
        l.pending[0].amount = d("0.9");
        assert!(matches!(
            l.reconcile().differences[..],
            [Difference::Transfer {
                problem: TransferProblem::AmountDiffers,
                ..
            }]
        ));

        let mut l = good;
        l.balances
            .get_mut("sim-a")
            .unwrap()
            .insert("ETH".into(), d("-1"));
        l.starting
            .get_mut("sim-a")
            .unwrap()
            .insert("ETH".into(), d("-1"));
        assert!(matches!(
            l.reconcile().differences[..],
            [Difference::Negative { .. }]
        ));
    }

    #[test]
    fn proposals_lift_a_venue_to_its_floor_from_the_largest_holder() {
        let mut l = ledger(&["sim-a:BTC=2", "sim-b:BTC=0.1", "sim-c:BTC=1", "sim-d:USD=1"]);
        let floors = BTreeMap::from([("BTC".to_owned(), d("0.5"))]);
        let terms = BTreeMap::from([(
            "BTC".to_owned(),
            TransferTerms {
                fee: d("0.0005"),
                delay: Duration::from_secs(60),
            },
        )]);
        let proposals = l.propose_transfers(&floors, &terms);
        // sim-a sends 0.4 to sim-b (left 1.5995), then still holds the
        // most and sends 0.5 to sim-d, which has no BTC at all.
        assert_eq!(
            proposals,
            [btc("sim-a", "sim-b", "0.4"), btc("sim-a", "sim-d", "0.5")]
        );
        // No terms for an asset: never moved.
        assert!(l.propose_transfers(&floors, &BTreeMap::new()).is_empty());

        let now = t("2026-01-01T00:00:00Z");
        for p in &proposals {
            l.start_transfer(p, &terms["BTC"], now).unwrap();
        }
        // What is in transit counts: nothing more to propose.
        assert!(l.propose_transfers(&floors, &terms).is_empty());

        // A sender that would fall below the floor sends nothing.
        let l = ledger(&["sim-a:BTC=0.6", "sim-b:BTC=0.4"]);
        assert!(l.propose_transfers(&floors, &terms).is_empty());
        // On a tie, the first venue by name sends.
        let l = ledger(&["sim-a:BTC=1.5", "sim-b:BTC=0", "sim-c:BTC=1.5"]);
        assert_eq!(
            l.propose_transfers(&floors, &terms),
            [btc("sim-a", "sim-b", "0.5")]
        );
    }

    #[test]
    fn balance_text_parses() {
        let s: StartingBalances = " sim-a : usd=100000, BTC=2.50 ,eth=-0".parse().unwrap();
        assert_eq!(s.venue, "sim-a");
        assert_eq!(
            s.assets,
            BTreeMap::from([
                ("BTC".to_owned(), d("2.50")),
                ("ETH".to_owned(), Decimal::ZERO),
                ("USD".to_owned(), d("100000")),
            ])
        );
        assert!(!s.assets["ETH"].is_sign_negative());
    }

    #[test]
    fn bad_balance_text_is_refused_by_kind() {
        use BalanceParseError as E;
        let form = |t: &str| E::UnknownForm { text: t.into() };
        let cases: [(&str, E); 10] = [
            ("sim-a", form("sim-a")),
            ("sim-a:", form("sim-a:")),
            ("sim-a:USD", form("sim-a:USD")),
            ("sim-a:USD=1,", form("sim-a:USD=1,")),
            (
                "sim.a:USD=1",
                E::BadVenue {
                    text: "sim.a:USD=1".into(),
                    source: SubjectError::BadToken {
                        what: "venue",
                        token: "sim.a".into(),
                    },
                },
            ),
            (
                ":USD=1",
                E::BadVenue {
                    text: ":USD=1".into(),
                    source: SubjectError::EmptyToken { what: "venue" },
                },
            ),
            (
                "sim-a:US D=1",
                E::BadAsset {
                    asset: "US D".into(),
                },
            ),
            (
                "sim-a:USD=1O0",
                E::BadNumber {
                    asset: "USD".into(),
                    value: "1O0".into(),
                },
            ),
            (
                "sim-a:USD=-0.01",
                E::Negative {
                    asset: "USD".into(),
                    amount: d("-0.01"),
                },
            ),
            (
                "sim-a:USD=1,BTC=1,usd=2",
                E::DuplicateAsset {
                    venue: "sim-a".into(),
                    asset: "USD".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<StartingBalances>(), Err(expected), "{text}");
        }
        let twice = Ledger::new([
            "sim-a:USD=1".parse().unwrap(),
            "sim-a:BTC=1".parse().unwrap(),
        ]);
        assert_eq!(twice, Err(LedgerError::DuplicateVenue("sim-a".into())));
    }

    #[test]
    fn only_an_unaffordable_change_is_classed_unaffordable() {
        let cases = [
            (
                LedgerError::Insufficient {
                    venue: "v".into(),
                    asset: "A".into(),
                    needed: Decimal::ONE,
                    available: Decimal::ZERO,
                },
                true,
            ),
            (LedgerError::DuplicateVenue("v".into()), false),
            (LedgerError::UnknownVenue("v".into()), false),
            (
                LedgerError::BadAmount {
                    what: "w",
                    value: Decimal::ZERO,
                    rule: "r",
                },
                false,
            ),
            (
                LedgerError::SameVenue {
                    venue: "v".into(),
                    asset: "A".into(),
                },
                false,
            ),
            (
                LedgerError::Inexact {
                    venue: "v".into(),
                    asset: "A".into(),
                },
                false,
            ),
        ];
        for (error, unaffordable) in cases {
            assert_eq!(error.is_unaffordable(), unaffordable, "{error}");
        }
    }
}
