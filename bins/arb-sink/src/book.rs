//! A fast reader for the commonest message, a MessagePack `book_snapshot`:
//! it borrows the venue and symbol from the payload and reads each price and
//! size from its text straight into [`Plain`], where the general decoder
//! builds a `BookSnapshot` (strings, a `Symbol`, forty `Decimal`s). Decoding
//! was the sink's largest cost per message.
//!
//! It only ever says "not mine": whatever it does not read exactly as the
//! general decoder would (another layout, an unknown or repeated field, a
//! number where text is expected, text that is not plain, a symbol not in
//! normal form, trailing bytes), and whatever the contract's validation
//! would refuse (a price or size that is not positive, a side out of order,
//! an absurd time), makes it return `None`, and the caller decodes the
//! message the general way, with the same errors (and dead letters) as
//! before. Ids are read as 16 bytes of binary or as text, as the general
//! decoder reads them. The tests check that both ways write the same row
//! bytes, for valid books and for mutated payloads.

use rmp::Marker;
use uuid::Uuid;

use arb_contract::model::ChecksumStatus;
use arb_contract::symbol::Symbol;
use arb_contract::time::{Timestamp, from_nanos, is_sane};
use arb_contract::validate::{SideOrder, check_side};

use crate::numeric::Plain;

/// A price level as text read: price, size.
pub type PlainLevel = (Plain, Plain);

/// A book snapshot's fields other than its levels, borrowed from the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct BookHead<'a> {
    pub id: Uuid,
    pub event_ts: Timestamp,
    pub received_ts: Timestamp,
    pub venue: &'a str,
    /// The symbol's normal text, `BASE/QUOTE`.
    pub symbol: &'a str,
    pub sequence: Option<u64>,
    pub checksum: ChecksumStatus,
}

