//! The taker matching model of paper trading (issue 12, item 5): an IOC
//! order walks the side of a book it takes, level by level, never past its
//! limit price, and pays the venue's taker fee in the quote currency.
//!
//! It sits after [`crate::history`] (which picks the book state an order
//! arrives at, its decision time plus [`crate::latency`]) and before the
//! ledger, which books `filled`, `notional` and `fee`. [`Depth`] remembers
//! what this executor already took from a book state, so a second order on
//! the same state gets only what is left.
//!
//! Quantities and notionals are exact `Decimal` sums of `qty × price`: a
//! product or sum that `Decimal` would have to round is refused
//! ([`FillError::Inexact`]) rather than booked, so balances reconcile to the
//! last unit. Only [`Fill::vwap`] divides.

use arb_contract::{BookSnapshot, Level, Side, Symbol};
use rust_decimal::Decimal;

use crate::FastMap;

/// An immediate-or-cancel taker order: what it may take, and at what price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakerOrder {
    pub side: Side,
    /// The base quantity wanted.
    pub qty: Decimal,
    /// The worst acceptable price, slippage tolerance included: a buy takes
    /// no ask above it, a sell no bid below it.
    pub limit: Decimal,
    /// The venue's taker fee as a fraction of the quote notional (`0.0026`
    /// for 26 basis points), in `[0, 1)`.
    pub fee_rate: Decimal,
}

impl TakerOrder {
    fn check(&self) -> Result<(), FillError> {
        if self.qty <= Decimal::ZERO {
            return Err(FillError::NonPositiveQty(self.qty));
        }
        if self.limit <= Decimal::ZERO {
            return Err(FillError::NonPositiveLimit(self.limit));
        }
        if self.fee_rate < Decimal::ZERO || self.fee_rate >= Decimal::ONE {
            return Err(FillError::FeeRate(self.fee_rate));
        }
        Ok(())
    }

    /// Whether a level at `price` is within the limit.
    fn accepts(&self, price: Decimal) -> bool {
        match self.side {
            Side::Buy => price <= self.limit,
            Side::Sell => price >= self.limit,
        }
    }
}

/// What an order took. Empty (all zero) when nothing was within the limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fill {
    /// Base quantity filled, at most the order's; less is a partial fill.
    pub filled: Decimal,
    /// Quote notional: the exact sum of `qty × price` over [`Fill::levels`].
    pub notional: Decimal,
    /// `notional × fee_rate`, exact, in the quote currency.
    pub fee: Decimal,
    /// The levels touched, best first: each one's price and the quantity
    /// taken there.
    pub levels: Vec<Level>,
}

impl Fill {
    /// Whether nothing was filled.
    pub fn is_empty(&self) -> bool {
        self.filled.is_zero()
    }

    /// The volume-weighted average price, `notional / filled`; `None` for an
    /// empty fill. `Decimal` division keeps 28 significant digits and rounds
    /// the last one (half to even) when the quotient does not terminate; the
    /// ledger books `notional`, never this.
    pub fn vwap(&self) -> Option<Decimal> {
        self.notional.checked_div(self.filled)
    }

    /// The worst price reached: the last level's (the highest for a buy, the
    /// lowest for a sell).
    pub fn worst_price(&self) -> Option<Decimal> {
        self.levels.last().map(|l| l.price)
    }

    fn clear(&mut self) {
        self.filled = Decimal::ZERO;
        self.notional = Decimal::ZERO;
        self.fee = Decimal::ZERO;
        self.levels.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("order quantity {0} is not positive")]
    NonPositiveQty(Decimal),
    #[error("limit price {0} is not positive")]
    NonPositiveLimit(Decimal),
    #[error("taker fee rate {0} is outside [0, 1)")]
    FeeRate(Decimal),
    /// A product or sum would overflow or be rounded by `Decimal`.
    #[error("the fill's notional or fee cannot be held exactly in a Decimal")]
    Inexact,
}

impl FillError {
    /// The reason code of the order's rejection.
    pub fn reason(&self) -> &'static str {
        match self {
            FillError::NonPositiveQty(_) => "bad_quantity",
            FillError::NonPositiveLimit(_) => "bad_limit_price",
            FillError::FeeRate(_) => "bad_fee_rate",
            FillError::Inexact => "inexact_amount",
        }
    }
}

/// Fills `order` against a fresh `book`, as if nothing had been taken from
/// it. [`Depth::take`] is the same walk that remembers what it took.
pub fn take(book: &BookSnapshot, order: &TakerOrder) -> Result<Fill, FillError> {
    order.check()?;
    let levels = side_levels(book, order.side);
    let mut out = Fill {
        levels: Vec::with_capacity(levels.len()),
        ..Fill::default()
    };
    walk(levels, Cursor::default(), order, &mut out)?;
    Ok(out)
}

