#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The fast book reader gives exactly what the general (serde) decoder
//! gives, or leaves the payload to it: for valid books of every shape, for
//! payloads another writer would make, and for every one-byte corruption of
//! real payloads.

use std::str::FromStr;

use arb_contract::codec::{self, ContentType, WireHeaders};
use arb_contract::fast::{self, Plain};
use arb_contract::model::{BookSnapshot, ChecksumStatus, Level};
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::validate::LevelValue;
use arb_contract::{Symbol, Validate, id_at, sample};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

fn ts() -> Timestamp {
    from_nanos(1_763_900_000_000_000_000)
}

/// What serde alone makes of a payload (no fast path).
fn general(payload: &[u8]) -> Option<BookSnapshot> {
    rmp_serde::from_slice(payload).ok()
}

/// The two are the same book down to every decimal's scale: they encode to
/// the same bytes.
fn assert_same(fast: &BookSnapshot, general: &BookSnapshot, what: &str) {
    assert_eq!(fast, general, "{what}");
    assert_eq!(
        codec::encode(fast).unwrap(),
        codec::encode(general).unwrap(),
        "{what}: the same bytes again"
    );
    for (a, b) in fast
        .bids
        .iter()
        .chain(&fast.asks)
        .zip(general.bids.iter().chain(&general.asks))
    {
        assert_eq!(
            (a.price.scale(), a.qty.scale()),
            (b.price.scale(), b.qty.scale()),
            "{what}"
        );
    }
}

fn random_decimal(rng: &mut StdRng) -> Decimal {
    let m: i64 = match rng.random_range(0..3) {
        0 => rng.random_range(1..1_000),
        1 => rng.random_range(1..10i64.pow(12)),
        _ => rng.random_range(1..i64::MAX),
    };
    Decimal::new(m, rng.random_range(0..=12))
}

/// A valid book of random depth, prices, scales and optional fields.
fn random_book(rng: &mut StdRng, n: u64) -> BookSnapshot {
    let side = |rng: &mut StdRng, ascending: bool| {
        let mut prices: Vec<Decimal> = (0..rng.random_range(0..12))
            .map(|_| random_decimal(rng))
            .collect();
        prices.sort();
        prices.dedup();
        if !ascending {
            prices.reverse();
        }
        prices
            .into_iter()
            .map(|p| Level::new(p, random_decimal(rng)))
            .collect::<Vec<_>>()
    };
    let symbols = ["BTC/USD", "ETH/BTC", "SOL1/USDT"];
    BookSnapshot {
        id: id_at(ts(), n),
        venue: ["kraken", "sim-a", "x"][rng.random_range(0..3)].to_owned(),
        symbol: Symbol::from_str(symbols[rng.random_range(0..3)]).unwrap(),
        exchange_ts: rng
            .random::<bool>()
            .then(|| from_nanos(1_763_800_000_000_000_000 + n as i64)),
        received_ts: from_nanos(1_763_900_000_000_000_000 + n as i64),
        sequence: rng.random::<bool>().then(|| rng.random::<u64>()),
        checksum: if rng.random::<bool>() {
            ChecksumStatus::Verified
        } else {
            ChecksumStatus::NotProvided
        },
        bids: side(rng, false),
        asks: side(rng, true),
    }
}

#[test]
fn valid_books_read_the_same_both_ways() {
    let mut rng = StdRng::seed_from_u64(5);
    for n in 0..2_000 {
        let b = random_book(&mut rng, n);
        let payload = codec::encode(&b).unwrap();
        let fast =
            fast::decode_book(&payload).expect("the fast reader takes what the codec writes");
        assert_same(&fast, &b, &format!("book {n}"));
        let g = general(&payload).unwrap();
        assert_same(&fast, &g, &format!("book {n}"));
        // And the codec's decode (which takes the fast path) validates it.
        let headers = WireHeaders {
            content_type: Some(ContentType::Msgpack.as_str()),
            schema: None,
        };
        let decoded: BookSnapshot = codec::decode(headers, &payload).unwrap();
        assert_same(&decoded, &b, &format!("book {n}, decoded"));
    }
}