/// Reads a MessagePack `book_snapshot` whose every part the fast reader
/// knows. Fills `levels` with the bids, then the asks, and returns the head
/// and the number of bids; `None` for anything else.
pub fn read<'a>(payload: &'a [u8], levels: &mut Vec<PlainLevel>) -> Option<(BookHead<'a>, usize)> {
    levels.clear();
    let mut rd = Reader(payload);
    let fields = rd.map_len()?;
    let mut id = None;
    let mut venue = None;
    let mut symbol = None;
    let mut exchange_ts: Option<Option<Timestamp>> = None;
    let mut received_ts = None;
    let mut sequence: Option<Option<u64>> = None;
    let mut checksum = None;
    // Each side's place in `levels`: (start, count).
    let mut bids: Option<(usize, usize)> = None;
    let mut asks: Option<(usize, usize)> = None;
    for _ in 0..fields {
        // Every field at most once, as serde's derive requires.
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
            b"bids" if bids.is_none() => bids = Some(rd.side(levels)?),
            b"asks" if asks.is_none() => asks = Some(rd.side(levels)?),
            _ => return None,
        }
    }
    let ((bids_at, n_bids), (asks_at, _)) = (bids?, asks?);
    if !rd.0.is_empty() {
        return None;
    }
    // The asks came first: put the bids in front.
    if asks_at < bids_at {
        levels.rotate_left(bids_at);
    }
    let received_ts = received_ts?;
    let exchange_ts = exchange_ts.flatten();
    // What validation refuses is the general decoder's to report.
    let (bid_levels, ask_levels) = levels.split_at(n_bids);
    if !is_sane(&received_ts)
        || exchange_ts.is_some_and(|t| !is_sane(&t))
        || check_side("bid", bid_levels.iter().copied(), SideOrder::Descending).is_err()
        || check_side("ask", ask_levels.iter().copied(), SideOrder::Ascending).is_err()
    {
        return None;
    }
    let head = BookHead {
        id: id?,
        event_ts: exchange_ts.unwrap_or(received_ts),
        received_ts,
        venue: venue?,
        symbol: symbol?,
        sequence: sequence.flatten(),
        checksum: checksum.unwrap_or_default(),
    };
    Some((head, n_bids))
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

    /// `[[price, size], ...]`, each as plain text, appended to `levels`;
    /// returns where they start and how many there are.
    fn side(&mut self, levels: &mut Vec<PlainLevel>) -> Option<(usize, usize)> {
        let start = levels.len();
        let n = self.array_len()?;
        for _ in 0..n {
            if self.array_len()? != 2 {
                return None;
            }
            let price = Plain::parse_ascii(self.str_bytes()?)?;
            let qty = Plain::parse_ascii(self.str_bytes()?)?;
            levels.push((price, qty));
        }
        Some((start, levels.len() - start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::model::BookSnapshot;
    use arb_contract::sample;

    fn ts() -> Timestamp {
        from_nanos(1_763_900_000_000_000_000)
    }

    #[test]
    fn reads_what_the_codec_writes() {
        let mut b = sample::book(7, "kraken", "BTC/USD", 10, ts());
        b.exchange_ts = Some(from_nanos(1_763_899_999_000_000_000));
        b.sequence = Some(42);
        b.checksum = ChecksumStatus::Verified;
        let payload = arb_contract::codec::encode(&b).expect("encodes");
        let mut levels = Vec::new();
        let (head, bids) = read(&payload, &mut levels).expect("the fast reader takes it");
        assert_eq!(
            head,
            BookHead {
                id: b.id,
                event_ts: b.exchange_ts.unwrap(),
                received_ts: b.received_ts,
                venue: "kraken",
                symbol: "BTC/USD",
                sequence: Some(42),
                checksum: ChecksumStatus::Verified,
            }
        );
        assert_eq!(bids, 10);
        assert_eq!(levels.len(), 20);
        for (l, p) in b.bids.iter().chain(&b.asks).zip(&levels) {
            assert_eq!(Some(p.0), Plain::parse(&l.price.to_string()));
            assert_eq!(Some(p.1), Plain::parse(&l.qty.to_string()));
        }
    }

    #[test]
    fn leaves_what_it_does_not_know_to_the_general_decoder() {
        let b = sample::book(1, "kraken", "BTC/USD", 2, ts());
        let named = |v: &serde_json::Value| rmp_serde::to_vec_named(v).expect("encodes");
        // As JSON, the id is text; `reencode_with_binary_id` puts it back as bytes.
        let good = serde_json::to_value(&b).expect("json");
        let mut levels = Vec::new();
        let real = arb_contract::codec::encode(&b).expect("encodes");
        assert!(read(&real, &mut levels).is_some());
        // An id as text (as another language writes it) is read all the same.
        let text_id = named(&good);
        let (head, _) = read(&text_id, &mut levels).expect("an id as text");
        assert_eq!(head.id, b.id);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("array layout", rmp_serde::to_vec(&b).expect("encodes")),
            ("trailing byte", [&real[..], &[0xc0]].concat()),
            ("truncated", real[..real.len() - 1].to_vec()),
            ("empty", Vec::new()),
        ];
        for (what, payload) in cases {
            assert!(read(&payload, &mut levels).is_none(), "{what}");
        }
        // Fields in another order (JSON's sorted keys) are read all the same.
        let sorted = reencode_with_binary_id(&good, &b);
        let (head, n_bids) = read(&sorted, &mut levels).expect("any field order");
        assert_eq!((head.id, n_bids, levels.len()), (b.id, 2, 4));
        assert_eq!(
            Some(levels[0].0),
            Plain::parse(&b.bids[0].price.to_string())
        );
        assert_eq!(
            Some(levels[2].0),
            Plain::parse(&b.asks[0].price.to_string())
        );
        for (field, value) in [
            ("symbol", serde_json::json!("btc/usd")),
            ("symbol", serde_json::json!("BTC-USD")),
            // What validation refuses: not positive, out of order, absurd times.
            ("bids", serde_json::json!([["100", "0"]])),
            ("bids", serde_json::json!([["-1", "1"]])),
            ("bids", serde_json::json!([["99", "1"], ["100", "1"]])),
            ("asks", serde_json::json!([["101", "1"], ["101", "2"]])),
            ("received_ts", serde_json::json!(1)),
            ("exchange_ts", serde_json::json!(i64::MAX)),
            ("bids", serde_json::json!([["1e3", "1"]])),
            ("asks", serde_json::json!([[100.5, "1"]])),
            ("asks", serde_json::json!([["100.5", "1", "2"]])),
            ("received_ts", serde_json::json!("2025-11-23T12:00:00Z")),
            ("sequence", serde_json::json!(-1)),
            ("checksum", serde_json::json!("maybe")),
            ("extra", serde_json::json!(1)),
        ] {
            let mut v = good.clone();
            v[field] = value.clone();
            let m = reencode_with_binary_id(&v, &b);
            assert!(read(&m, &mut levels).is_none(), "{field} = {value}");
        }
    }

    /// The JSON value as a MessagePack map, with `id` as 16 bytes of binary.
    fn reencode_with_binary_id(v: &serde_json::Value, b: &BookSnapshot) -> Vec<u8> {
        let map = v.as_object().expect("an object");
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, map.len() as u32).expect("writes");
        for (k, val) in map {
            rmp::encode::write_str(&mut out, k).expect("writes");
            if k == "id" {
                rmp::encode::write_bin(&mut out, b.id.as_bytes()).expect("writes");
            } else {
                out.extend(rmp_serde::to_vec_named(val).expect("encodes"));
            }
        }
        out
    }
}
