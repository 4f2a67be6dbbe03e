use std::time::Duration;

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn key(s: &str) -> Key {
    s.parse().unwrap()
}

fn fee(venue: &str) -> Key {
    Key::Fee {
        venue: venue.to_owned(),
    }
}

fn latency(venue: &str) -> Key {
    Key::Latency {
        venue: venue.to_owned(),
    }
}

/// The brief's example: every field set.
const FULL_LIMITS: &str = r#"{"max_order_notional": {"USD": "50000", "*": "10"},
    "max_trade_notional": {"USD": "100000"}, "max_open_trades": 4,
    "order_rate": {"max_orders": 20, "interval": "1s"},
    "min_net_edge_bps": "1.5", "max_book_age": "2s"}"#;

fn full_limits() -> RiskLimits {
    RiskLimits {
        max_order_notional: PerCurrency {
            by_currency: [("USD".to_owned(), d("50000"))].into(),
            default: Some(d("10")),
        },
        max_trade_notional: PerCurrency {
            by_currency: [("USD".to_owned(), d("100000"))].into(),
            default: None,
        },
        max_open_trades: Some(4),
        order_rate: Some(OrderRate {
            max_orders: 20,
            interval: Duration::from_secs(1),
        }),
        min_net_edge_bps: d("1.5"),
        max_book_age: Some(Duration::from_secs(2)),
    }
}

#[test]
fn keys_read_and_write_their_text() {
    let cases = [
        ("trading_state", Key::TradingState),
        ("limits", Key::Limits),
        ("fees.kraken", fee("kraken")),
        ("fees.sim-a", fee("sim-a")),
        ("latency.binance", latency("binance")),
        ("latency.sim_b", latency("sim_b")),
    ];
    for (text, want) in cases {
        let got: Key = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got, want, "{text}");
        assert_eq!(got.to_string(), text, "written back");
    }
}

#[test]
fn bad_keys_are_refused_with_the_reason() {
    enum Want {
        Unknown,
        BadVenue,
        NotKvKey,
    }
    let cases = [
        ("", Want::Unknown),
        ("Trading_State", Want::Unknown),
        ("trading_state ", Want::Unknown),
        ("fees", Want::Unknown),
        ("fee.kraken", Want::Unknown),
        ("limits.kraken", Want::Unknown),
        ("max_open_trades", Want::Unknown),
        ("fees.", Want::BadVenue),
        ("fees.a.b", Want::BadVenue),
        ("fees.kra ken", Want::BadVenue),
        ("latency.*", Want::BadVenue),
        ("latency.>", Want::BadVenue),
        ("fees.krakén", Want::NotKvKey),
        ("fees.a:b", Want::NotKvKey),
    ];
    for (text, want) in cases {
        let e = text.parse::<Key>().unwrap_err();
        let ok = match want {
            Want::Unknown => matches!(&e, KeyError::Unknown { key } if key == text),
            Want::BadVenue => matches!(&e, KeyError::BadVenue { key, .. } if key == text),
            Want::NotKvKey => matches!(&e, KeyError::NotKvKey { key, .. } if key == text),
        };
        assert!(ok, "{text:?}: {e:?}");
        assert!(e.to_string().contains(&format!("{text:?}")), "{e}");
    }
}

