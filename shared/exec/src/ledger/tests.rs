use std::str::FromStr;
use std::time::Duration;

use arb_contract::SubjectError;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn btc_usd() -> Symbol {
    Symbol::new("BTC", "USD").unwrap()
}

fn ledger(balances: &[&str]) -> Ledger {
    Ledger::new(balances.iter().map(|b| b.parse().unwrap())).unwrap()
}

fn fill(venue: &str, side: Side, qty: &str, notional: &str, fee: &str) -> Fill {
    Fill {
        venue: venue.to_owned(),
        symbol: btc_usd(),
        side,
        qty: d(qty),
        notional: d(notional),
        fee: d(fee),
    }
}

fn btc(from: &str, to: &str, amount: &str) -> TransferOrder {
    TransferOrder {
        asset: "BTC".to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        amount: d(amount),
    }
}

#[test]
fn a_buy_and_a_sell_with_fees_give_exact_balances() {
    let mut l = ledger(&["sim-a:USD=100000,BTC=2"]);
    // 0.5 BTC for 30000.25 USD at a 0.26% taker fee: 78.00065 USD.
    l.apply_fill(&fill("sim-a", Side::Buy, "0.5", "30000.25", "78.00065"))
        .unwrap();
    assert_eq!(l.available("sim-a", "BTC"), d("2.5"));
    // 100000 − 30000.25 − 78.00065
    assert_eq!(l.available("sim-a", "USD"), d("69921.74935"));
    // 1.25 BTC for 75000.125 USD at 0.1%: 75.000125 USD.
    l.apply_fill(&fill("sim-a", Side::Sell, "1.25", "75000.125", "75.000125"))
        .unwrap();
    assert_eq!(l.available("sim-a", "BTC"), d("1.25"));
    // 69921.74935 + 75000.125 − 75.000125
    assert_eq!(l.available("sim-a", "USD"), d("144846.874225"));
    assert_eq!(l.journal().len(), 6);
    let accounts = l.accounts().unwrap();
    let usd = accounts.iter().find(|a| a.asset == "USD").unwrap();
    assert_eq!(
        (usd.starting, usd.fills, usd.fees, usd.balance),
        (
            d("100000"),
            d("44999.875"),
            d("153.000775"),
            d("144846.874225")
        )
    );
    assert!(l.reconcile().is_empty(), "{:?}", l.reconcile());
    assert_eq!(
        l.snapshot("sim-a").unwrap(),
        vec![
            Balance {
                asset: "BTC".into(),
                free: d("1.25"),
                locked: Decimal::ZERO
            },
            Balance {
                asset: "USD".into(),
                free: d("144846.874225"),
                locked: Decimal::ZERO
            },
        ]
    );
    assert_eq!(l.snapshot("sim-b"), None);
}

#[test]
fn a_fill_that_would_overdraw_is_refused_and_changes_nothing() {
    let mut l = ledger(&["sim-a:USD=1000,BTC=0.01"]);
    let before = l.clone();
    let refused = [
        (
            fill("sim-a", Side::Buy, "0.02", "999", "1.0000001"),
            LedgerError::Insufficient {
                venue: "sim-a".into(),
                asset: "USD".into(),
                needed: d("1000.0000001"),
                available: d("1000"),
            },
        ),
        (
            fill("sim-a", Side::Sell, "0.010000001", "600", "1"),
            LedgerError::Insufficient {
                venue: "sim-a".into(),
                asset: "BTC".into(),
                needed: d("0.010000001"),
                available: d("0.01"),
            },
        ),
        (
            fill("sim-b", Side::Buy, "0.01", "1", "0"),
            LedgerError::UnknownVenue("sim-b".into()),
        ),
        (
            fill("sim-a", Side::Buy, "0", "1", "0"),
            LedgerError::BadAmount {
                what: "fill quantity",
                value: d("0"),
                rule: "above zero",
            },
        ),
        (
            fill("sim-a", Side::Buy, "0.01", "1", "-0.1"),
            LedgerError::BadAmount {
                what: "fill fee",
                value: d("-0.1"),
                rule: "zero or more",
            },
        ),
    ];
    for (f, expected) in refused {
        assert_eq!(l.apply_fill(&f), Err(expected));
        assert_eq!(l, before);
    }
    // Exactly affordable is allowed, down to zero.
    l.apply_fill(&fill("sim-a", Side::Buy, "0.02", "999", "1"))
        .unwrap();
    assert_eq!(l.available("sim-a", "USD"), Decimal::ZERO);
    assert!(l.reconcile().is_empty());
}

