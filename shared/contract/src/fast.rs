//! A fast reader for the commonest message, a MessagePack `book_snapshot`.
//!
//! The general decoder goes through serde's generic path: a visitor per
//! value, a `String` checked for UTF-8 and handed to `Decimal::from_str` for
//! each of a 10-level book's forty prices and sizes. That was half of a
//! backtest's cost per book and the largest part of the sink's. This reader
//! walks the bytes once, reads each price and size from its text straight
//! into [`Plain`] (mantissa and scale), and borrows the venue and symbol.
//!
//! It only ever says "not mine": whatever it does not read exactly as the
//! general decoder would (another layout, an unknown or repeated field, a
//! number where text is expected, text that is not plain, a negative value,
//! a symbol not in normal form, trailing bytes) makes it return `None`, and
//! the caller decodes the message the general way, with the same result or
//! the same error. [`decode_book`] is what [`crate::codec::decode`] tries
//! first for a MessagePack book; the sink's writer uses [`read_book`] to
//! write rows without building a [`BookSnapshot`] at all. The tests check
//! that the fast and the general way give equal books, for valid books and
//! for mutated payloads.

use std::cmp::Ordering;

use rmp::Marker;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::model::{BookSnapshot, ChecksumStatus, Level};
use crate::symbol::Symbol;
use crate::time::{Timestamp, from_nanos, is_sane};
use crate::validate::LevelValue;

/// A decimal read straight from its plain text (`-?[0-9]+(\.[0-9]+)?`, at
/// most 28 digits): the value `Decimal::from_str` gives for that text, without
/// building a `Decimal`. Anything else is not plain; a caller falls back to
/// `Decimal`'s own parser for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain {
    m: u128,
    scale: u8,
    neg: bool,
}

impl Plain {
    /// The most digits read: 10^28 < 2^96, and a `Decimal` keeps 28 places.
    const MAX_DIGITS: usize = 28;

    pub fn parse(s: &str) -> Option<Plain> {
        Self::parse_ascii(s.as_bytes())
    }

    /// [`Plain::parse`] of text that may not be UTF-8 (then it is not plain).
    /// One pass over the bytes: this runs for every price and size of every
    /// book.
    pub fn parse_ascii(b: &[u8]) -> Option<Plain> {
        let (neg, text) = match b.first()? {
            b'-' => (true, &b[1..]),
            _ => (false, b),
        };
        // The digits and at most one point.
        if text.is_empty() || text.len() > Self::MAX_DIGITS + 1 {
            return None;
        }
        let mut point: Option<usize> = None;
        // Up to 19 digits fit a u64, whose arithmetic is cheaper.
        let (mut small, mut m, mut digits) = (0u64, 0u128, 0usize);
        for (i, &c) in text.iter().enumerate() {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                if c != b'.' || point.is_some() {
                    return None;
                }
                point = Some(i);
                continue;
            }
            digits += 1;
            if digits <= 19 {
                small = small * 10 + u64::from(d);
            } else {
                if digits == 20 {
                    m = u128::from(small);
                }
                m = m * 10 + u128::from(d);
            }
        }
        let scale = match point {
            // Digits on both sides of the point.
            Some(0) => return None,
            Some(i) if i + 1 == text.len() => return None,
            Some(i) => text.len() - i - 1,
            None => 0,
        };
        if digits > Self::MAX_DIGITS {
            return None;
        }
        if digits <= 19 {
            m = u128::from(small);
        }
        Some(Plain {
            m,
            scale: scale as u8,
            neg,
        })
    }

    /// Its sign, mantissa and scale, as a `Decimal` has them.
    pub fn parts(&self) -> (bool, u128, u32) {
        (self.neg, self.m, u32::from(self.scale))
    }

    /// The `Decimal` that `Decimal::from_str` gives for the same text: the
    /// same mantissa and scale. `None` for a negative value, where the two
    /// could differ on the sign of zero (and no price or size is negative).
    pub fn to_decimal(&self) -> Option<Decimal> {
        if self.neg {
            return None;
        }
        // At most 28 digits: below 2^96, and a scale of at most 28.
        let m = i128::try_from(self.m).ok()?;
        Decimal::try_from_i128_with_scale(m, u32::from(self.scale)).ok()
    }

    /// The value as a signed mantissa at `scale` decimals, if it fits.
    fn at_scale(&self, scale: u8) -> Option<i128> {
        let m = i128::try_from(self.m).ok()?;
        let m = m.checked_mul(10i128.checked_pow(u32::from(scale.checked_sub(self.scale)?))?)?;
        Some(if self.neg { -m } else { m })
    }
}