#[test]
fn good_values_parse() {
    let cases: Vec<(Key, &str, Value)> = vec![
        (
            Key::TradingState,
            "active",
            Value::TradingState(TradingState::Active),
        ),
        (
            Key::TradingState,
            "reducing",
            Value::TradingState(TradingState::Reducing),
        ),
        (
            Key::TradingState,
            " halted\n",
            Value::TradingState(TradingState::Halted),
        ),
        (Key::Limits, FULL_LIMITS, Value::Limits(full_limits())),
        (Key::Limits, "{}", Value::Limits(RiskLimits::default())),
        (Key::Limits, " { } \n", Value::Limits(RiskLimits::default())),
        // Numbers are read by their text: 28 significant digits stay exact,
        // which an f64 would not keep; lower-case codes are normalized.
        (
            Key::Limits,
            r#"{"max_order_notional": {"usd": 50000.12345678901234567890123, "*": 0},
                "min_net_edge_bps": 1.5, "max_book_age": "250ms",
                "order_rate": {"max_orders": 0, "interval": "1m 30s"}}"#,
            Value::Limits(RiskLimits {
                max_order_notional: PerCurrency {
                    by_currency: [("USD".to_owned(), d("50000.12345678901234567890123"))].into(),
                    default: Some(Decimal::ZERO),
                },
                min_net_edge_bps: d("1.5"),
                max_book_age: Some(ms(250)),
                order_rate: Some(OrderRate {
                    max_orders: 0,
                    interval: Duration::from_secs(90),
                }),
                ..RiskLimits::default()
            }),
        ),
        (
            Key::Limits,
            r#"{"max_trade_notional": {"BTC": "1e-1"}, "max_open_trades": 0}"#,
            Value::Limits(RiskLimits {
                max_trade_notional: PerCurrency {
                    by_currency: [("BTC".to_owned(), d("0.1"))].into(),
                    default: None,
                },
                max_open_trades: Some(0),
                ..RiskLimits::default()
            }),
        ),
        (fee("kraken"), "0.0026", Value::Fee(d("0.0026"))),
        (fee("kraken"), " 0.001\n", Value::Fee(d("0.001"))),
        (fee("sim-a"), "0", Value::Fee(Decimal::ZERO)),
        (fee("sim-a"), "2.6e-3", Value::Fee(d("0.0026"))),
        (fee("sim-a"), "0.9999", Value::Fee(d("0.9999"))),
        (
            latency("kraken"),
            r#"{"fixed": "20ms", "jitter": "5ms"}"#,
            Value::Latency(Latency::new(ms(20), ms(5))),
        ),
        (
            latency("kraken"),
            r#"{"fixed": "1s"}"#,
            Value::Latency(Latency::new(Duration::from_secs(1), Duration::ZERO)),
        ),
        (
            latency("sim-a"),
            r#"{"fixed": "0s", "jitter": "700us"}"#,
            Value::Latency(Latency::new(Duration::ZERO, Duration::from_micros(700))),
        ),
    ];
    for (key, text, want) in cases {
        let got = parse(&key, text.as_bytes()).unwrap_or_else(|e| panic!("{key} {text}: {e}"));
        assert_eq!(got, want, "{key} {text}");
    }
}

/// What kind of refusal a case expects, and a piece of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NotUtf8,
    State,
    Json,
    Decimal,
    Range,
    Currency,
    Duplicate,
}

fn kind_of(e: &ValueErrorKind) -> Kind {
    match e {
        ValueErrorKind::NotUtf8 => Kind::NotUtf8,
        ValueErrorKind::TradingState(_) => Kind::State,
        ValueErrorKind::Json(_) => Kind::Json,
        ValueErrorKind::BadDecimal { .. } => Kind::Decimal,
        ValueErrorKind::OutOfRange { .. } => Kind::Range,
        ValueErrorKind::BadCurrency { .. } => Kind::Currency,
        ValueErrorKind::DuplicateCurrency { .. } => Kind::Duplicate,
    }
}