#[test]
fn a_result_decimal_would_round_is_refused() {
    let mut l = ledger(&["sim-a:USD=70000000000000000000000000000,BTC=1"]);
    let before = l.clone();
    // 7e28 + 0.5 needs 30 digits: a Decimal would round it.
    let f = fill("sim-a", Side::Sell, "0.5", "0.5", "0");
    assert_eq!(
        l.apply_fill(&f),
        Err(LedgerError::Inexact {
            venue: "sim-a".into(),
            asset: "USD".into()
        })
    );
    assert_eq!(l, before);
    assert_eq!(exact_add(Decimal::MAX, Decimal::ONE), None);
    assert_eq!(exact_add(d("1.10"), d("2.2")), Some(d("3.30")));
    // Decimal returns the other operand for a zero one, scale and all.
    assert_eq!(exact_add(d("0.00000000"), d("319.42")), Some(d("319.42")));
    assert_eq!(exact_add(d("319.42"), d("-0.0000")), Some(d("319.42")));
}

#[test]
fn a_transfer_pays_its_fee_at_once_and_arrives_after_its_delay() {
    let mut l = ledger(&["sim-a:USD=10,BTC=2", "sim-b:USD=10"]);
    let terms = TransferTerms {
        fee: d("0.0005"),
        delay: Duration::from_secs(30 * 60),
    };
    let decided = t("2026-01-01T00:00:00Z");
    let tr = l
        .start_transfer(&btc("sim-a", "sim-b", "0.75"), &terms, decided)
        .unwrap();
    assert_eq!(tr.arrives_at, t("2026-01-01T00:30:00Z"));
    assert_eq!(tr.id, TransferId(1));
    // 2 − 0.75 − 0.0005
    assert_eq!(l.available("sim-a", "BTC"), d("1.2495"));
    assert_eq!(l.available("sim-b", "BTC"), Decimal::ZERO);
    assert_eq!(l.in_transit(), std::slice::from_ref(&tr));
    assert!(l.reconcile().is_empty());

    assert_eq!(
        l.advance_to(t("2026-01-01T00:29:59.999999999Z")),
        Ok(vec![])
    );
    assert_eq!(l.available("sim-b", "BTC"), Decimal::ZERO);
    assert_eq!(l.in_transit().len(), 1);

    assert_eq!(
        l.advance_to(t("2026-01-01T00:30:00Z")),
        Ok(vec![tr.clone()])
    );
    assert_eq!(l.available("sim-a", "BTC"), d("1.2495"));
    assert_eq!(l.available("sim-b", "BTC"), d("0.75"));
    assert!(l.in_transit().is_empty());
    // The clock never goes back.
    l.advance_to(decided).unwrap();
    assert_eq!(l.clock(), Some(t("2026-01-01T00:30:00Z")));

    let fees: Vec<_> = l
        .journal()
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::TransferFee(_)))
        .map(|e| (e.venue.as_str(), e.amount))
        .collect();
    assert_eq!(fees, [("sim-a", d("-0.0005"))]);
    let accounts = l.accounts().unwrap();
    let a = accounts
        .iter()
        .find(|a| a.venue == "sim-a" && a.asset == "BTC")
        .unwrap();
    assert_eq!((a.transfers, a.transfer_fees), (d("-0.75"), d("0.0005")));
    assert!(l.reconcile().is_empty(), "{:?}", l.reconcile());

    // The sender must pay the amount and the fee: 1.2495 + 0.0005 > 1.2495.
    let before = l.clone();
    let refused = l.start_transfer(&btc("sim-a", "sim-b", "1.2495"), &terms, decided);
    assert_eq!(
        refused,
        Err(LedgerError::Insufficient {
            venue: "sim-a".into(),
            asset: "BTC".into(),
            needed: d("1.2500"),
            available: d("1.2495"),
        })
    );
    let same = l.start_transfer(&btc("sim-a", "sim-a", "1"), &terms, decided);
    assert!(matches!(same, Err(LedgerError::SameVenue { .. })));
    let unknown = l.start_transfer(&btc("sim-a", "sim-x", "1"), &terms, decided);
    assert_eq!(unknown, Err(LedgerError::UnknownVenue("sim-x".into())));
    assert_eq!(l, before);
}