/// The levels an order on `side` takes: asks for a buy, bids for a sell.
fn side_levels(book: &BookSnapshot, side: Side) -> &[Level] {
    match side {
        Side::Buy => &book.asks,
        Side::Sell => &book.bids,
    }
}

/// Where the untaken depth of one side of a book state starts.
///
/// Every walk starts at the best level left and moves outward, so what was
/// taken is always a prefix of the side: the levels before `level` in full,
/// `taken` of level `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Cursor {
    level: usize,
    taken: Decimal,
}

fn exact_mul(a: Decimal, b: Decimal) -> Result<Decimal, FillError> {
    if a.is_zero() || b.is_zero() {
        return Ok(Decimal::ZERO);
    }
    // `Decimal` keeps the scale of an exact product; a smaller one means it
    // rounded to fit 28 fractional digits or 96 bits. Trailing zeros (`2.50`
    // from the wire) count towards the scale, so they get a second chance.
    let exact = |a: Decimal, b: Decimal| {
        a.checked_mul(b)
            .filter(|p| p.scale() == a.scale() + b.scale())
    };
    exact(a, b)
        .or_else(|| exact(a.normalize(), b.normalize()))
        .ok_or(FillError::Inexact)
}

fn exact_add(a: Decimal, b: Decimal) -> Result<Decimal, FillError> {
    if a.is_zero() {
        return Ok(b);
    }
    let s = a.checked_add(b).ok_or(FillError::Inexact)?;
    // Likewise a sum keeps the larger scale unless it had to round.
    if s.scale() >= a.scale().max(b.scale()) {
        Ok(s)
    } else {
        Err(FillError::Inexact)
    }
}

/// Walks `levels` from `from` into `out` (cleared first) and returns where
/// the untaken depth starts afterwards. On an error `out` is left empty.
/// Levels with a price or quantity that is not positive are passed over.
fn walk(
    levels: &[Level],
    from: Cursor,
    order: &TakerOrder,
    out: &mut Fill,
) -> Result<Cursor, FillError> {
    out.clear();
    let result = walk_inner(levels, from, order, out);
    if result.is_err() {
        out.clear();
    }
    result
}

fn walk_inner(
    levels: &[Level],
    from: Cursor,
    order: &TakerOrder,
    out: &mut Fill,
) -> Result<Cursor, FillError> {
    // The loop is the hot path (a fill per leg, backtests by the million):
    // one comparison picks whole-or-part, sign bits stand in for comparisons
    // with zero, and `filled` is worked out once at the end.
    let mut cursor = from;
    let mut remaining = order.qty;
    let mut notional = Decimal::ZERO;
    while positive(remaining) {
        let Some(level) = levels.get(cursor.level) else {
            break;
        };
        if !order.accepts(level.price) {
            break;
        }
        let available = if cursor.taken.is_zero() {
            level.qty
        } else {
            level.qty - cursor.taken
        };
        if !positive(available) || !positive(level.price) {
            cursor = Cursor {
                level: cursor.level + 1,
                taken: Decimal::ZERO,
            };
            continue;
        }
        let whole = available <= remaining;
        let qty = if whole { available } else { remaining };
        notional = exact_add(notional, exact_mul(qty, level.price)?)?;
        out.levels.push(Level::new(level.price, qty));
        // Quantities stay within the order's, so these cannot round.
        if whole {
            remaining -= qty;
            cursor = Cursor {
                level: cursor.level + 1,
                taken: Decimal::ZERO,
            };
        } else {
            remaining = Decimal::ZERO;
            cursor.taken += qty;
        }
    }
    out.filled = order.qty - remaining;
    out.notional = notional;
    out.fee = exact_mul(notional, order.fee_rate)?;
    Ok(cursor)
}

fn positive(x: Decimal) -> bool {
    x.is_sign_positive() && !x.is_zero()
}

/// What was taken from the book state last matched in one market.
#[derive(Debug, Clone, Copy)]
struct Consumed {
    book: u128,
    bids: Cursor,
    asks: Cursor,
    bids_total: Decimal,
    asks_total: Decimal,
}

impl Consumed {
    fn fresh(book: u128) -> Self {
        Consumed {
            book,
            bids: Cursor::default(),
            asks: Cursor::default(),
            bids_total: Decimal::ZERO,
            asks_total: Decimal::ZERO,
        }
    }