#[test]
fn bad_values_are_refused_naming_the_key_and_why() {
    let not_utf8: &[u8] = &[b'a', 0xff, 0xfe];
    let cases: Vec<(Key, &[u8], Kind, &str)> = vec![
        (Key::TradingState, b"HALT", Kind::State, "\"HALT\""),
        (Key::TradingState, b"stop", Kind::State, "not one of"),
        (Key::TradingState, b"", Kind::State, "not one of"),
        (Key::TradingState, not_utf8, Kind::NotUtf8, "UTF-8"),
        (
            fee("kraken"),
            b"-0.001",
            Kind::Range,
            "-0.001, outside [0, 1)",
        ),
        (fee("kraken"), b"1", Kind::Range, "outside [0, 1)"),
        (fee("kraken"), b"1.5", Kind::Range, "outside [0, 1)"),
        (fee("kraken"), b"26bp", Kind::Decimal, "\"26bp\""),
        (fee("kraken"), b"", Kind::Decimal, "not a decimal"),
        (fee("kraken"), not_utf8, Kind::NotUtf8, "UTF-8"),
        (Key::Limits, b"max 4", Kind::Json, "expected value"),
        (Key::Limits, b"[]", Kind::Json, "expected a JSON object"),
        (
            Key::Limits,
            br#"{"order_rate": [3, "1s"]}"#,
            Kind::Json,
            "expected a JSON object",
        ),
        (Key::Limits, not_utf8, Kind::NotUtf8, "UTF-8"),
        (
            Key::Limits,
            br#"{"max_orders": 3}"#,
            Kind::Json,
            "unknown field `max_orders`",
        ),
        (
            Key::Limits,
            br#"{"order_rate": {"max_orders": 3, "interval": "1s", "burst": 2}}"#,
            Kind::Json,
            "unknown field `burst`",
        ),
        (
            Key::Limits,
            br#"{"max_book_age": "2 parsecs"}"#,
            Kind::Json,
            "bad duration \"2 parsecs\"",
        ),
        (
            Key::Limits,
            br#"{"max_book_age": 2}"#,
            Kind::Json,
            "expected a string",
        ),
        (
            Key::Limits,
            br#"{"order_rate": {"max_orders": 3}}"#,
            Kind::Json,
            "missing field `interval`",
        ),
        (
            Key::Limits,
            br#"{"order_rate": {"max_orders": 3, "interval": "0s"}}"#,
            Kind::Range,
            "order_rate.interval",
        ),
        (
            Key::Limits,
            br#"{"max_open_trades": -1}"#,
            Kind::Json,
            "invalid value",
        ),
        (
            Key::Limits,
            br#"{"max_order_notional": {"USD": "-1"}}"#,
            Kind::Range,
            "max_order_notional.USD is -1",
        ),
        (
            Key::Limits,
            br#"{"max_trade_notional": {"*": -0.5}}"#,
            Kind::Range,
            "max_trade_notional.* is -0.5",
        ),
        (
            Key::Limits,
            br#"{"min_net_edge_bps": "-1.5"}"#,
            Kind::Range,
            "min_net_edge_bps",
        ),
        (
            Key::Limits,
            br#"{"min_net_edge_bps": "lots"}"#,
            Kind::Json,
            "\"lots\" is not a decimal",
        ),
        (
            Key::Limits,
            br#"{"min_net_edge_bps": true}"#,
            Kind::Json,
            "expected a decimal",
        ),
        (
            Key::Limits,
            br#"{"max_order_notional": {"US D": "1"}}"#,
            Kind::Currency,
            "\"US D\"",
        ),
        (
            Key::Limits,
            br#"{"max_order_notional": {"usd": "1", "USD": "2"}}"#,
            Kind::Duplicate,
            "USD given twice",
        ),
        (
            latency("kraken"),
            br#"{"jitter": "5ms"}"#,
            Kind::Json,
            "missing field `fixed`",
        ),
        (
            latency("kraken"),
            br#"{"fixed": "20ms", "spread": "1ms"}"#,
            Kind::Json,
            "unknown field `spread`",
        ),
        (
            latency("kraken"),
            br#"{"fixed": "fast"}"#,
            Kind::Json,
            "bad duration \"fast\"",
        ),
        (latency("kraken"), b"20ms", Kind::Json, "expected"),
        (
            latency("kraken"),
            br#"["20ms", "5ms"]"#,
            Kind::Json,
            "expected a JSON object",
        ),
        (latency("kraken"), not_utf8, Kind::NotUtf8, "UTF-8"),
    ];
    for (key, text, kind, says) in cases {
        let shown = String::from_utf8_lossy(text);
        let e = parse(&key, text).expect_err(&format!("{key} {shown} is refused"));
        assert_eq!(e.key, key);
        assert_eq!(kind_of(e.kind()), kind, "{key} {shown}: {e}");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("configuration value of {key}: ")),
            "{message}"
        );
        assert!(
            message.contains(says),
            "{key} {shown}: {message:?} lacks {says:?}"
        );
    }
}