impl LevelValue for Plain {
    fn is_positive(&self) -> bool {
        !self.neg && self.m > 0
    }

    /// By value (`1.50` equals `1.5`); `None` when the two cannot be brought
    /// to one scale in 128 bits (then the fast reader leaves the book to the
    /// general decoder).
    #[inline]
    fn cmp_value(&self, other: &Self) -> Option<std::cmp::Ordering> {
        // The common case, prices of one book at one scale: no rescaling.
        if self.scale == other.scale && !self.neg && !other.neg {
            return Some(self.m.cmp(&other.m));
        }
        let scale = self.scale.max(other.scale);
        Some(self.at_scale(scale)?.cmp(&other.at_scale(scale)?))
    }
}

impl std::fmt::Display for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = format!("{:0>width$}", self.m, width = usize::from(self.scale) + 1);
        let (int, frac) = digits.split_at(digits.len() - usize::from(self.scale));
        let sign = if self.neg { "-" } else { "" };
        if frac.is_empty() {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{frac}")
        }
    }
}

/// A price level as text read: price, size.
pub type PlainLevel = (Plain, Plain);

/// A book snapshot's fields other than its levels, borrowed from the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct BookHead<'a> {
    pub id: Uuid,
    pub exchange_ts: Option<Timestamp>,
    pub received_ts: Timestamp,
    pub venue: &'a str,
    /// The symbol's normal text, `BASE/QUOTE`.
    pub symbol: &'a str,
    pub sequence: Option<u64>,
    pub checksum: ChecksumStatus,
}

impl BookHead<'_> {
    /// The book's event time, as [`crate::Message::event_time`] has it.
    pub fn event_ts(&self) -> Timestamp {
        self.exchange_ts.unwrap_or(self.received_ts)
    }

    /// What the contract's validation asks of these fields (the levels
    /// aside): a venue that is not blank, times in the sane range.
    pub fn is_valid(&self) -> bool {
        !self.venue.trim().is_empty()
            && is_sane(&self.received_ts)
            && self.exchange_ts.is_none_or(|t| is_sane(&t))
    }
}

/// Where a reader puts the levels of the two sides as it meets them.
trait Sides {
    /// Reads one side's `[[price, size], ...]` off `rd`.
    fn read(&mut self, rd: &mut Reader<'_>, bids: bool) -> Option<()>;
}

/// Both sides in one vector of [`Plain`] levels, and where each is in it.
struct PlainSides<'v> {
    levels: &'v mut Vec<PlainLevel>,
    /// Each side's place in `levels`: (start, count).
    bids: Option<(usize, usize)>,
    asks: Option<(usize, usize)>,
}

impl Sides for PlainSides<'_> {
    fn read(&mut self, rd: &mut Reader<'_>, bids: bool) -> Option<()> {
        let start = self.levels.len();
        for _ in 0..rd.array_len()? {
            self.levels.push(rd.level()?);
        }
        let at = Some((start, self.levels.len() - start));
        match bids {
            true => self.bids = at,
            false => self.asks = at,
        }
        Some(())
    }
}

/// Each side as the `Level`s of a [`BookSnapshot`].
#[derive(Default)]
struct DecimalSides {
    bids: Option<Vec<Level>>,
    asks: Option<Vec<Level>>,
}

