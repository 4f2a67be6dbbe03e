#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
#![allow(clippy::type_complexity)] // table-driven cases as tuples
//! Pins the wire contract: every message type round-trips through MessagePack
//! and JSON, decodes by header or by subject, and one fixed JSON document per
//! type (in `fixtures/`, written once and never regenerated silently) still
//! decodes to the same value.

use arb_contract::codec::{self, ARB_SCHEMA, CONTENT_TYPE, ContentType, NATS_MSG_ID};
use arb_contract::sample;
use arb_contract::time::from_nanos;
use arb_contract::{CodecError, Decoded, Headers, Subjects, WireHeaders};

fn every_type() -> Vec<Decoded> {
    let ts = from_nanos(1_763_900_000_123_456_789);
    (0..12)
        .map(|n| sample::mixed(n, ts))
        .filter(|m| !matches!(m, Decoded::Book(b) if b.venue != "kraken"))
        .collect()
}

#[test]
fn every_type_round_trips_through_msgpack_and_json() {
    let subjects = Subjects::default();
    let all = every_type();
    assert_eq!(all.len(), 10, "one sample per message type");
    for msg in &all {
        for ct in [ContentType::Msgpack, ContentType::Json] {
            let payload = msg.encode(ct).unwrap();
            let headers = msg.headers(ct);
            assert_eq!(headers.get(CONTENT_TYPE), Some(ct.as_str()));
            assert_eq!(
                headers.get(ARB_SCHEMA),
                Some(format!("{}/1", msg.schema()).as_str())
            );
            assert_eq!(
                headers.get(NATS_MSG_ID),
                Some(msg.id().to_string().as_str())
            );
            let subject = msg.subject(&subjects).unwrap();
            let back = Decoded::decode(&subjects, &subject, headers.wire(), &payload).unwrap();
            assert_eq!(&back, msg, "{} via {ct:?}", msg.schema());
            // Without headers (a person using `nats pub`): content sniffed, type from the subject.
            let bare = Decoded::decode(&subjects, &subject, WireHeaders::NONE, &payload).unwrap();
            assert_eq!(&bare, msg, "{} without headers via {ct:?}", msg.schema());
        }
    }
}

#[test]
fn msgpack_uses_named_fields_and_decimal_strings() {
    let b = sample::book(1, "kraken", "BTC/USD", 2, from_nanos(0));
    let bytes = codec::encode(&b).unwrap();
    // Read back generically: a map keyed by field names, prices as strings.
    #[derive(serde::Deserialize)]
    struct Loose {
        symbol: String,
        bids: Vec<(String, String)>,
        received_ts: i64,
    }
    let loose: Loose = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(loose.symbol, "BTC/USD");
    assert_eq!(loose.bids[0].0, "64999.96");
    assert_eq!(loose.received_ts, 350_000, "times are nanoseconds");
    // rmp-serde writes a map (0x8N / 0xde) for named fields, not an array.
    assert!(
        matches!(bytes[0], 0x80..=0x8f | 0xde | 0xdf),
        "first byte {:#x}",
        bytes[0]
    );
}

#[test]
fn old_messages_without_new_fields_still_decode() {
    let json =
        br#"{"id":"019ab000-0000-7000-8000-000000000001","venue":"kraken","symbol":"BTC/USD",
        "received_ts":"2026-11-23T10:00:00Z","bids":[["100.5","1"]],"asks":[["101","2.5"]]}"#;
    let b: arb_contract::BookSnapshot = codec::decode(WireHeaders::NONE, json).unwrap();
    assert_eq!(b.sequence, None);
    assert_eq!(b.exchange_ts, None);
    assert_eq!(b.checksum, arb_contract::ChecksumStatus::NotProvided);
    assert!(!b.is_crossed());
}

#[test]
fn bad_input_gets_a_typed_error() {
    let subjects = Subjects::default();
    let subj = "md.book.kraken.BTC-USD";
    let h = |schema: &str, ct: &str| -> Headers {
        [(ARB_SCHEMA, schema), (CONTENT_TYPE, ct)]
            .into_iter()
            .collect()
    };
    let ts = from_nanos(1_763_900_000_000_000_000);
    let good = codec::encode(&sample::book(1, "kraken", "BTC/USD", 3, ts)).unwrap();
    let cases: Vec<(Option<Headers>, Vec<u8>, fn(&CodecError) -> bool)> = vec![
        (Some(h("nope/1", codec::MSGPACK)), good.to_vec(), |e| {
            matches!(e, CodecError::UnknownSchema(_))
        }),
        (
            Some(h("book_snapshot/9", codec::MSGPACK)),
            good.to_vec(),
            |e| matches!(e, CodecError::UnsupportedVersion { .. }),
        ),
        (
            Some(h("book_snapshot/1", "text/plain")),
            good.to_vec(),
            |e| matches!(e, CodecError::UnsupportedContentType(_)),
        ),
        (
            Some(h("book_snapshot/1", codec::MSGPACK)),
            b"\xc1\xc1garbage".to_vec(),
            |e| matches!(e, CodecError::BadMsgpack(_)),
        ),
        (
            Some(h("book_snapshot/1", codec::JSON)),
            b"{\"id\":1}".to_vec(),
            |e| matches!(e, CodecError::BadJson(_)),
        ),
        (None, b"{\"venue\":\"kraken\"}".to_vec(), |e| {
            matches!(e, CodecError::BadJson(_))
        }),
    ];
    for (headers, payload, want) in cases {
        let wire = headers.as_ref().map_or(WireHeaders::NONE, Headers::wire);
        let err = Decoded::decode(&subjects, subj, wire, &payload).unwrap_err();
        assert!(want(&err), "unexpected error {err:?}");
        assert!(err.is_bad_input());
    }
    let err = Decoded::decode(&subjects, "foo.bar", WireHeaders::NONE, &good).unwrap_err();
    assert!(matches!(err, CodecError::NoSchema(_)), "{err:?}");
    let err = codec::decode::<arb_contract::Opportunity>(
        h("book_snapshot/1", codec::MSGPACK).wire(),
        &good,
    )
    .unwrap_err();
    assert!(matches!(err, CodecError::WrongSchema { .. }), "{err:?}");
}

#[test]
fn fixed_json_documents_decode() {
    let subjects = Subjects::default();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let update = std::env::var_os("ARB_WRITE_FIXTURES").is_some();
    for msg in every_type() {
        let path = dir.join(format!("{}.json", msg.schema()));
        if update {
            let v: serde_json::Value =
                serde_json::from_slice(&msg.encode(ContentType::Json).unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        }
        let doc = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("fixture {} missing: {e}", path.display()));
        let subject = msg.subject(&subjects).unwrap();
        let decoded = Decoded::decode(&subjects, &subject, WireHeaders::NONE, &doc)
            .unwrap_or_else(|e| panic!("fixture {} no longer decodes: {e}", path.display()));
        assert_eq!(
            decoded,
            msg,
            "fixture {} decodes to a different value",
            path.display()
        );
    }
}

#[test]
fn checksum_status_names_are_the_wire_names() {
    use arb_contract::model::ChecksumStatus;
    for c in ChecksumStatus::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        assert_eq!(ChecksumStatus::from_name(c.as_str().as_bytes()), Some(c));
    }
    assert_eq!(ChecksumStatus::from_name(b"Verified"), None);
}