#[test]
fn every_value_reads_back_from_its_text() {
    let values = [
        (Key::TradingState, Value::TradingState(TradingState::Active)),
        (
            Key::TradingState,
            Value::TradingState(TradingState::Reducing),
        ),
        (Key::TradingState, Value::TradingState(TradingState::Halted)),
        (Key::Limits, Value::Limits(full_limits())),
        (Key::Limits, Value::Limits(RiskLimits::default())),
        (
            Key::Limits,
            Value::Limits(RiskLimits {
                max_trade_notional: PerCurrency {
                    by_currency: BTreeMap::new(),
                    default: Some(d("0.00000001")),
                },
                order_rate: Some(OrderRate {
                    max_orders: 7,
                    interval: Duration::new(90, 500),
                }),
                max_book_age: Some(Duration::from_micros(1500)),
                ..RiskLimits::default()
            }),
        ),
        (fee("kraken"), Value::Fee(d("0.0026"))),
        (fee("kraken"), Value::Fee(d("0.00260"))),
        (fee("sim-a"), Value::Fee(Decimal::ZERO)),
        (
            latency("kraken"),
            Value::Latency(Latency::new(ms(20), ms(5))),
        ),
        (
            latency("sim-a"),
            Value::Latency(Latency::new(Duration::new(1, 1), Duration::ZERO)),
        ),
    ];
    for (key, value) in values {
        let text = value.to_text();
        let back = parse(&key, text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, value, "{key} {text}");
        assert_eq!(back.to_text(), text, "the canonical text is stable");
    }
}

#[test]
fn canonical_texts() {
    let limits = parse(&Key::Limits, FULL_LIMITS.as_bytes()).unwrap();
    assert_eq!(
        limits.to_text(),
        r#"{"max_order_notional":{"*":"10","USD":"50000"},"max_trade_notional":{"USD":"100000"},"max_open_trades":4,"order_rate":{"max_orders":20,"interval":"1s"},"min_net_edge_bps":"1.5","max_book_age":"2s"}"#
    );
    assert_eq!(Value::Limits(RiskLimits::default()).to_text(), "{}");
    assert_eq!(
        Value::Latency(Latency::new(ms(20), Duration::ZERO)).to_text(),
        r#"{"fixed":"20ms","jitter":"0s"}"#
    );
    assert_eq!(Value::Fee(d("0.0026")).to_text(), "0.0026");
    assert_eq!(
        Value::TradingState(TradingState::Halted).to_text(),
        "halted"
    );
}

#[test]
fn an_entry_is_its_key_and_its_value() {
    assert_eq!(
        entry("fees.kraken", b"0.0026").unwrap(),
        (key("fees.kraken"), Value::Fee(d("0.0026")))
    );
    assert_eq!(
        entry("trading_state", b"halted").unwrap(),
        (Key::TradingState, Value::TradingState(TradingState::Halted))
    );
    let e = entry("fees.kra ken", b"0.0026").unwrap_err();
    assert!(
        matches!(e, SettingError::Key(KeyError::BadVenue { .. })),
        "{e:?}"
    );
    let e = entry("fees.kraken", b"1").unwrap_err();
    assert!(
        matches!(&e, SettingError::Value(v) if matches!(v.kind(), ValueErrorKind::OutOfRange { .. })),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "configuration value of fees.kraken: the fee is 1, outside [0, 1)"
    );
    let e = entry("trading", b"halted").unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown configuration key \"trading\""),
        "{e}"
    );
}