#[test]
fn reconcile_finds_a_balance_or_a_transfer_gone_wrong() {
    let mut l = ledger(&["sim-a:USD=10,BTC=2", "sim-b:USD=10"]);
    let terms = TransferTerms {
        fee: Decimal::ZERO,
        delay: Duration::from_secs(1),
    };
    let now = t("2026-01-01T00:00:00Z");
    l.start_transfer(&btc("sim-a", "sim-b", "1"), &terms, now)
        .unwrap();
    let good = l.clone();

    l.balances
        .get_mut("sim-b")
        .unwrap()
        .insert("USD".into(), d("10.000000001"));
    assert_eq!(
        l.reconcile().differences,
        [Difference::Balance {
            venue: "sim-b".into(),
            asset: "USD".into(),
            journal: d("10"),
            held: d("10.000000001"),
        }]
    );

    let mut l = good.clone();
    l.pending.clear();
    let lost = Difference::Transfer {
        id: TransferId(1),
        problem: TransferProblem::Lost,
    };
    assert_eq!(l.reconcile().differences, [lost]);

    let mut l = good.clone();
    l.pending[0].amount = d("0.9");
    assert!(matches!(
        l.reconcile().differences[..],
        [Difference::Transfer {
            problem: TransferProblem::AmountDiffers,
            ..
        }]
    ));

    let mut l = good;
    l.balances
        .get_mut("sim-a")
        .unwrap()
        .insert("ETH".into(), d("-1"));
    l.starting
        .get_mut("sim-a")
        .unwrap()
        .insert("ETH".into(), d("-1"));
    assert!(matches!(
        l.reconcile().differences[..],
        [Difference::Negative { .. }]
    ));
}

#[test]
fn proposals_lift_a_venue_to_its_floor_from_the_largest_holder() {
    let mut l = ledger(&["sim-a:BTC=2", "sim-b:BTC=0.1", "sim-c:BTC=1", "sim-d:USD=1"]);
    let floors = BTreeMap::from([("BTC".to_owned(), d("0.5"))]);
    let terms = BTreeMap::from([(
        "BTC".to_owned(),
        TransferTerms {
            fee: d("0.0005"),
            delay: Duration::from_secs(60),
        },
    )]);
    let proposals = l.propose_transfers(&floors, &terms);
    // sim-a sends 0.4 to sim-b (left 1.5995), then still holds the
    // most and sends 0.5 to sim-d, which has no BTC at all.
    assert_eq!(
        proposals,
        [btc("sim-a", "sim-b", "0.4"), btc("sim-a", "sim-d", "0.5")]
    );
    // No terms for an asset: never moved.
    assert!(l.propose_transfers(&floors, &BTreeMap::new()).is_empty());

    let now = t("2026-01-01T00:00:00Z");
    for p in &proposals {
        l.start_transfer(p, &terms["BTC"], now).unwrap();
    }
    // What is in transit counts: nothing more to propose.
    assert!(l.propose_transfers(&floors, &terms).is_empty());

    // A sender that would fall below the floor sends nothing.
    let l = ledger(&["sim-a:BTC=0.6", "sim-b:BTC=0.4"]);
    assert!(l.propose_transfers(&floors, &terms).is_empty());
    // On a tie, the first venue by name sends.
    let l = ledger(&["sim-a:BTC=1.5", "sim-b:BTC=0", "sim-c:BTC=1.5"]);
    assert_eq!(
        l.propose_transfers(&floors, &terms),
        [btc("sim-a", "sim-b", "0.5")]
    );
}

