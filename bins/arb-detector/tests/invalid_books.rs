//! Books that fail the contract's checks never reach detection: the real
//! `arb-detector` on the real NATS dead-letters each one on
//! `sys.dlq.detector-cross` with its reason and its bytes, and publishes no
//! opportunity from it. Every bad book here sits next to a good book of
//! another venue and would open a cross opportunity if it were used (checked
//! first, in process, with the same flags); the same pair made valid does
//! open one, so the test can see an opportunity when there is one.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::codec;
use arb_contract::time::from_nanos;
use arb_contract::{BookSnapshot, EpisodeState, RuntimeState};
use arb_detector::Config;
use clap::Parser;
use common::*;

const FLAGS: [&str; 3] = [
    "--fee=sim-a=0.001,sim-b=0.002",
    "--min-net-edge-bps=5",
    "--max-book-age=10s",
];

/// One way to be invalid, and what the dead letter's reason says about it
/// (which names the case too).
struct Case {
    book: BookSnapshot,
    reason: String,
}

/// sim-a's book: asks 100.
fn sim_a() -> BookSnapshot {
    book("sim-a", "BTC/USD", 0, ("99", "1"), ("100", "1"))
}

/// sim-b's book at `ms`: bids 101 (sell there what sim-a sells at 100), two
/// levels a side.
fn sim_b(ms: i64) -> BookSnapshot {
    let mut b = book("sim-b", "BTC/USD", ms, ("101", "1"), ("102", "1"));
    b.bids.push(level(("100.5", "1")));
    b.asks.push(level(("102.5", "1")));
    b
}

/// One case a row `(side, price, size, what is wrong)`: sim-b's book with
/// its second `side` level (`bid` or `ask`) made bad, at `first_ms`, the
/// next at 1 ms later, and so on.
fn bad_levels(first_ms: i64, rows: &[(&str, &str, &str, &str)]) -> Vec<Case> {
    let case = |ms, &(side, price, size, why): &(&str, &str, &str, &str)| {
        let mut book = sim_b(ms);
        let levels = if side == "bid" {
            &mut book.bids
        } else {
            &mut book.asks
        };
        levels[1] = level((price, size));
        Case {
            book,
            reason: format!("{side} level 1: {why}"),
        }
    };
    (first_ms..)
        .zip(rows)
        .map(|(ms, row)| case(ms, row))
        .collect()
}

/// Bad levels: out of order, twice, and a size that is not positive.
fn level_cases() -> Vec<Case> {
    bad_levels(
        10,
        &[
            (
                "ask",
                "101.5",
                "1",
                "price 101.5 does not come above the one before it",
            ),
            (
                "bid",
                "101",
                "1",
                "price 101 does not come below the one before it",
            ),
            ("bid", "100.5", "-1", "size -1 is not positive"),
            ("ask", "102.5", "0", "size 0 is not positive"),
        ],
    )
}

/// Prices that are not positive, and a time that cannot be right.
fn price_and_time_cases() -> Vec<Case> {
    let mut cases = bad_levels(
        20,
        &[
            ("ask", "-102.5", "1", "price -102.5 is not positive"),
            ("bid", "0", "1", "price 0 is not positive"),
        ],
    );
    // A producer's unit mistake: seconds where nanoseconds belong.
    let mut seconds_as_nanos = sim_b(22);
    seconds_as_nanos.received_ts = from_nanos(1_800_000_000);
    cases.push(Case {
        book: seconds_as_nanos,
        reason: "received_ts 1970-01-01T00:00:01.800+00:00 is outside 2000-01-01 .. 2200-01-01"
            .into(),
    });
    cases
}

/// Each bad book, were it used, would open an opportunity next to sim-a's:
/// the detection itself does not check books (the codec does), so this is
/// what the dead letters below prevent.
fn assert_each_would_open_an_opportunity(cases: &[Case]) {
    let config = Config::parse_from(
        ["arb-detector", "--strategy=cross"]
            .into_iter()
            .chain(FLAGS),
    );
    for case in cases {
        let mut det = arb_detect::detector(
            config.detect.strategy.kind(),
            config.detector().expect("a valid configuration"),
        );
        assert!(det.on_book(&sim_a()).is_empty());
        let out = det.on_book(&case.book);
        assert!(
            out.iter().any(|o| o.state == EpisodeState::Open),
            "{}: the book would not open an opportunity even if used, so it shows nothing",
            case.reason
        );
    }
}

async fn invalid_books_are_dead_lettered_and_never_used(cases: Vec<Case>) {
    assert!(
        cases.len() <= 5,
        "the detector dead-letters 5 at once, then 1/s"
    );
    assert_each_would_open_an_opportunity(&cases);

    let mut d = Detector::start("cross", &FLAGS).await;
    let tb = &d.tb;
    let mut letters = subscribe(tb, "sys.dlq.detector-cross").await;
    let mut beats = subscribe(tb, "sys.state.detector-cross").await;

    publish_books(tb, &[sim_a()]).await;
    let subject = tb.bus.subjects.with_prefix("md.book.sim-b.BTC-USD");
    for case in &cases {
        publish_books(tb, std::slice::from_ref(&case.book)).await;
        let letter = next_letter(&mut letters, &format!("dead letter for {}", case.reason)).await;
        assert_eq!(letter.service, "detector-cross", "{}", case.reason);
        assert_eq!(letter.subject, subject, "{}", case.reason);
        assert_eq!(
            letter.reason,
            format!("invalid message: {}", case.reason),
            "{}",
            case.reason
        );
        assert_eq!(
            letter.payload,
            codec::encode(&case.book).unwrap(),
            "{}: the letter carries the book's bytes",
            case.reason
        );
        assert_eq!(
            letter.headers.get("Nats-Msg-Id"),
            Some(&case.book.id.to_string())
        );
    }

    // The same pair, valid. The detector publishes in the order it reads,
    // so an opportunity from any bad book would have come first.
    let valid = sim_b(100);
    publish_books(tb, &[valid]).await;
    let open = next_opp(&mut d.opps, "opportunity from the valid pair").await;
    assert_eq!(
        (open.state, open.key.as_str(), open.book_ts),
        (EpisodeState::Open, "BTC-USD_sim-a_sim-b", at_ms(100)),
        "the first opportunity is the valid book's: {open:?}"
    );

    // SIGTERM closes it; nothing else was published.
    d.stop().await;
    let close = next_opp(&mut d.opps, "close at shutdown").await;
    assert_eq!(
        (close.state, close.episode_id),
        (EpisodeState::Close, open.episode_id)
    );
    // The last heartbeat (sent after the closes) counts what happened.
    let last = loop {
        let state: RuntimeState = next_msg(&mut beats, "heartbeat at shutdown").await;
        if state.counters.get("opportunities_close") == Some(&1) {
            break state;
        }
    };
    let n = cases.len() as u64;
    for (counter, want) in [
        ("books", 2),
        ("bad_payloads", n),
        ("dead_letters", n),
        ("dead_letters_suppressed", 0),
        ("opportunities_open", 1),
        ("opportunities_update", 0),
    ] {
        assert_eq!(
            last.counters.get(counter),
            Some(&want),
            "{counter}: {:?}",
            last.counters
        );
    }
    d.tb.cleanup().await;
}

#[tokio::test]
async fn books_with_bad_levels_are_dead_lettered_and_open_nothing() {
    invalid_books_are_dead_lettered_and_never_used(level_cases()).await;
}

#[tokio::test]
async fn books_with_bad_prices_or_times_are_dead_lettered_and_open_nothing() {
    invalid_books_are_dead_lettered_and_never_used(price_and_time_cases()).await;
}
