//! Hand-computed trades through the engine: a cross trade filled in full, a
//! leg that fills half and its unwind, the trading states, bad input, and a
//! restore that gives back the same balances.

use std::str::FromStr;
use std::time::Duration;

use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{
    BookSnapshot, ChecksumStatus, EpisodeState, Level, Opportunity, OpportunityKind,
    OpportunityLeg, OrderStatus, Side, Symbol, TradeStatus,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::ledger::StartingBalances;

const T0: i64 = 1_700_000_000_000_000_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn at(ms: i64) -> Timestamp {
    from_nanos(T0 + ms * 1_000_000)
}

fn btc() -> Symbol {
    Symbol::new("BTC", "USD").unwrap()
}

fn book(venue: &str, ms: i64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookSnapshot {
    let lv = |v: &[(&str, &str)]| v.iter().map(|(p, q)| Level::new(d(p), d(q))).collect();
    BookSnapshot {
        id: arb_contract::ids::derive(at(ms), &[venue.as_bytes()]),
        venue: venue.into(),
        symbol: btc(),
        exchange_ts: None,
        received_ts: at(ms),
        sequence: None,
        checksum: ChecksumStatus::NotProvided,
        bids: lv(bids),
        asks: lv(asks),
    }
}

fn engine() -> Engine {
    let cfg = EngineConfig {
        seed: 7,
        legs: LegMode::Concurrent,
        slippage_bps: Decimal::ZERO,
        valuation: "USD".into(),
        rules: crate::rules::VenueRules::default(),
        balances: vec![
            StartingBalances::from_str("sim-a:USD=1000,BTC=5").unwrap(),
            StartingBalances::from_str("sim-b:USD=1000,BTC=5").unwrap(),
        ],
        floors: Default::default(),
        transfers: Default::default(),
        history: Duration::from_secs(60),
    };
    let mut live = Live::default();
    live.fees.insert("sim-a".into(), d("0.001"));
    live.fees.insert("sim-b".into(), d("0.001"));
    Engine::new(cfg, live).unwrap()
}

/// Buy 1 BTC on sim-a at 100, sell it on sim-b at 101.
fn cross(n: u128, ms: i64) -> Opportunity {
    let leg = |venue: &str, side, price: &str| OpportunityLeg {
        venue: venue.into(),
        symbol: btc(),
        side,
        qty: d("1"),
        vwap: d(price),
        limit_price: Some(d(price)),
        fee_rate: d("0.001"),
    };
    Opportunity {
        id: Uuid::from_u128(1000 + n),
        episode_id: Uuid::from_u128(n),
        kind: OpportunityKind::Cross,
        key: "BTC-USD".into(),
        state: EpisodeState::Open,
        book_ts: at(ms),
        received_ts: None,
        published_ts: None,
        legs: vec![
            leg("sim-a", Side::Buy, "100"),
            leg("sim-b", Side::Sell, "101"),
        ],
        currency: "USD".into(),
        notional: d("100"),
        gross_edge_bps: d("100"),
        net_edge_bps: d("80"),
        expected_profit: d("0.799"),
        peak_edge_bps: None,
        opened_ts: None,
        duration_ms: None,
    }
}

/// Runs an opportunity to its end, forcing nothing: the books are there.
fn run(e: &mut Engine, opp: &Opportunity) -> Vec<Decoded> {
    match e.decide(opp) {
        Decision::Accepted(mut t, mut events) => {
            let step = e.progress(&mut t, false);
            assert!(step.done, "waiting for {:?}", step.waiting);
            events.extend(step.events);
            events
        }
        Decision::Rejected(events) => events,
        Decision::Skip(why) => panic!("skipped: {why}"),
    }
}

fn trade(events: &[Decoded]) -> &arb_contract::TradeEvent {
    events
        .iter()
        .find_map(|m| match m {
            Decoded::Trade(t) => Some(t),
            _ => None,
        })
        .expect("a trade event")
}

fn orders(events: &[Decoded]) -> Vec<&arb_contract::OrderEvent> {
    events
        .iter()
        .filter_map(|m| match m {
            Decoded::Order(o) => Some(o),
            _ => None,
        })
        .collect()
}

fn deep_books_at(e: &mut Engine, ms: i64) {
    e.on_book(book(
        "sim-a",
        ms,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    e.on_book(book("sim-b", ms, &[("101", "2")], &[("101.5", "1")]));
}

fn deep_books(e: &mut Engine) {
    deep_books_at(e, 0);
}

#[test]
fn a_cross_trade_fills_both_legs_and_books_the_exact_profit() {
    let mut e = engine();
    deep_books(&mut e);
    let events = run(&mut e, &cross(1, 0));
    let t = trade(&events);
    assert_eq!(t.status, TradeStatus::Completed);
    // −(100 + 0.1 fee) + (101 − 0.101 fee)
    assert_eq!(t.realized_pnl, d("0.799"));
    assert_eq!(t.fees, d("0.201"));
    assert_eq!(t.notional, d("100"));
    assert_eq!(e.ledger().available("sim-a", "USD"), d("899.9"));
    assert_eq!(e.ledger().available("sim-a", "BTC"), d("6"));
    assert_eq!(e.ledger().available("sim-b", "USD"), d("1100.899"));
    assert_eq!(e.ledger().available("sim-b", "BTC"), d("4"));
    let statuses: Vec<_> = orders(&events).iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::New,
            OrderStatus::New,
            OrderStatus::Filled,
            OrderStatus::Filled
        ]
    );
    // The trade record comes before the orders' final states.
    let pos = |f: &dyn Fn(&Decoded) -> bool| events.iter().position(f).unwrap();
    assert!(
        pos(&|m| matches!(m, Decoded::Trade(_)))
            < pos(&|m| matches!(m, Decoded::Order(o) if o.status == OrderStatus::Filled))
    );
    assert!(e.ledger().reconcile().is_empty());
    // All venues together: the BTC moved, the profit stayed.
    let change = e.ledger().change();
    assert_eq!((change["BTC"], change["USD"]), (d("0"), d("0.799")));
    // Once per episode: an update of the same episode is skipped.
    let mut update = cross(1, 5);
    update.state = EpisodeState::Update;
    assert!(matches!(e.decide(&update), Decision::Skip(_)));
}

#[test]
fn a_leg_that_fills_half_is_unwound_at_the_exact_loss() {
    let mut e = engine();
    e.on_book(book(
        "sim-a",
        0,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    // Only 0.5 BTC is bid at the sell leg's limit.
    e.on_book(book(
        "sim-b",
        0,
        &[("101", "0.5"), ("99", "2")],
        &[("101.5", "1")],
    ));
    let events = run(&mut e, &cross(2, 0));
    let t = trade(&events);
    assert_eq!(t.status, TradeStatus::Unwound);
    // Buy 1 @ 100: −100.1. Sell 0.5 @ 101: +50.5 − 0.0505.
    // Unwind: sell 0.5 on sim-a: 0.3 @ 99.5 + 0.2 @ 99 = 49.65, fee 0.04965.
    // −100.1 + 50.4495 + 49.60035 = −0.05015
    assert_eq!(t.realized_pnl, d("-0.05015"));
    let unwind: Vec<_> = t.legs.iter().filter(|l| l.unwind).collect();
    assert_eq!(unwind.len(), 1);
    assert_eq!(
        (unwind[0].venue.as_str(), unwind[0].side),
        ("sim-a", Side::Sell)
    );
    assert_eq!((unwind[0].qty, unwind[0].notional), (d("0.5"), d("49.65")));
    // The sell leg: partially filled, the IOC remainder cancelled.
    let sell: Vec<_> = orders(&events)
        .into_iter()
        .filter(|o| o.venue == "sim-b")
        .map(|o| (o.status, o.filled_qty))
        .collect();
    assert_eq!(
        sell,
        [
            (OrderStatus::New, d("0")),
            (OrderStatus::PartiallyFilled, d("0.5")),
            (OrderStatus::Cancelled, d("0.5"))
        ]
    );
    // BTC is back where it started in total.
    let btc = e.ledger().available("sim-a", "BTC") + e.ledger().available("sim-b", "BTC");
    assert_eq!(btc, d("10"));
    assert!(e.ledger().reconcile().is_empty());
    assert_eq!(e.cumulative("cross", "USD"), d("-0.05015"));
}

#[test]
fn halted_rejects_every_leg_with_its_reason_and_active_trades_again() {
    let mut e = engine();
    deep_books(&mut e);
    e.apply(
        &Key::TradingState,
        &Value::TradingState(TradingState::Halted),
    );
    let Decision::Rejected(events) = e.decide(&cross(3, 0)) else {
        panic!("not rejected");
    };
    let reasons: Vec<_> = orders(&events)
        .iter()
        .map(|o| (o.status, o.reason.clone().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            (OrderStatus::Rejected, "halted".to_owned()),
            (OrderStatus::Rejected, "other_leg_rejected".to_owned())
        ]
    );
    assert_eq!(e.counters()["rejected.halted"], 1);
    e.apply(
        &Key::TradingState,
        &Value::TradingState(TradingState::Reducing),
    );
    let Decision::Rejected(events) = e.decide(&cross(3, 1)) else {
        panic!("not rejected");
    };
    assert_eq!(orders(&events)[0].reason.as_deref(), Some("reducing_only"));
    // A rejected episode was not traded: a later update of it may be.
    e.apply(
        &Key::TradingState,
        &Value::TradingState(TradingState::Active),
    );
    deep_books_at(&mut e, 2);
    let mut update = cross(3, 2);
    update.state = EpisodeState::Update;
    assert_eq!(trade(&run(&mut e, &update)).status, TradeStatus::Completed);
}

#[test]
fn reducing_lets_an_unwind_out_while_refusing_new_trades() {
    let mut e = engine();
    e.on_book(book(
        "sim-a",
        0,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    e.on_book(book(
        "sim-b",
        0,
        &[("101", "0.5"), ("99", "2")],
        &[("101.5", "1")],
    ));
    e.live.latency.insert(
        "sim-b".into(),
        Latency::new(Duration::from_millis(10), Duration::ZERO),
    );
    let Decision::Accepted(mut t, _) = e.decide(&cross(4, 0)) else {
        panic!("not accepted");
    };
    // The sell leg waits for sim-b's book at 10 ms; meanwhile: reducing.
    let step = e.progress(&mut t, false);
    assert!(!step.done);
    e.apply(
        &Key::TradingState,
        &Value::TradingState(TradingState::Reducing),
    );
    e.on_book(book(
        "sim-b",
        10,
        &[("101", "0.5"), ("99", "2")],
        &[("101.5", "1")],
    ));
    // The unwind goes out at 10 ms, onto sim-a's book of then.
    let step = e.progress(&mut t, false);
    assert!(!step.done);
    assert!(step.events.iter().any(
        |m| matches!(m, Decoded::Order(o) if o.status == OrderStatus::New && o.venue == "sim-a")
    ));
    e.on_book(book(
        "sim-a",
        10,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    let step = e.progress(&mut t, false);
    assert!(step.done);
    let tr = trade(&step.events);
    assert_eq!(tr.status, TradeStatus::Unwound, "{tr:?}");
}

#[test]
fn unknown_venue_and_no_book_are_rejected_with_a_reason() {
    let mut e = engine();
    let Decision::Rejected(events) = e.decide(&cross(5, 0)) else {
        panic!("not rejected");
    };
    assert_eq!(orders(&events)[0].reason.as_deref(), Some("no_book"));
    deep_books(&mut e);
    let mut opp = cross(6, 0);
    opp.legs[1].venue = "nowhere".into();
    let Decision::Rejected(events) = e.decide(&opp) else {
        panic!("not rejected");
    };
    assert_eq!(orders(&events)[1].reason.as_deref(), Some("unknown_venue"));
    assert!(!e.traded(&opp.episode_id));
    // A venue with balances but no rules for the symbol (not a sim venue).
    let mut cfg = e.cfg.clone();
    cfg.balances
        .push(StartingBalances::from_str("kraken:USD=1000,BTC=1").unwrap());
    let mut k = Engine::new(cfg, e.live.clone()).unwrap();
    deep_books(&mut k);
    let mut opp = cross(7, 0);
    opp.legs[1].venue = "kraken".into();
    let Decision::Rejected(events) = k.decide(&opp) else {
        panic!("not rejected");
    };
    assert_eq!(orders(&events)[1].reason.as_deref(), Some("unknown_symbol"));
}

#[test]
fn a_book_change_between_decision_and_arrival_fills_on_the_later_book() {
    let mut e = engine();
    deep_books(&mut e);
    e.live.latency.insert(
        "sim-a".into(),
        Latency::new(Duration::from_millis(20), Duration::ZERO),
    );
    let Decision::Accepted(mut t, _) = e.decide(&cross(7, 0)) else {
        panic!("not accepted");
    };
    assert!(!e.progress(&mut t, false).done);
    // By arrival the ask moved up to 100.2: the buy's limit of 100 misses.
    e.on_book(book(
        "sim-a",
        20,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100.2", "1")],
    ));
    // The buy-back goes out at 20 ms, onto sim-b's book of then.
    assert!(!e.progress(&mut t, false).done);
    e.on_book(book("sim-b", 20, &[("101", "2")], &[("101.5", "1")]));
    let step = e.progress(&mut t, false);
    let tr = trade(&step.events);
    // The sell filled, the buy did not: the short is bought back on sim-b.
    assert_eq!(tr.legs.iter().filter(|l| !l.unwind).count(), 1);
    assert_eq!(tr.status, TradeStatus::Unwound);
    // +101 − 0.101 − (101.5 + 0.1015)
    assert_eq!(tr.realized_pnl, d("-0.7025"));
}

#[test]
fn restoring_from_the_events_gives_the_same_balances_and_episodes() {
    let mut e = engine();
    deep_books(&mut e);
    let mut history = run(&mut e, &cross(8, 0));
    e.on_book(book(
        "sim-a",
        1,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    e.on_book(book(
        "sim-b",
        1,
        &[("101", "0.5"), ("99", "2")],
        &[("101.5", "1")],
    ));
    let second = run(&mut e, &cross(9, 1));
    assert_eq!(trade(&second).status, TradeStatus::Unwound);
    history.extend(second);
    // A trade interrupted after its orders went out.
    e.on_book(book(
        "sim-a",
        2,
        &[("99.5", "0.3"), ("99", "1")],
        &[("100", "1")],
    ));
    e.on_book(book("sim-b", 2, &[("101", "2")], &[("101.5", "1")]));
    let Decision::Accepted(_, sent) = e.decide(&cross(10, 2)) else {
        panic!("not accepted");
    };
    history.extend(sent);

    let mut fresh = engine();
    let mut r = fresh.restore();
    for m in &history {
        r.apply(m).unwrap();
    }
    let closing = r.finish();
    let failed = trade(&closing);
    assert_eq!((failed.status, failed.legs.len()), (TradeStatus::Failed, 0));
    assert_eq!(
        orders(&closing)
            .iter()
            .map(|o| o.reason.as_deref())
            .collect::<Vec<_>>(),
        [Some("executor_restarted"), Some("executor_restarted")]
    );
    for venue in ["sim-a", "sim-b"] {
        assert_eq!(fresh.ledger().snapshot(venue), {
            // The interrupted trade booked nothing in the live engine either
            // (its orders were never matched).
            e.ledger().snapshot(venue)
        });
    }
    for n in [8, 9, 10] {
        assert!(fresh.traded(&Uuid::from_u128(n)), "episode {n}");
    }
    assert_eq!(
        fresh.cumulative("cross", "USD"),
        e.cumulative("cross", "USD")
    );
    assert!(matches!(fresh.decide(&cross(9, 3)), Decision::Skip(_)));
}

#[test]
fn the_same_inputs_give_the_same_events() {
    let go = || {
        let mut e = engine();
        e.live.latency.insert(
            "sim-a".into(),
            Latency::new(Duration::ZERO, Duration::from_millis(5)),
        );
        deep_books(&mut e);
        let Decision::Accepted(mut t, mut ev) = e.decide(&cross(11, 0)) else {
            panic!("not accepted");
        };
        e.on_book(book(
            "sim-a",
            6,
            &[("99.5", "0.3"), ("99", "1")],
            &[("100", "1")],
        ));
        ev.extend(e.progress(&mut t, false).events);
        ev.iter()
            .map(|m| m.encode(arb_contract::ContentType::Msgpack).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(go(), go());
}

#[test]
fn a_venue_below_its_floor_gets_a_transfer_with_its_cost_in_pnl() {
    let mut e = engine();
    e.cfg.floors.insert("BTC".into(), d("4.5"));
    e.cfg.transfers.insert(
        "BTC".into(),
        crate::ledger::TransferTerms {
            fee: d("0.01"),
            delay: Duration::from_secs(1),
        },
    );
    deep_books(&mut e);
    // The trade moves 1 BTC from sim-b to sim-a: sim-b falls to 4.
    let events = run(&mut e, &cross(12, 0));
    let sent: Vec<_> = events
        .iter()
        .filter_map(|m| match m {
            Decoded::Transfer(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    let t = sent[0];
    assert_eq!(
        (t.from_venue.as_str(), t.to_venue.as_str(), t.amount, t.fee),
        ("sim-a", "sim-b", d("0.5"), d("0.01"))
    );
    assert_eq!(t.arrives_ts, at(1000));
    // The fee at sim-a's BTC mid, (99.5 + 100) / 2, is the cost.
    assert_eq!(t.cost, Some(d("0.9975")));
    assert_eq!(e.cumulative(TRANSFER_STRATEGY, "USD"), d("-0.9975"));
    assert_eq!(e.ledger().available("sim-a", "BTC"), d("5.49"));
    assert_eq!(e.ledger().available("sim-b", "BTC"), d("4"));
    // It arrives with the first book at or after its arrival time.
    let arrived = e.on_book(book("sim-a", 1000, &[("99.5", "0.3")], &[("100", "1")]));
    assert!(
        arrived
            .iter()
            .any(|m| matches!(m, Decoded::Transfer(t) if t.status == TransferStatus::Arrived))
    );
    assert_eq!(e.ledger().available("sim-b", "BTC"), d("4.5"));
    assert!(e.ledger().reconcile().is_empty());
}

#[test]
fn an_opportunity_is_behind_until_its_books_are_in() {
    let mut e = engine();
    let opp = cross(8, 10);
    assert!(e.behind(&opp), "no book at all");
    e.on_book(book("sim-a", 10, &[("99", "1")], &[("100", "1")]));
    assert!(e.behind(&opp), "sim-b's book not in yet");
    deep_books_at(&mut e, 5);
    assert!(!e.behind(&opp), "both books in, the clock at the book time");
    assert!(e.behind(&cross(9, 11)), "a book time past the clock");
    // A leg on an unknown venue has no book to wait for: it is rejected.
    let mut unknown = cross(10, 10);
    unknown.legs[1].venue = "nowhere".into();
    assert!(!e.behind(&unknown));
    // A closing is never traded, so it never waits.
    let mut close = cross(11, 99);
    close.state = EpisodeState::Close;
    assert!(!e.behind(&close));
}