#[test]
fn every_one_byte_corruption_is_read_the_same_or_left_to_serde() {
    let b = sample::book(3, "kraken", "BTC/USD", 3, ts());
    let payload = codec::encode(&b).unwrap().to_vec();
    let (mut taken, mut left) = (0, 0);
    for i in 0..payload.len() {
        for delta in [1u8, 0x20, 0x80, 0xff] {
            let mut p = payload.clone();
            p[i] = p[i].wrapping_add(delta);
            match fast::decode_book(&p) {
                Some(f) => {
                    taken += 1;
                    let g = general(&p).unwrap_or_else(|| {
                        panic!("byte {i} + {delta}: fast read {f:?}, serde refused")
                    });
                    assert_same(&f, &g, &format!("byte {i} + {delta}"));
                    assert!(
                        g.validate().is_ok(),
                        "byte {i} + {delta}: taken but invalid"
                    );
                }
                None => left += 1,
            }
        }
    }
    // Both happen: a changed digit is still a book, a changed marker is not.
    assert!(taken > 0 && left > 0, "taken {taken}, left {left}");
}

#[test]
fn other_writers_layouts_are_read_the_same_or_left_to_serde() {
    let b = sample::book(1, "kraken", "BTC/USD", 2, ts());
    let good = serde_json::to_value(&b).expect("json");
    // An id as text (as another language writes it), fields in another
    // order (JSON's sorted keys), optional fields missing or nil.
    let text_id = rmp_serde::to_vec_named(&good).unwrap();
    let sorted = sample::msgpack_with_binary_id(&good, &b.id);
    let mut no_optional = good.clone();
    for f in ["exchange_ts", "sequence", "checksum"] {
        no_optional.as_object_mut().unwrap().remove(f);
    }
    let mut nil_optional = good.clone();
    nil_optional["exchange_ts"] = serde_json::Value::Null;
    nil_optional["sequence"] = serde_json::Value::Null;
    for (what, p) in [
        ("text id", text_id),
        ("sorted keys", sorted),
        (
            "no optional fields",
            sample::msgpack_with_binary_id(&no_optional, &b.id),
        ),
        (
            "nil optional fields",
            sample::msgpack_with_binary_id(&nil_optional, &b.id),
        ),
    ] {
        let f = fast::decode_book(&p).unwrap_or_else(|| panic!("{what}: not taken"));
        assert_same(&f, &general(&p).unwrap(), what);
    }
    // What it leaves to serde, whatever serde then makes of it.
    let real = codec::encode(&b).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("array layout".into(), rmp_serde::to_vec(&b).unwrap()),
        ("trailing byte".into(), [&real[..], &[0xc0]].concat()),
        ("truncated".into(), real[..real.len() - 1].to_vec()),
        ("empty".into(), Vec::new()),
    ];
    for (field, value) in [
        ("symbol", serde_json::json!("btc/usd")),
        ("symbol", serde_json::json!("BTC-USD")),
        ("bids", serde_json::json!([["-1", "1"]])),
        ("bids", serde_json::json!([["-0", "1"]])),
        ("bids", serde_json::json!([["1e3", "1"]])),
        ("asks", serde_json::json!([[100.5, "1"]])),
        ("asks", serde_json::json!([["100.5", "1", "2"]])),
        (
            "asks",
            serde_json::json!([["0.00000000000000000000000000001", "1"]]),
        ),
        ("received_ts", serde_json::json!("2025-11-23T12:00:00Z")),
        ("received_ts", serde_json::json!(u64::MAX)),
        ("sequence", serde_json::json!(-1)),
        ("checksum", serde_json::json!("maybe")),
        ("extra", serde_json::json!(1)),
        // What validation refuses: the general decoder says what is wrong.
        ("venue", serde_json::json!(" ")),
        ("bids", serde_json::json!([["100", "0"]])),
        ("bids", serde_json::json!([["99", "1"], ["100", "1"]])),
        ("asks", serde_json::json!([["101", "1"], ["101.0", "2"]])),
        ("received_ts", serde_json::json!(1)),
        ("exchange_ts", serde_json::json!(i64::MAX)),
    ] {
        let mut v = good.clone();
        v[field] = value.clone();
        cases.push((
            format!("{field} = {value}"),
            sample::msgpack_with_binary_id(&v, &b.id),
        ));
    }
    let headers = WireHeaders {
        content_type: Some(ContentType::Msgpack.as_str()),
        schema: None,
    };
    for (what, p) in cases {
        assert!(fast::decode_book(&p).is_none(), "{what}");
        // The codec's answer is the general decoder's, error or book.
        let general = rmp_serde::from_slice::<BookSnapshot>(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| b.validate().map(|()| b).map_err(|e| e.to_string()));
        let decoded = codec::decode::<BookSnapshot>(headers, &p);
        match (&general, &decoded) {
            (Ok(g), Ok(d)) => assert_same(d, g, &what),
            (Err(_), Err(e)) => assert!(!e.to_string().is_empty(), "{what}"),
            _ => panic!("{what}: general {general:?}, codec {decoded:?}"),
        }
    }
}

