use std::time::Duration;

use super::*;
use arb_contract::time::from_nanos;

const SEC: i64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600 * SEC;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn at_ms(ms: i64) -> Timestamp {
    from_nanos(T0 + ms * 1_000_000)
}

fn btc_usd() -> Symbol {
    "BTC/USD".parse().unwrap()
}

const RULES: SymbolRules = SymbolRules {
    lot: Decimal::from_parts(1, 0, 0, false, 4),     // 0.0001
    tick: Decimal::from_parts(1, 0, 0, false, 2),    // 0.01
    min_qty: Decimal::from_parts(1, 0, 0, false, 3), // 0.001
    min_notional: Decimal::from_parts(10, 0, 0, false, 0), // 10
};

/// Limits every test starts from, each one the boundary the
/// `passes_at_every_boundary` case sits on.
fn limits() -> RiskLimits {
    RiskLimits {
        max_order_notional: PerCurrency {
            by_currency: [("USD".to_owned(), d("10000"))].into(),
            default: Some(d("1")),
        },
        max_trade_notional: PerCurrency {
            by_currency: [("USD".to_owned(), d("20000"))].into(),
            default: None,
        },
        max_open_trades: Some(2),
        order_rate: Some(OrderRate {
            max_orders: 3,
            interval: Duration::from_secs(1),
        }),
        min_net_edge_bps: d("5"),
        max_book_age: Some(Duration::from_millis(500)),
    }
}

/// One open trade and two orders in the last second: one below each limit.
fn state() -> RiskState {
    let mut recent_orders = OrderWindow::default();
    for ms in [9_000, 9_500, 9_999] {
        recent_orders.record(at_ms(ms), Duration::from_secs(1));
    }
    RiskState {
        trading: TradingState::Active,
        open_trades: 1,
        recent_orders,
    }
}

/// The case every row changes one thing of.
struct Case {
    trading: TradingState,
    open_trades: usize,
    recent: Vec<i64>,
    now_ms: i64,
    book_ms: i64,
    edge: &'static str,
    trade_currency: &'static str,
    trade_notional: &'static str,
    side: Side,
    qty: &'static str,
    price: &'static str,
    fee_rate: &'static str,
    available: &'static str,
    unwind: bool,
}

/// At every limit's boundary: passes.
fn base() -> Case {
    Case {
        trading: TradingState::Active,
        open_trades: 1,             // max 2
        recent: vec![9_001, 9_500], // 2 in (9 000, 10 000]; max 3 per second
        now_ms: 10_000,
        book_ms: 9_500, // exactly 500 ms old
        edge: "5",      // exactly the threshold
        trade_currency: "USD",
        trade_notional: "20000", // exactly the limit
        side: Side::Buy,
        qty: "0.1",
        price: "100000", // notional 10000, exactly the limit
        fee_rate: "0.001",
        available: "10010", // exactly notional + fee
        unwind: false,
    }
}

impl Case {
    /// An order of `qty` at `price`.
    fn order(&mut self, qty: &'static str, price: &'static str) {
        self.qty = qty;
        self.price = price;
    }

    /// A sell of the order's quantity, holding `available` of the base.
    fn sell_holding(&mut self, available: &'static str) {
        self.side = Side::Sell;
        self.available = available;
    }
}

fn run(c: &Case) -> Result<(), &'static str> {
    let symbol = btc_usd();
    let mut state = state();
    state.trading = c.trading;
    state.open_trades = c.open_trades;
    state.recent_orders = OrderWindow::default();
    for &ms in &c.recent {
        state
            .recent_orders
            .record(at_ms(ms), Duration::from_secs(1));
    }
    let purpose = if c.unwind {
        Purpose::Unwind
    } else {
        Purpose::Open(TradeCheck {
            currency: c.trade_currency,
            notional: d(c.trade_notional),
            net_edge_bps: d(c.edge),
            book_ts: at_ms(c.book_ms),
        })
    };
    let order = OrderIntent {
        venue: "sim-a",
        symbol: &symbol,
        side: c.side,
        qty: d(c.qty),
        price: d(c.price),
        fee_rate: d(c.fee_rate),
        purpose,
    };
    let inputs = Inputs {
        now: at_ms(c.now_ms),
        available: d(c.available),
        rules: &RULES,
    };
    check(&order, &state, &limits(), &inputs).map_err(|r| {
        assert!(!r.detail.is_empty());
        r.reason.as_str()
    })
}

