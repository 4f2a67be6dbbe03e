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
    let mut h = crc32fast::Hasher::new();
    let mut buf = [0u8; 40];
    for (price, qty) in asks.take(CHECKSUM_LEVELS) {
        h.update(digits(price, p.price, &mut buf));
        h.update(digits(qty, p.qty, &mut buf));
    }
    for (price, qty) in bids.take(CHECKSUM_LEVELS) {
        h.update(digits(price, p.price, &mut buf));
        h.update(digits(qty, p.qty, &mut buf));
    }
    h.finalize()
}

/// The value at `scale` decimal places without the point and leading zeros.
fn digits(value: Decimal, scale: Option<u32>, buf: &mut [u8; 40]) -> &[u8] {
    let mut v = value;
    if let Some(s) = scale {
        if v.scale() != s {
            v.rescale(s);
        }
    }
    let mut m = v.mantissa().unsigned_abs();
    let mut i = buf.len();
    while m > 0 {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::BookSideKind;
    use arb_shared::Level;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    pub(crate) const VECTOR_ASKS: [(&str, &str); 10] = [
        ("45285.2", "0.00100000"),
        ("45286.4", "1.54571953"),
        ("45286.6", "1.54571109"),
        ("45289.6", "1.54560911"),
        ("45290.2", "0.15890660"),
        ("45291.8", "1.54553491"),
        ("45294.7", "0.04454749"),
        ("45296.1", "0.35380000"),
        ("45297.5", "0.09945542"),
        ("45299.5", "0.18772827"),
    ];
    pub(crate) const VECTOR_BIDS: [(&str, &str); 10] = [
        ("45283.5", "0.10000000"),
        ("45283.4", "1.54582015"),
        ("45282.1", "0.10000000"),
        ("45281.0", "0.10000000"),
        ("45280.3", "1.54592586"),
        ("45279.0", "0.07990000"),
        ("45277.6", "0.03310103"),
        ("45277.5", "0.30000000"),
        ("45277.3", "1.54602737"),
        ("45276.6", "0.15445238"),
    ];

    fn book(
        asks: &[(&str, &str)],
        bids: &[(&str, &str)],
        normalize: bool,
    ) -> OrderBook {
        let conv = |(p, q): &(&str, &str)| {
            let (mut p, mut q) = (d(p), d(q));
            if normalize {
                // What a JSON number becomes: trailing zeros dropped.
                p = p.normalize();
                q = q.normalize();
            }
            Level::new(p, q)
        };
        let mut b = OrderBook::new(10);
        for l in asks.iter().map(conv) {
            b.apply(BookSideKind::Ask, l.price, l.qty);
        }
        for l in bids.iter().map(conv) {
            b.apply(BookSideKind::Bid, l.price, l.qty);
        }
        b
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
        ] {
            let got = digits(d(v), scale, &mut buf);
            assert_eq!(std::str::from_utf8(got).unwrap(), want, "{v} at {scale:?}");
        }
    }

    #[test]
    fn kraken_documented_vector_verifies() {
        let p = Precision {
            price: Some(1),
            qty: Some(8),
        };
        // As typed in the docs (full precision) and as JSON numbers (trailing zeros dropped).
        assert_eq!(checksum(&book(&VECTOR_ASKS, &VECTOR_BIDS, false), p), 3310070434);
        assert_eq!(checksum(&book(&VECTOR_ASKS, &VECTOR_BIDS, true), p), 3310070434);
        // With no known precision, only the full-precision text verifies.
        assert_eq!(
            checksum(&book(&VECTOR_ASKS, &VECTOR_BIDS, false), Precision::default()),
            3310070434
        );
        assert_ne!(
            checksum(&book(&VECTOR_ASKS, &VECTOR_BIDS, true), Precision::default()),
            3310070434
        );
    }

    #[test]
    fn a_changed_level_changes_the_checksum() {
        let p = Precision {
            price: Some(1),
            qty: Some(8),
        };
        let mut b = book(&VECTOR_ASKS, &VECTOR_BIDS, false);
        b.apply(BookSideKind::Bid, d("45276.6"), d("0.15445239"));
        assert_ne!(checksum(&b, p), 3310070434);
    }
}