    fn take(
        &mut self,
        book: &BookSnapshot,
        order: &TakerOrder,
        out: &mut Fill,
    ) -> Result<(), FillError> {
        let id = book.id.as_u128();
        if self.book != id {
            *self = Consumed::fresh(id);
        }
        let (cursor, total) = match order.side {
            Side::Buy => (&mut self.asks, &mut self.asks_total),
            Side::Sell => (&mut self.bids, &mut self.bids_total),
        };
        *cursor = walk(side_levels(book, order.side), *cursor, order, out)?;
        *total += out.filled;
        Ok(())
    }
}

/// The depth this executor has consumed, per venue and symbol: one book
/// state per market, the last one matched (known by its id). A book with
/// another id is a changed book, and all its depth is available again.
#[derive(Debug, Default)]
pub struct Depth {
    venues: FastMap<String, FastMap<Symbol, Consumed>>,
}

impl Depth {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills `order` against `book`, minus what earlier orders took from
    /// this same book state, and remembers what it took.
    pub fn take(&mut self, book: &BookSnapshot, order: &TakerOrder) -> Result<Fill, FillError> {
        let mut out = Fill {
            levels: Vec::with_capacity(side_levels(book, order.side).len()),
            ..Fill::default()
        };
        self.take_into(book, order, &mut out)?;
        Ok(out)
    }

    /// [`Depth::take`] into a caller's `Fill`, reusing its level buffer: no
    /// allocation once the buffer has grown and the market is known.
    pub fn take_into(
        &mut self,
        book: &BookSnapshot,
        order: &TakerOrder,
        out: &mut Fill,
    ) -> Result<(), FillError> {
        if let Err(e) = order.check() {
            out.clear();
            return Err(e);
        }
        if let Some(market) = self
            .venues
            .get_mut(book.venue.as_str())
            .and_then(|symbols| symbols.get_mut(&book.symbol))
        {
            return market.take(book, order, out);
        }
        self.venues
            .entry(book.venue.clone())
            .or_default()
            .entry(book.symbol.clone())
            .or_insert(Consumed::fresh(book.id.as_u128()))
            .take(book, order, out)
    }

    /// The base quantity taken from `side`'s levels of the book state last
    /// matched for `venue` and `symbol` (the asks for [`Side::Buy`]).
    pub fn taken(&self, venue: &str, symbol: &Symbol, side: Side) -> Decimal {
        self.venues
            .get(venue)
            .and_then(|symbols| symbols.get(symbol))
            .map_or(Decimal::ZERO, |m| match side {
                Side::Buy => m.asks_total,
                Side::Sell => m.bids_total,
            })
    }

