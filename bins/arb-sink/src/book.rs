//! The sink's side of the fast book reader ([`arb_contract::fast`]): a
//! MessagePack `book_snapshot` is written to its row straight from the
//! reader's borrowed head and [`Plain`] levels, where the general decoder
//! builds a `BookSnapshot` (strings, a `Symbol`, forty `Decimal`s). Decoding
//! was the sink's largest cost per message.
//!
//! On top of the reader's "not mine" for whatever it does not read exactly
//! as the general decoder would, [`read`] refuses what the contract's
//! validation would refuse (a price or size that is not positive, a side
//! out of order, an absurd time): the caller then decodes the message the
//! general way, with the same errors (and dead letters) as before. The tests
//! check that both ways write the same row bytes, for valid books and for
//! mutated payloads.

pub use arb_contract::fast::{BookHead, Plain, PlainLevel};
use arb_contract::validate::{SideOrder, check_side};

/// Reads a MessagePack `book_snapshot` whose every part the fast reader
/// knows and the contract's validation accepts. Fills `levels` with the
/// bids, then the asks, and returns the head and the number of bids; `None`
/// for anything else.
pub fn read<'a>(payload: &'a [u8], levels: &mut Vec<PlainLevel>) -> Option<(BookHead<'a>, usize)> {
    let (head, n_bids) = arb_contract::fast::read_book(payload, levels)?;
    // What validation refuses is the general decoder's to report.
    let (bid_levels, ask_levels) = levels.split_at(n_bids);
    if !head.is_valid()
        || check_side("bid", bid_levels.iter().copied(), SideOrder::Descending).is_err()
        || check_side("ask", ask_levels.iter().copied(), SideOrder::Ascending).is_err()
    {
        return None;
    }
    Some((head, n_bids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::model::ChecksumStatus;
    use arb_contract::sample;
    use arb_contract::time::{Timestamp, from_nanos};

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
                exchange_ts: b.exchange_ts,
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
        // As JSON, the id is text; `sample::msgpack_with_binary_id` puts it back as bytes.
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
        let sorted = sample::msgpack_with_binary_id(&good, &b.id);
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
            ("venue", serde_json::json!(" ")),
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
            let m = sample::msgpack_with_binary_id(&v, &b.id);
            assert!(read(&m, &mut levels).is_none(), "{field} = {value}");
        }
    }
}