#[test]
fn balance_text_parses() {
    let s: StartingBalances = " sim-a : usd=100000, BTC=2.50 ,eth=-0".parse().unwrap();
    assert_eq!(s.venue, "sim-a");
    assert_eq!(
        s.assets,
        BTreeMap::from([
            ("BTC".to_owned(), d("2.50")),
            ("ETH".to_owned(), Decimal::ZERO),
            ("USD".to_owned(), d("100000")),
        ])
    );
    assert!(!s.assets["ETH"].is_sign_negative());
}

#[test]
fn bad_balance_text_is_refused_by_kind() {
    use BalanceParseError as E;
    let form = |t: &str| E::UnknownForm { text: t.into() };
    let cases: [(&str, E); 10] = [
        ("sim-a", form("sim-a")),
        ("sim-a:", form("sim-a:")),
        ("sim-a:USD", form("sim-a:USD")),
        ("sim-a:USD=1,", form("sim-a:USD=1,")),
        (
            "sim.a:USD=1",
            E::BadVenue {
                text: "sim.a:USD=1".into(),
                source: SubjectError::BadToken {
                    what: "venue",
                    token: "sim.a".into(),
                },
            },
        ),
        (
            ":USD=1",
            E::BadVenue {
                text: ":USD=1".into(),
                source: SubjectError::EmptyToken { what: "venue" },
            },
        ),
        (
            "sim-a:US D=1",
            E::BadAsset {
                asset: "US D".into(),
            },
        ),
        (
            "sim-a:USD=1O0",
            E::BadNumber {
                asset: "USD".into(),
                value: "1O0".into(),
            },
        ),
        (
            "sim-a:USD=-0.01",
            E::Negative {
                asset: "USD".into(),
                amount: d("-0.01"),
            },
        ),
        (
            "sim-a:USD=1,BTC=1,usd=2",
            E::DuplicateAsset {
                venue: "sim-a".into(),
                asset: "USD".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<StartingBalances>(), Err(expected), "{text}");
    }
    let twice = Ledger::new([
        "sim-a:USD=1".parse().unwrap(),
        "sim-a:BTC=1".parse().unwrap(),
    ]);
    assert_eq!(twice, Err(LedgerError::DuplicateVenue("sim-a".into())));
}

#[test]
fn only_an_unaffordable_change_is_classed_unaffordable() {
    let cases = [
        (
            LedgerError::Insufficient {
                venue: "v".into(),
                asset: "A".into(),
                needed: Decimal::ONE,
                available: Decimal::ZERO,
            },
            true,
        ),
        (LedgerError::DuplicateVenue("v".into()), false),
        (LedgerError::UnknownVenue("v".into()), false),
        (
            LedgerError::BadAmount {
                what: "w",
                value: Decimal::ZERO,
                rule: "r",
            },
            false,
        ),
        (
            LedgerError::SameVenue {
                venue: "v".into(),
                asset: "A".into(),
            },
            false,
        ),
        (
            LedgerError::Inexact {
                venue: "v".into(),
                asset: "A".into(),
            },
            false,
        ),
    ];
    for (error, unaffordable) in cases {
        assert_eq!(error.is_unaffordable(), unaffordable, "{error}");
    }
}