impl Sides for DecimalSides {
    fn read(&mut self, rd: &mut Reader<'_>, bids: bool) -> Option<()> {
        let n = rd.array_len()?;
        // Not trusting a length from the wire for more than a book holds.
        let mut side = Vec::with_capacity(n.min(1024));
        // The contract's check of a side (`check_side`), on the plain
        // values: every price and size positive, prices strictly sorted
        // best first (bids descending, asks ascending).
        let best_first = if bids {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        let mut prev: Option<Plain> = None;
        for _ in 0..n {
            let (p, q) = rd.level()?;
            if !p.is_positive()
                || !q.is_positive()
                || prev.is_some_and(|prev| prev.cmp_value(&p) != Some(best_first))
            {
                return None;
            }
            prev = Some(p);
            side.push(Level::new(p.to_decimal()?, q.to_decimal()?));
        }
        match bids {
            true => self.bids = Some(side),
            false => self.asks = Some(side),
        }
        Some(())
    }
}

/// Reads the fields of a MessagePack `book_snapshot` whose every part the
/// fast reader knows, the levels into `sides`; `None` for anything else.
fn read_fields<'a>(payload: &'a [u8], sides: &mut impl Sides) -> Option<BookHead<'a>> {
    let mut rd = Reader(payload);
    let fields = rd.map_len()?;
    let mut id = None;
    let mut venue = None;
    let mut symbol = None;
    let mut exchange_ts: Option<Option<Timestamp>> = None;
    let mut received_ts = None;
    let mut sequence: Option<Option<u64>> = None;
    let mut checksum = None;
    let (mut bids, mut asks) = (false, false);
    for _ in 0..fields {
        // Every field at most once, as serde's derive requires; an unknown
        // one (which serde skips) is left to serde too.
        match rd.str_bytes()? {
            b"id" if id.is_none() => id = Some(rd.uuid()?),
            b"venue" if venue.is_none() => venue = Some(rd.str()?),
            b"symbol" if symbol.is_none() => {
                let s = rd.str()?;
                Symbol::is_canonical(s).then_some(())?;
                symbol = Some(s);
            }
            b"exchange_ts" if exchange_ts.is_none() => {
                exchange_ts = Some(rd.nil_or(|rd| rd.i64().map(from_nanos))?);
            }
            b"received_ts" if received_ts.is_none() => received_ts = Some(from_nanos(rd.i64()?)),
            b"sequence" if sequence.is_none() => {
                sequence = Some(rd.nil_or(|rd| u64::try_from(rd.int()?).ok())?);
            }
            b"checksum" if checksum.is_none() => {
                checksum = Some(ChecksumStatus::from_name(rd.str_bytes()?)?);
            }
            b"bids" if !bids => {
                sides.read(&mut rd, true)?;
                bids = true;
            }
            b"asks" if !asks => {
                sides.read(&mut rd, false)?;
                asks = true;
            }
            _ => return None,
        }
    }
    if !rd.0.is_empty() || !bids || !asks {
        return None;
    }
    Some(BookHead {
        id: id?,
        exchange_ts: exchange_ts.flatten(),
        received_ts: received_ts?,
        venue: venue?,
        symbol: symbol?,
        sequence: sequence.flatten(),
        checksum: checksum.unwrap_or_default(),
    })
}

/// Reads a MessagePack `book_snapshot` whose every part the fast reader
/// knows. Fills `levels` with the bids, then the asks, and returns the head
/// and the number of bids; `None` for anything else. Nothing is validated
/// here: a caller checks what the contract's validation would.
pub fn read_book<'a>(
    payload: &'a [u8],
    levels: &mut Vec<PlainLevel>,
) -> Option<(BookHead<'a>, usize)> {
    levels.clear();
    let mut sides = PlainSides {
        levels,
        bids: None,
        asks: None,
    };
    let head = read_fields(payload, &mut sides)?;
    let ((bids_at, n_bids), (asks_at, _)) = (sides.bids?, sides.asks?);
    // The asks came first: put the bids in front.
    if asks_at < bids_at {
        levels.rotate_left(bids_at);
    }
    Some((head, n_bids))
}

