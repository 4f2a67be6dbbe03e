//! Kraken's CRC32 book checksum: the top 10 asks ascending then the top 10
//! bids descending, each price and quantity written with the pair's full
//! precision, the `.` removed and leading zeros stripped, all concatenated.

use crate::book::OrderBook;
use rust_decimal::Decimal;

/// Levels per side that enter the checksum.
pub const CHECKSUM_LEVELS: usize = 10;

/// The pair's decimal places; `None` writes a value with the scale it arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precision {
    pub price: Option<u32>,
    pub qty: Option<u32>,
}

/// Kraken's worked example (BTC/USD, price precision 1, quantity
/// precision 8) with its documented checksum, each value as a JSON number
/// carries it: trailing zeros dropped, so only the pair's precision from the
/// `instrument` channel makes it verify.
pub mod example {
    use super::Precision;

    pub const CHECKSUM: u32 = 3310070434;
    pub const PRECISION: Precision = Precision {
        price: Some(1),
        qty: Some(8),
    };
    pub const ASKS: [(&str, &str); 10] = [
        ("45285.2", "0.001"),
        ("45286.4", "1.54571953"),
        ("45286.6", "1.54571109"),
        ("45289.6", "1.54560911"),
        ("45290.2", "0.1589066"),
        ("45291.8", "1.54553491"),
        ("45294.7", "0.04454749"),
        ("45296.1", "0.3538"),
        ("45297.5", "0.09945542"),
        ("45299.5", "0.18772827"),
    ];
    pub const BIDS: [(&str, &str); 10] = [
        ("45283.5", "0.1"),
        ("45283.4", "1.54582015"),
        ("45282.1", "0.1"),
        ("45281", "0.1"),
        ("45280.3", "1.54592586"),
        ("45279", "0.0799"),
        ("45277.6", "0.03310103"),
        ("45277.5", "0.3"),
        ("45277.3", "1.54602737"),
        ("45276.6", "0.15445238"),
    ];
}

/// Computes Kraken's checksum of `book`.
pub fn checksum(book: &OrderBook, precision: Precision) -> u32 {
    checksum_levels(
        book.asks.iter().map(|l| (l.price, l.qty)),
        book.bids.iter().map(|l| (l.price, l.qty)),
        precision,
    )
}

/// The checksum of any book representation: `asks` best (lowest) first,
/// `bids` best (highest) first, as `(price, qty)`.
pub fn checksum_levels(
    asks: impl Iterator<Item = (Decimal, Decimal)>,
    bids: impl Iterator<Item = (Decimal, Decimal)>,
    p: Precision,
) -> u32 {
    // 20 levels of two values of at most 39 digits each: hashed in one call.
    let mut buf = [0u8; 2 * CHECKSUM_LEVELS * 2 * 40];
    let mut len = 0;
    for (price, qty) in asks.take(CHECKSUM_LEVELS).chain(bids.take(CHECKSUM_LEVELS)) {
        len = push_digits(&mut buf, len, price, p.price);
        len = push_digits(&mut buf, len, qty, p.qty);
    }
    crc32fast::hash(&buf[..len])
}

/// Appends the value at `scale` decimal places without the point and leading
/// zeros; returns the new length.
fn push_digits(buf: &mut [u8], at: usize, value: Decimal, scale: Option<u32>) -> usize {
    let mut m = value.mantissa().unsigned_abs();
    match scale {
        Some(p) if p > value.scale() => match 10u128
            .checked_pow(p - value.scale())
            .and_then(|f| m.checked_mul(f))
        {
            Some(x) => m = x,
            None => {
                let mut v = value;
                v.rescale(p);
                m = v.mantissa().unsigned_abs();
            }
        },
        Some(p) if p < value.scale() => {
            let mut v = value;
            v.rescale(p);
            m = v.mantissa().unsigned_abs();
        }
        _ => {}
    }
    let mut tmp = [0u8; 40];
    let mut i = tmp.len();
    if let Ok(mut x) = u64::try_from(m) {
        while x > 0 {
            i -= 1;
            tmp[i] = b'0' + (x % 10) as u8;
            x /= 10;
        }
    } else {
        while m > 0 {
            i -= 1;
            tmp[i] = b'0' + (m % 10) as u8;
            m /= 10;
        }
    }
    let n = tmp.len() - i;
    buf[at..at + n].copy_from_slice(&tmp[i..]);
    at + n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BookSideKind;
    use arb_contract::Level;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// The example as the documentation types it (`full`: every value at
    /// the pair's precision) or as JSON numbers carry it.
    fn book(full: bool) -> OrderBook {
        let conv = |(p, q): &(&str, &str)| {
            let (mut p, mut q) = (d(p), d(q));
            if full {
                p.rescale(example::PRECISION.price.unwrap());
                q.rescale(example::PRECISION.qty.unwrap());
            }
            Level::new(p, q)
        };
        let mut b = OrderBook::new(10);
        for l in example::ASKS.iter().map(conv) {
            b.apply(BookSideKind::Ask, l.price, l.qty);
        }
        for l in example::BIDS.iter().map(conv) {
            b.apply(BookSideKind::Bid, l.price, l.qty);
        }
        b
    }

    fn digits(v: Decimal, scale: Option<u32>, buf: &mut [u8; 40]) -> &[u8] {
        let n = push_digits(buf, 0, v, scale);
        &buf[..n]
    }

    #[test]
    fn digits_table() {
        let mut buf = [0u8; 40];
        for (v, scale, want) in [
            ("45285.2", Some(1), "452852"),
            ("0.001", Some(8), "100000"),
            ("0.00100000", None, "100000"),
            ("45281", Some(1), "452810"),
            ("0.566", Some(4), "5660"),
            ("12", None, "12"),
            ("0", Some(3), ""),
            ("45285.25", Some(1), "452853"),
            (
                "79228162514264337593543950335",
                Some(2),
                "7922816251426433759354395033500",
            ),
        ] {
            let got = digits(d(v), scale, &mut buf);
            assert_eq!(std::str::from_utf8(got).unwrap(), want, "{v} at {scale:?}");
        }
    }

    #[test]
    fn kraken_documented_vector_verifies() {
        use example::{CHECKSUM, PRECISION};
        // As typed in the docs (full precision) and as JSON numbers (trailing zeros dropped).
        assert_eq!(
            book(true).asks.best().unwrap().qty.to_string(),
            "0.00100000"
        );
        assert_eq!(checksum(&book(true), PRECISION), CHECKSUM);
        assert_eq!(checksum(&book(false), PRECISION), CHECKSUM);
        // With no known precision, only the full-precision text verifies.
        assert_eq!(checksum(&book(true), Precision::default()), CHECKSUM);
        assert_ne!(checksum(&book(false), Precision::default()), CHECKSUM);
    }

    #[test]
    fn a_changed_level_changes_the_checksum() {
        let mut b = book(true);
        b.apply(BookSideKind::Bid, d("45276.6"), d("0.15445239"));
        assert_ne!(checksum(&b, example::PRECISION), example::CHECKSUM);
    }
}
