//! The optional per-symbol rate limit on published books: at most one book
//! per venue and symbol per interval; a change inside the interval is held
//! (the newest replacing the older) and goes out when the interval ends, so
//! the last state is never lost. Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::Duration;

use arb_contract::Symbol;
use arb_contract::model::BookSnapshot;
use tokio::time::Instant;

/// What to do with an offered book.
#[derive(Debug, Clone, PartialEq)]
pub enum Offer {
    /// Publish it now.
    Publish(BookSnapshot),
    /// Held until [`RateLimiter::due`]; `replaced` when it displaced a held book.
    Held { replaced: bool },
}

struct Slot {
    last: Instant,
    pending: Option<BookSnapshot>,
}

pub struct RateLimiter {
    min_interval: Duration,
    slots: HashMap<(String, Symbol), Slot>,
}

impl RateLimiter {
    /// A zero interval lets every book through.
    pub fn new(min_interval: Duration) -> Self {
        RateLimiter {
            min_interval,
            slots: HashMap::new(),
        }
    }

    pub fn offer(&mut self, book: BookSnapshot, now: Instant) -> Offer {
        if self.min_interval.is_zero() {
            return Offer::Publish(book);
        }
        let key = (book.venue.clone(), book.symbol.clone());
        match self.slots.get_mut(&key) {
            Some(s) if now.saturating_duration_since(s.last) < self.min_interval => Offer::Held {
                replaced: s.pending.replace(book).is_some(),
            },
            _ => {
                self.slots.insert(
                    key,
                    Slot {
                        last: now,
                        pending: None,
                    },
                );
                Offer::Publish(book)
            }
        }
    }

    /// Held books whose interval has ended.
    pub fn due(&mut self, now: Instant) -> Vec<BookSnapshot> {
        let mut out = Vec::new();
        for s in self.slots.values_mut() {
            if s.pending.is_some() && now.saturating_duration_since(s.last) >= self.min_interval {
                s.last = now;
                out.extend(s.pending.take());
            }
        }
        out
    }

    /// Forgets held books of a venue (one symbol, or all): their state was found wrong.
    pub fn discard(&mut self, venue: &str, symbol: Option<&Symbol>) {
        for ((v, s), slot) in self.slots.iter_mut() {
            if v == venue && symbol.is_none_or(|sym| sym == s) {
                slot.pending = None;
            }
        }
    }

    /// Every held book, at shutdown.
    pub fn drain(&mut self) -> Vec<BookSnapshot> {
        self.slots
            .values_mut()
            .filter_map(|s| s.pending.take())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::model::ChecksumStatus;
    use arb_contract::time::from_nanos;

    fn book(symbol: &str, seq: u64) -> BookSnapshot {
        BookSnapshot {
            id: uuid::Uuid::nil(),
            venue: "kraken".into(),
            symbol: symbol.parse().unwrap(),
            exchange_ts: None,
            received_ts: from_nanos(0),
            sequence: Some(seq),
            checksum: ChecksumStatus::NotProvided,
            bids: vec![],
            asks: vec![],
        }
    }

    enum Op {
        Give(&'static str, u64, u64, Result<(), bool>),
        Due(u64, Vec<u64>),
        Discard(Option<&'static str>),
    }

    #[test]
    fn limiter_table() {
        use Op::*;
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        // (time ms, symbol, seq) → Ok(()) published now, Err(replaced) held.
        let ops = vec![
            Give("BTC/USD", 1, 0, Ok(())),
            Give("BTC/USD", 2, 100, Err(false)),
            Give("BTC/USD", 3, 200, Err(true)),
            Give("ETH/USD", 1, 250, Ok(())),
            Due(500, vec![]),
            Due(1000, vec![3]),
            Give("BTC/USD", 4, 1500, Err(false)),
            Discard(Some("BTC/USD")),
            Due(2500, vec![]),
            Give("BTC/USD", 5, 2600, Ok(())),
            Give("ETH/USD", 2, 2600, Ok(())),
            Give("ETH/USD", 3, 2700, Err(false)),
            Discard(None),
            Due(9000, vec![]),
        ];
        let mut l = RateLimiter::new(Duration::from_secs(1));
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Give(sym, seq, at, want) => {
                    let got = l.offer(book(sym, seq), ms(at));
                    match (got, want) {
                        (Offer::Publish(b), Ok(())) => assert_eq!(b.sequence, Some(seq), "op {i}"),
                        (Offer::Held { replaced }, Err(r)) => assert_eq!(replaced, r, "op {i}"),
                        (got, want) => panic!("op {i}: got {got:?}, want {want:?}"),
                    }
                }
                Due(at, want) => {
                    let got: Vec<u64> = l.due(ms(at)).iter().filter_map(|b| b.sequence).collect();
                    assert_eq!(got, want, "op {i}");
                }
                Discard(sym) => l.discard("kraken", sym.map(|s| s.parse().unwrap()).as_ref()),
            }
        }
        let mut zero = RateLimiter::new(Duration::ZERO);
        for at in [0, 0, 1] {
            assert!(matches!(
                zero.offer(book("BTC/USD", 1), ms(at)),
                Offer::Publish(_)
            ));
        }
    }
}