#[test]
fn passes_at_every_boundary() {
    assert_eq!(run(&base()), Ok(()));
}

#[test]
fn each_rule_rejects_with_its_reason() {
    type Edit = fn(&mut Case);
    // The reason code the edited case is refused with, or "pass".
    let rows: [(&str, Edit, &str); 28] = [
        ("halted", |c| c.trading = TradingState::Halted, "halted"),
        (
            "reducing",
            |c| c.trading = TradingState::Reducing,
            "reducing_only",
        ),
        (
            "open trades at max",
            |c| c.open_trades = 2,
            "max_open_trades",
        ),
        ("no trades open", |c| c.open_trades = 0, "pass"),
        ("book 501 ms old", |c| c.book_ms = 9_499, "stale_book"),
        ("book from the future", |c| c.book_ms = 10_100, "pass"),
        (
            "edge just below",
            |c| c.edge = "4.99",
            "edge_below_threshold",
        ),
        ("negative edge", |c| c.edge = "-1", "edge_below_threshold"),
        (
            "trade over its limit",
            |c| c.trade_notional = "20000.01",
            "max_trade_notional",
        ),
        // No default for trade notional: an unnamed currency is unlimited.
        (
            "trade in an unlimited currency",
            |c| {
                c.trade_currency = "EUR";
                c.trade_notional = "1000000";
            },
            "pass",
        ),
        (
            "third order in the second",
            |c| c.recent = vec![9_001, 9_500, 9_999],
            "order_rate",
        ),
        // The window is (now - 1 s, now]: an order exactly 1 s ago is out.
        (
            "oldest order falls out",
            |c| c.recent = vec![9_000, 9_500, 9_999],
            "pass",
        ),
        (
            "order over its limit",
            |c| {
                c.price = "100000.01";
                c.available = "20000";
            },
            "max_order_notional",
        ),
        ("off lot", |c| c.qty = "0.09995", "off_lot"),
        ("off tick", |c| c.price = "99999.995", "off_tick"),
        ("below min qty", |c| c.qty = "0.0009", "below_min_qty"),
        ("min qty exactly", |c| c.order("0.001", "10000"), "pass"),
        ("zero qty", |c| c.qty = "0", "below_min_qty"),
        (
            "below min notional",
            |c| c.order("0.001", "9999.99"),
            "below_min_notional",
        ),
        ("min notional exactly", |c| c.order("0.01", "1000"), "pass"),
        (
            "balance short by a cent",
            |c| c.available = "10009.99",
            "insufficient_balance",
        ),
        (
            "balance short of the fee",
            |c| c.available = "10000",
            "insufficient_balance",
        ),
        ("sell spends base", |c| c.sell_holding("0.1"), "pass"),
        (
            "sell short of base",
            |c| c.sell_holding("0.0999"),
            "insufficient_balance",
        ),
        // First failing rule wins: halted before everything else.
        (
            "halted and everything else",
            |c| {
                c.trading = TradingState::Halted;
                c.open_trades = 9;
                c.edge = "0";
                c.available = "0";
            },
            "halted",
        ),
        (
            "stale and no edge",
            |c| {
                c.book_ms = 0;
                c.edge = "0";
            },
            "stale_book",
        ),
        (
            "order rate before order notional",
            |c| {
                c.recent = vec![9_100, 9_200, 9_300];
                c.price = "200000";
            },
            "order_rate",
        ),
        (
            "rules before balance",
            |c| {
                c.qty = "0.0009";
                c.available = "0";
            },
            "below_min_qty",
        ),
    ];
    for (name, edit, want) in rows {
        let mut c = base();
        edit(&mut c);
        assert_eq!(run(&c).err().unwrap_or("pass"), want, "{name}");
    }
}

#[test]
fn reducing_lets_an_unwind_through_and_refuses_a_new_order() {
    let mut c = base();
    c.trading = TradingState::Reducing;
    assert_eq!(run(&c), Err("reducing_only"));
    c.unwind = true;
    assert_eq!(run(&c), Ok(()));
    // An unwind meets no trade limit (stale book, open trades, rate, ...)...
    c.open_trades = 9;
    c.book_ms = 0;
    c.edge = "-100";
    c.recent = vec![9_900, 9_901, 9_902, 9_903];
    c.price = "200000";
    c.available = "100000";
    assert_eq!(run(&c), Ok(()));
    // ...but still the venue's rules and the balance.
    c.available = "1";
    assert_eq!(run(&c), Err("insufficient_balance"));
    c.qty = "0.0009";
    assert_eq!(run(&c), Err("below_min_qty"));
}