#[test]
fn plain_text_gives_the_decimal_from_str_gives() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut texts: Vec<String> = [
        "0",
        "0.0000",
        "00012.50",
        "1",
        "100.5",
        "0.00000001",
        "18446744073709551615",
        "18446744073709551616",
        "1844674407370955161.6",
        "99999999999999999999.99999999",
        "9999999999999999999999999999",
        "0.000000000000000000000000001",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..100_000 {
        let int_len = rng.random_range(1..=20);
        let frac_len = rng.random_range(0..=(28 - int_len).min(12));
        let mut s: String = (0..int_len)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        if frac_len > 0 {
            s.push('.');
            s.extend((0..frac_len).map(|_| char::from(b'0' + rng.random_range(0..10u8))));
        }
        texts.push(s);
    }
    for s in &texts {
        let d = Decimal::from_str(s).unwrap();
        let p = Plain::parse(s).unwrap_or_else(|| panic!("{s} is plain"));
        let got = p.to_decimal().unwrap();
        assert_eq!(
            (got.mantissa(), got.scale()),
            (d.mantissa(), d.scale()),
            "{s}"
        );
        assert_eq!(p.to_string(), d.to_string(), "{s}");
    }
    // Negative values are left to `Decimal` (the sign of zero).
    assert_eq!(Plain::parse("-0").and_then(|p| p.to_decimal()), None);
    assert_eq!(Plain::parse("-1.5").and_then(|p| p.to_decimal()), None);
}

#[test]
fn plain_compares_and_signs_like_decimal() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut texts: Vec<String> = ["0", "-0", "0.0000", "1", "-1", "-0.00010", "12345.6789"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for _ in 0..2_000 {
        let m: i64 = rng.random_range(-10i64.pow(12)..10i64.pow(12));
        texts.push(Decimal::new(m, rng.random_range(0..=8)).to_string());
    }
    let values: Vec<(Plain, Decimal)> = texts
        .iter()
        .filter_map(|t| Some((Plain::parse(t)?, Decimal::from_str(t).ok()?)))
        .collect();
    assert!(values.len() > 1_900);
    for w in values.windows(2) {
        let ((pa, da), (pb, db)) = (w[0], w[1]);
        assert_eq!(pa.cmp_value(&pb), Some(da.cmp(&db)), "{da} vs {db}");
        assert_eq!(pa.cmp_value(&pa), Some(std::cmp::Ordering::Equal));
        assert_eq!(pa.is_positive(), da > Decimal::ZERO, "{da}");
    }
}

#[test]
fn text_that_is_not_plain_is_left_to_decimal() {
    for s in [
        "",
        "-",
        ".5",
        "5.",
        "1e5",
        "+1",
        " 1",
        "1 ",
        "1_000",
        "1.2.3",
        "--1",
        "0x10",
        "NaN",
        "١٢",
        "99999999999999999999999999999",
        "0.00000000000000000000000000001",
    ] {
        assert_eq!(Plain::parse(s), None, "{s:?}");
    }
}
