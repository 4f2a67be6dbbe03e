//! Marks: what one unit of an asset is worth in a currency, from the mid of
//! the latest book that pairs them. Marked values are reported figures (P&L
//! of leftover inventory, portfolio totals), rounded to [`SCALE`] places so
//! that sums of them stay exact; balances are never marked.

use arb_contract::{BookSnapshot, Symbol};
use rust_decimal::Decimal;

use crate::history::BookHistory;

/// Decimal places of a marked value.
pub(super) const SCALE: u32 = 12;

/// The mid of a book with both sides.
pub(super) fn mid(book: &BookSnapshot) -> Option<Decimal> {
    let (bid, ask) = (book.best_bid()?, book.best_ask()?);
    Some((bid.price + ask.price) / Decimal::TWO)
}

/// One unit of `asset` in `currency`: 1 for the currency itself, else the
/// mid of `asset/currency` on the first venue (by name) with a book, else
/// the inverse of `currency/asset`'s mid.
pub(super) fn mark(
    books: &BookHistory,
    venues: &[&str],
    asset: &str,
    currency: &str,
) -> Option<Decimal> {
    if asset == currency {
        return Some(Decimal::ONE);
    }
    let direct = Symbol::new(asset, currency).ok()?;
    if let Some(m) = venues
        .iter()
        .find_map(|v| books.latest(v, &direct).and_then(mid))
    {
        return Some(m);
    }
    let inverse = Symbol::new(currency, asset).ok()?;
    venues
        .iter()
        .find_map(|v| books.latest(v, &inverse).and_then(mid))
        .and_then(|m| Decimal::ONE.checked_div(m))
}

/// `qty` units at `mark`, rounded to [`SCALE`] places.
pub(super) fn value(qty: Decimal, mark: Decimal) -> Decimal {
    qty.checked_mul(mark)
        .unwrap_or(Decimal::ZERO)
        .round_dp(SCALE)
}