/// The [`BookSnapshot`] the general decoder would give for `payload`, if
/// the fast reader takes it (see the module's notes) and the contract's
/// validation would accept it: whatever validation would refuse is left to
/// the general decoder, which says what is wrong.
pub fn decode_book(payload: &[u8]) -> Option<BookSnapshot> {
    let mut sides = DecimalSides::default();
    let head = read_fields(payload, &mut sides)?;
    if !head.is_valid() {
        return None;
    }
    Some(BookSnapshot {
        id: head.id,
        venue: head.venue.to_owned(),
        symbol: Symbol::from_canonical(head.symbol)?,
        exchange_ts: head.exchange_ts,
        received_ts: head.received_ts,
        sequence: head.sequence,
        checksum: head.checksum,
        bids: sides.bids?,
        asks: sides.asks?,
    })
}

/// MessagePack values read off the front of a slice. (`rmp`'s own readers go
/// through `std::io` and cost several times more per value.)
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn marker(&mut self) -> Option<Marker> {
        Some(Marker::from_u8(self.be::<1>()?[0]))
    }

    fn u8(&mut self) -> Option<usize> {
        Some(usize::from(self.be::<1>()?[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(self.be()?)))
    }
    fn u32(&mut self) -> Option<usize> {
        usize::try_from(u32::from_be_bytes(self.be()?)).ok()
    }

    fn map_len(&mut self) -> Option<usize> {
        self.len_of(true)
    }

    fn array_len(&mut self) -> Option<usize> {
        self.len_of(false)
    }

    /// The length of the map (`map`) or array that comes next.
    #[inline]
    fn len_of(&mut self, map: bool) -> Option<usize> {
        match (self.marker()?, map) {
            (Marker::FixMap(n), true) | (Marker::FixArray(n), false) => Some(usize::from(n)),
            (Marker::Map16, true) | (Marker::Array16, false) => self.u16(),
            (Marker::Map32, true) | (Marker::Array32, false) => self.u32(),
            _ => None,
        }
    }

    /// A string's bytes, not yet checked to be UTF-8.
    fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let len = match self.marker()? {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 => self.u8()?,
            Marker::Str16 => self.u16()?,
            Marker::Str32 => self.u32()?,
            _ => return None,
        };
        self.take(len)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.str_bytes()?).ok()
    }

    /// Any integer, in the range of `i128`.
    fn int(&mut self) -> Option<i128> {
        Some(match self.marker()? {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::U8 => i128::from(u8::from_be_bytes(self.be()?)),
            Marker::U16 => i128::from(u16::from_be_bytes(self.be()?)),
            Marker::U32 => i128::from(u32::from_be_bytes(self.be()?)),
            Marker::U64 => i128::from(u64::from_be_bytes(self.be()?)),
            Marker::I8 => i128::from(i8::from_be_bytes(self.be()?)),
            Marker::I16 => i128::from(i16::from_be_bytes(self.be()?)),
            Marker::I32 => i128::from(i32::from_be_bytes(self.be()?)),
            Marker::I64 => i128::from(i64::from_be_bytes(self.be()?)),
            _ => return None,
        })
    }

    /// Nanoseconds since the epoch (text times are left to serde).
    fn i64(&mut self) -> Option<i64> {
        i64::try_from(self.int()?).ok()
    }

    /// A UUID as `uuid` writes one for MessagePack (16 bytes of binary), or
    /// as text, which the contract also reads.
    fn uuid(&mut self) -> Option<Uuid> {
        let rest = self.0;
        match self.marker()? {
            Marker::Bin8 if self.u8()? == 16 => Some(Uuid::from_bytes(self.be()?)),
            Marker::FixStr(_) | Marker::Str8 => {
                self.0 = rest;
                Uuid::parse_str(self.str()?).ok()
            }
            _ => None,
        }
    }

    fn nil_or<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.0.first() == Some(&0xc0) {
            self.0 = &self.0[1..];
            return Some(None);
        }
        value(self).map(Some)
    }

    /// One `[price, size]`, each as plain text.
    fn level(&mut self) -> Option<PlainLevel> {
        if self.array_len()? != 2 {
            return None;
        }
        let price = Plain::parse_ascii(self.str_bytes()?)?;
        let qty = Plain::parse_ascii(self.str_bytes()?)?;
        Some((price, qty))
    }
}