    /// Forgets what was taken in one market, as if its book had changed.
    pub fn forget(&mut self, venue: &str, symbol: &Symbol) {
        if let Some(symbols) = self.venues.get_mut(venue) {
            symbols.remove(symbol);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::time::from_nanos;
    use arb_contract::{ChecksumStatus, id_at};

    fn d(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    fn levels(ls: &[(&str, &str)]) -> Vec<Level> {
        ls.iter().map(|(p, q)| Level::new(d(p), d(q))).collect()
    }

    /// Book state `n` of sim-a BTC/USD.
    fn book(n: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookSnapshot {
        let ts = from_nanos(1_700_000_000_000_000_000 + n as i64 * 1_000_000);
        BookSnapshot {
            id: id_at(ts, n),
            venue: "sim-a".into(),
            symbol: "BTC/USD".parse().expect("a symbol"),
            exchange_ts: Some(ts),
            received_ts: ts,
            sequence: Some(n),
            checksum: ChecksumStatus::NotProvided,
            bids: levels(bids),
            asks: levels(asks),
        }
    }

    fn three_asks(n: u64) -> BookSnapshot {
        book(
            n,
            &[("99.50", "1"), ("99.00", "2"), ("98.00", "5")],
            &[("100.00", "0.5"), ("100.50", "1.0"), ("101.25", "2.0")],
        )
    }

    fn buy(qty: &str, limit: &str) -> TakerOrder {
        TakerOrder {
            side: Side::Buy,
            qty: d(qty),
            limit: d(limit),
            fee_rate: d("0.0026"),
        }
    }

    fn sell(qty: &str, limit: &str) -> TakerOrder {
        TakerOrder {
            side: Side::Sell,
            ..buy(qty, limit)
        }
    }

    /// What a fill came to: filled quantity, notional and fee.
    fn totals(f: &Fill) -> [Decimal; 3] {
        [f.filled, f.notional, f.fee]
    }

    #[test]
    fn a_buy_walks_three_levels_to_the_exact_vwap_and_fee() {
        let f = take(&three_asks(1), &buy("2", "102")).unwrap();
        // notional 0.5 × 100.00 + 1.0 × 100.50 + 0.5 × 101.25 = 50 + 100.5 +
        // 50.625; fee 201.125 × 0.0026
        assert_eq!(totals(&f), ["2", "201.125", "0.522925"].map(d));
        assert_eq!(f.vwap(), Some(d("100.5625")));
        assert_eq!(
            f.levels,
            levels(&[("100.00", "0.5"), ("100.50", "1.0"), ("101.25", "0.5")])
        );
        assert_eq!(f.worst_price(), Some(d("101.25")));
    }

    #[test]
    fn too_little_depth_gives_the_exact_partial_fill() {
        let f = take(&three_asks(1), &buy("5", "102")).unwrap();
        // all of it: 50 + 100.5 + 202.5
        assert_eq!(totals(&f), ["3.5", "353", "0.9178"].map(d));
        assert_eq!(f.levels.len(), 3);
        // 353 / 3.5 = 100.857142857142857142857142857142…, rounded at 28 digits
        assert_eq!(f.vwap(), Some(d("100.85714285714285714285714286")));
    }

    #[test]
    fn the_limit_stops_the_walk() {
        let f = take(&three_asks(1), &buy("2", "100.50")).unwrap();
        assert_eq!(f.filled, d("1.5"));
        assert_eq!(f.notional, d("150.5"));
        assert_eq!(f.worst_price(), Some(d("100.50")));

        let none = take(&three_asks(1), &buy("2", "99.99")).unwrap();
        assert!(none.is_empty());
        assert_eq!(none, Fill::default());
        assert_eq!(none.vwap(), None);
        assert_eq!(none.worst_price(), None);
    }

    #[test]
    fn a_sell_walks_the_bids() {
        let f = take(&three_asks(1), &sell("2.5", "98.50")).unwrap();
        // 1 × 99.50 + 1.5 × 99.00, then 98.00 is below the limit
        assert_eq!(totals(&f), ["2.5", "248", "0.6448"].map(d));
        assert_eq!(f.vwap(), Some(d("99.2")));
        assert_eq!(f.worst_price(), Some(d("99.00")));

        let stopped = take(&three_asks(1), &sell("4", "99.00")).unwrap();
        assert_eq!(stopped.filled, d("3"));
    }

    #[test]
    fn a_second_order_on_the_same_book_state_gets_only_what_is_left() {
        let b = three_asks(1);
        let sym = b.symbol.clone();
        let mut depth = Depth::new();
        let first = depth.take(&b, &buy("1", "102")).unwrap();
        assert_eq!(
            first.levels,
            levels(&[("100.00", "0.5"), ("100.50", "0.5")])
        );
        assert_eq!(depth.taken("sim-a", &sym, Side::Buy), d("1"));

        // 0.5 left at 100.50, then 101.25
        let second = depth.take(&b, &buy("1", "102")).unwrap();
        assert_eq!(
            second.levels,
            levels(&[("100.50", "0.5"), ("101.25", "0.5")])
        );
        assert_eq!(second.notional, d("100.875"));

        // a limit below what is left takes nothing and consumes nothing
        assert!(depth.take(&b, &buy("1", "101")).unwrap().is_empty());
        let rest = depth.take(&b, &buy("9", "102")).unwrap();
        assert_eq!(rest.filled, d("1.5"));
        assert!(depth.take(&b, &buy("1", "102")).unwrap().is_empty());
        assert_eq!(depth.taken("sim-a", &sym, Side::Buy), d("3.5"));

        // the other side is untouched
        assert_eq!(depth.take(&b, &sell("1", "99")).unwrap().filled, d("1"));
        assert_eq!(depth.taken("sim-a", &sym, Side::Sell), d("1"));
    }

    #[test]
    fn a_new_book_state_makes_depth_available_again() {
        let mut depth = Depth::new();
        let b1 = three_asks(1);
        assert_eq!(depth.take(&b1, &buy("9", "102")).unwrap().filled, d("3.5"));
        assert!(depth.take(&b1, &buy("1", "102")).unwrap().is_empty());

        let b2 = three_asks(2);
        let again = depth.take(&b2, &buy("2", "102")).unwrap();
        assert_eq!(again.notional, d("201.125"));
        assert_eq!(depth.taken("sim-a", &b2.symbol, Side::Buy), d("2"));

        depth.forget("sim-a", &b2.symbol);
        assert_eq!(depth.taken("sim-a", &b2.symbol, Side::Buy), d("0"));
        assert_eq!(depth.take(&b2, &buy("9", "102")).unwrap().filled, d("3.5"));
    }

    #[test]
    fn markets_are_kept_apart() {
        let mut depth = Depth::new();
        let a = three_asks(1);
        let mut other_venue = a.clone();
        other_venue.venue = "sim-b".into();
        let mut other_symbol = a.clone();
        other_symbol.symbol = "ETH/USD".parse().unwrap();
        depth.take(&a, &buy("9", "102")).unwrap();
        assert_eq!(
            depth.take(&other_venue, &buy("9", "102")).unwrap().filled,
            d("3.5")
        );
        assert_eq!(
            depth.take(&other_symbol, &buy("9", "102")).unwrap().filled,
            d("3.5")
        );
    }

    #[test]
    fn take_into_reuses_the_buffer_and_agrees_with_take() {
        let b = three_asks(1);
        let mut depth = Depth::new();
        let mut out = Fill::default();
        depth.take_into(&b, &buy("2", "102"), &mut out).unwrap();
        assert_eq!(out, take(&b, &buy("2", "102")).unwrap());
        let cap = out.levels.capacity();
        depth.take_into(&b, &buy("1", "102"), &mut out).unwrap();
        assert_eq!(out.levels, levels(&[("101.25", "1")]));
        assert_eq!(out.levels.capacity(), cap);
    }

    #[test]
    fn odd_levels_are_passed_over() {
        let b = book(1, &[], &[("100", "0"), ("100.5", "-1"), ("101", "1")]);
        let f = take(&b, &buy("2", "102")).unwrap();
        assert_eq!(f.levels, levels(&[("101", "1")]));
        assert!(
            take(&book(2, &[], &[]), &buy("1", "102"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_orders_are_refused_with_a_reason() {
        let b = three_asks(1);
        let zero_fee = TakerOrder {
            fee_rate: d("0"),
            ..buy("1", "102")
        };
        assert_eq!(take(&b, &zero_fee).unwrap().fee, d("0"));
        let cases = [
            (
                buy("0", "102"),
                FillError::NonPositiveQty(d("0")),
                "bad_quantity",
            ),
            (
                buy("-1", "102"),
                FillError::NonPositiveQty(d("-1")),
                "bad_quantity",
            ),
            (
                buy("1", "0"),
                FillError::NonPositiveLimit(d("0")),
                "bad_limit_price",
            ),
            (
                TakerOrder {
                    fee_rate: d("-0.001"),
                    ..buy("1", "102")
                },
                FillError::FeeRate(d("-0.001")),
                "bad_fee_rate",
            ),
            (
                TakerOrder {
                    fee_rate: d("1"),
                    ..buy("1", "102")
                },
                FillError::FeeRate(d("1")),
                "bad_fee_rate",
            ),
        ];
        let mut depth = Depth::new();
        for (order, err, reason) in cases {
            assert_eq!(take(&b, &order), Err(err), "{order:?}");
            let mut out = take(&b, &buy("1", "102")).unwrap();
            assert_eq!(depth.take_into(&b, &order, &mut out), Err(err));
            assert!(out.is_empty(), "{order:?}");
            assert_eq!(err.reason(), reason);
        }
        assert_eq!(FillError::Inexact.reason(), "inexact_amount");
        assert_eq!(depth.taken("sim-a", &b.symbol, Side::Buy), d("0"));
    }

    #[test]
    fn an_amount_decimal_would_round_is_refused_and_consumes_nothing() {
        // 0.1^15 × 0.1^15 needs 30 fractional digits
        let b = book(1, &[], &[("0.000000000000001", "1")]);
        let order = TakerOrder {
            qty: d("0.000000000000001"),
            ..buy("1", "1")
        };
        assert_eq!(take(&b, &order), Err(FillError::Inexact));
        let mut depth = Depth::new();
        assert_eq!(depth.take(&b, &order), Err(FillError::Inexact));
        assert_eq!(depth.taken("sim-a", &b.symbol, Side::Buy), d("0"));

        // a fee past 96 bits at its scale
        let big = book(2, &[], &[("79228162514264337593543950335", "1")]);
        assert_eq!(
            take(&big, &buy("2", "79228162514264337593543950335")),
            Err(FillError::Inexact)
        );

        // an exact product keeps the sum of the scales
        assert_eq!(exact_mul(d("1.50"), d("2.0")).unwrap().scale(), 3);
        // 31 digits of scale, but only trailing zeros past the 28th
        let zeros = exact_mul(d("0.10000000000000"), d("0.20000000000000000"));
        assert_eq!(zeros, Ok(d("0.02")));
        assert_eq!(exact_add(d("1.50"), d("2.125")).unwrap(), d("3.625"));
    }
}
