#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The one dead-letter id rule ([`DeadLetter::new`]): the same bad message
//! gives the same letter byte for byte, however often it comes back, so the
//! sink stores it once. From a stream it is named by (service, stream,
//! sequence) at the time the stream stored it; from core NATS by (service,
//! subject, payload) at its receive time.

use std::collections::BTreeMap;

use arb_contract::codec::{self, ContentType};
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{DeadLetter, Message, StreamPlace, Subjects};

const SERVICE: &str = "detector-cross";
const SUBJECT: &str = "md.book.sim-a.BTC-USD";
const PAYLOAD: &[u8] = b"\x81\xa5venue\xa5sim-a";
const REASON: &str = "invalid book: ask 1 at 100 is not above the one before";

fn at(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

fn headers() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Content-Type".to_owned(), "application/msgpack".to_owned()),
        ("Arb-Schema".to_owned(), "book_snapshot/1".to_owned()),
    ])
}

fn place(seq: u64, stored: Timestamp) -> Option<StreamPlace> {
    Some(StreamPlace {
        stream: "MD".into(),
        seq,
        stored,
    })
}

/// The letter of the bad message, as a consumer builds it.
fn letter(place: Option<StreamPlace>, received: Timestamp) -> DeadLetter {
    DeadLetter::new(
        SERVICE,
        SUBJECT,
        headers(),
        PAYLOAD,
        REASON,
        place,
        received,
    )
}

fn bytes(l: &DeadLetter) -> Vec<u8> {
    codec::encode(l).expect("a dead letter encodes").to_vec()
}

#[test]
fn the_same_bad_message_gives_byte_identical_dead_letters() {
    for (what, place) in [
        ("from a stream", place(17, at(5))),
        ("from core NATS", None),
    ] {
        let (a, b) = (letter(place.clone(), at(10)), letter(place.clone(), at(10)));
        assert!(!a.id.is_nil(), "{what}");
        assert_eq!(a.id, b.id, "{what}");
        assert_eq!(bytes(&a), bytes(&b), "{what}: the two letters differ");
        // JSON too, and what goes on the wire decodes back to the letter.
        assert_eq!(
            codec::encode_json(&a).unwrap(),
            codec::encode_json(&b).unwrap()
        );
        let headers = codec::headers(&a, ContentType::Msgpack);
        let back: DeadLetter = codec::decode(headers.wire(), &bytes(&a)).unwrap();
        assert_eq!(back, a, "{what}");
        assert_eq!(
            back.subject(&Subjects::default()).unwrap(),
            "sys.dlq.detector-cross"
        );
    }
}

#[test]
fn a_redelivery_from_a_stream_maps_to_the_same_letter() {
    // Redelivered later (or fetched by sequence): the stream's place and
    // time name it, not when this consumer saw it.
    let first = letter(place(17, at(5)), at(10));
    let again = letter(place(17, at(5)), at(60_000));
    assert_eq!(bytes(&first), bytes(&again));
    assert_eq!(first.ts, at(5), "the letter's time is the stream's");
    assert_eq!(
        (first.stream.as_deref(), first.stream_seq),
        (Some("MD"), Some(17))
    );
}

#[test]
fn another_place_or_message_gives_another_id() {
    let base = letter(place(17, at(5)), at(10));
    let next_seq = letter(place(18, at(5)), at(10));
    assert_ne!(
        base.id, next_seq.id,
        "another stream sequence, another letter"
    );
    let other_stream = letter(
        Some(StreamPlace {
            stream: "ARB".into(),
            seq: 17,
            stored: at(5),
        }),
        at(10),
    );
    assert_ne!(base.id, other_stream.id, "another stream, another letter");
    let other_service = DeadLetter::new(
        "sink",
        SUBJECT,
        headers(),
        PAYLOAD,
        REASON,
        place(17, at(5)),
        at(10),
    );
    assert_ne!(
        base.id, other_service.id,
        "another consumer, another letter"
    );

    // From core NATS: the payload, the subject and the receive time name it.
    let core = letter(None, at(10));
    assert_ne!(core.id, base.id);
    let other_payload = DeadLetter::new(
        SERVICE,
        SUBJECT,
        headers(),
        b"garbage",
        REASON,
        None,
        at(10),
    );
    assert_ne!(core.id, other_payload.id, "another payload, another letter");
    let other_subject = DeadLetter::new(
        SERVICE,
        "md.book.sim-b.BTC-USD",
        headers(),
        PAYLOAD,
        REASON,
        None,
        at(10),
    );
    assert_ne!(core.id, other_subject.id, "another subject, another letter");
    assert_ne!(core.id, letter(None, at(11)).id, "received again later");
}