#[test]
fn halted_refuses_both() {
    for unwind in [false, true] {
        let mut c = base();
        c.trading = TradingState::Halted;
        c.unwind = unwind;
        assert_eq!(run(&c), Err("halted"), "unwind {unwind}");
    }
}

#[test]
fn no_limits_pass_anything_with_a_non_negative_edge() {
    let symbol = btc_usd();
    let order = OrderIntent {
        venue: "sim-b",
        symbol: &symbol,
        side: Side::Buy,
        qty: d("1000"),
        price: d("100000"),
        fee_rate: Decimal::ZERO,
        purpose: Purpose::Open(TradeCheck {
            currency: "USD",
            notional: d("100000000"),
            net_edge_bps: Decimal::ZERO,
            book_ts: at_ms(0),
        }),
    };
    let mut state = state();
    state.open_trades = 1_000;
    let inputs = Inputs {
        now: at_ms(3_600_000),
        available: d("100000000"),
        rules: &RULES,
    };
    assert_eq!(
        check(&order, &state, &RiskLimits::default(), &inputs),
        Ok(())
    );
}

#[test]
fn order_notional_limit_falls_back_to_the_default() {
    let symbol: Symbol = "ETH/BTC".parse().unwrap();
    let order = OrderIntent {
        venue: "sim-a",
        symbol: &symbol,
        side: Side::Sell,
        qty: d("10"),
        price: d("0.11"),
        fee_rate: Decimal::ZERO,
        purpose: Purpose::Open(TradeCheck {
            currency: "USD",
            notional: d("100"),
            net_edge_bps: d("10"),
            book_ts: at_ms(10_000),
        }),
    };
    let rules = SymbolRules::sim_default(&symbol);
    let inputs = Inputs {
        now: at_ms(10_000),
        available: d("10"),
        rules: &rules,
    };
    // 10 × 0.11 = 1.1 BTC against the default limit of 1.
    let got = check(&order, &state(), &limits(), &inputs).map_err(|r| r.reason);
    assert_eq!(got, Err(Reason::MaxOrderNotional));
    let unwind = OrderIntent {
        purpose: Purpose::Unwind,
        ..order
    };
    assert_eq!(check(&unwind, &state(), &limits(), &inputs), Ok(()));
}

#[test]
fn order_window_slides_over_event_time_and_forgets() {
    let second = Duration::from_secs(1);
    let mut w = OrderWindow::default();
    for ms in [0, 200, 400, 1_000, 1_300] {
        w.record(at_ms(ms), second);
    }
    // Recording at 1 000 forgot 0; at 1 300 forgot 200.
    assert_eq!(w.len(), 3);
    for (now, want) in [
        (1_300, 3),
        (1_399, 3),
        (1_400, 2),
        (2_000, 1),
        (2_300, 0),
        (500, 1),
    ] {
        assert_eq!(w.count_within(at_ms(now), second), want, "now {now}");
    }
    assert!(OrderWindow::default().is_empty());
}

#[test]
fn trading_state_parses_its_own_words_only() {
    for state in TradingState::ALL {
        assert_eq!(state.to_string().parse::<TradingState>(), Ok(state));
    }
    assert_eq!(" halted\n".parse(), Ok(TradingState::Halted));
    for bad in ["", "HALTED", "halt", "stop", "active reducing", "paused"] {
        assert_eq!(
            bad.parse::<TradingState>(),
            Err(TradingStateError {
                text: bad.to_owned()
            }),
            "{bad:?}"
        );
    }
    assert_eq!(TradingState::default(), TradingState::Active);
}

#[test]
fn reason_codes_are_distinct_and_each_rule_has_its_own() {
    let codes: std::collections::BTreeSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(codes.len(), Reason::ALL.len());
    let zero = Decimal::ZERO;
    for (v, code) in [
        (
            RuleViolation::OffLot {
                qty: zero,
                lot: zero,
            },
            "off_lot",
        ),
        (
            RuleViolation::OffTick {
                price: zero,
                tick: zero,
            },
            "off_tick",
        ),
        (
            RuleViolation::BelowMinQty {
                qty: zero,
                min_qty: zero,
            },
            "below_min_qty",
        ),
        (
            RuleViolation::BelowMinNotional {
                notional: zero,
                min_notional: zero,
            },
            "below_min_notional",
        ),
    ] {
        assert_eq!(Reason::from(&v).as_str(), code);
    }
}
