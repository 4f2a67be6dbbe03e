//! Venue latency for paper fills (issue 12, item 5): how long after its
//! decision an order reaches a venue, a fixed part plus a seeded jitter.
//!
//! The executor asks [`LatencyModel::arrival`] for an order's arrival time,
//! then [`crate::history`] finds the book state it meets and [`crate::fill`]
//! matches it. The jitter comes from a ChaCha8 generator keyed by the run's
//! seed, on a stream chosen by the venue's name: the same seed gives the
//! same latencies in a live run and in a backtest, and venues do not share
//! draws, so adding a venue does not shift another's sequence.

use std::time::Duration;

use arb_contract::stable_hash;
use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A venue's latency as configured: every order takes `fixed`, plus a draw
/// uniform in `[0, jitter]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub fixed: Duration,
    pub jitter: Duration,
}

impl Latency {
    pub fn new(fixed: Duration, jitter: Duration) -> Self {
        Latency { fixed, jitter }
    }

    /// The latency of one order, drawn from the run's `seed` and the order's
    /// own `key` (its id): the same order gets the same latency however many
    /// orders came before it, in a live run, after a restart and in a
    /// backtest.
    pub fn for_order(&self, seed: u64, key: &[u8]) -> Duration {
        let jitter = u64::try_from(self.jitter.as_nanos()).unwrap_or(u64::MAX);
        if jitter == 0 {
            return self.fixed;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stable_hash(&[b"order-latency", key]));
        self.fixed
            .saturating_add(Duration::from_nanos(rng.random_range(0..=jitter)))
    }

    /// The longest latency it can give.
    pub fn max(&self) -> Duration {
        self.fixed.saturating_add(self.jitter)
    }
}

/// One venue's latencies, drawn in sequence from a seeded generator.
#[derive(Debug, Clone)]
pub struct LatencyModel {
    latency: Latency,
    rng: ChaCha8Rng,
}

impl LatencyModel {
    /// The model for `venue` in a run seeded with `seed`.
    pub fn new(seed: u64, venue: &str, latency: Latency) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stable_hash(&[venue.as_bytes()]));
        LatencyModel { latency, rng }
    }

    pub fn latency(&self) -> Latency {
        self.latency
    }

    /// A configuration change: later draws use `latency`, from the same
    /// place in the venue's sequence.
    pub fn set_latency(&mut self, latency: Latency) {
        self.latency = latency;
    }

    /// The next order's latency. With no jitter it is `fixed`, and nothing
    /// is drawn.
    pub fn next_latency(&mut self) -> Duration {
        let jitter = u64::try_from(self.latency.jitter.as_nanos()).unwrap_or(u64::MAX);
        if jitter == 0 {
            return self.latency.fixed;
        }
        let drawn = self.rng.random_range(0..=jitter);
        self.latency
            .fixed
            .saturating_add(Duration::from_nanos(drawn))
    }

    /// When an order decided at `decided_at` (event time) reaches the venue.
    /// Saturates at the end of the nanosecond timestamp range (year 2262).
    pub fn arrival(&mut self, decided_at: Timestamp) -> Timestamp {
        let latency = i64::try_from(self.next_latency().as_nanos()).unwrap_or(i64::MAX);
        from_nanos(to_nanos(&decided_at).saturating_add(latency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn draws(seed: u64, venue: &str, latency: Latency, n: usize) -> Vec<Duration> {
        let mut m = LatencyModel::new(seed, venue, latency);
        (0..n).map(|_| m.next_latency()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence_another_seed_another() {
        let l = Latency::new(ms(20), ms(10));
        let a = draws(7, "sim-a", l, 100);
        assert_eq!(a, draws(7, "sim-a", l, 100));
        assert_ne!(a, draws(8, "sim-a", l, 100));
        // another venue, another stream
        assert_ne!(a, draws(7, "sim-b", l, 100));
        // and not all alike
        assert!(a.iter().any(|d| *d != a[0]));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let l = Latency::new(ms(20), ms(10));
        let all = draws(42, "kraken", l, 10_000);
        assert!(all.iter().all(|d| (ms(20)..=ms(30)).contains(d)));
        assert_eq!(l.max(), ms(30));
        // draws spread over the range rather than bunch at one end
        assert!(all.iter().any(|d| *d < ms(22)));
        assert!(all.iter().any(|d| *d > ms(28)));
    }

    #[test]
    fn zero_jitter_is_the_fixed_latency() {
        let l = Latency::new(ms(15), Duration::ZERO);
        assert!(draws(1, "sim-a", l, 50).iter().all(|d| *d == ms(15)));
        let mut m = LatencyModel::new(1, "sim-a", l);
        assert_eq!(m.arrival(from_nanos(T0)), from_nanos(T0 + 15_000_000));
        let mut none = LatencyModel::new(1, "sim-a", Latency::default());
        assert_eq!(none.arrival(from_nanos(T0)), from_nanos(T0));
    }

    #[test]
    fn arrival_is_the_decision_plus_the_drawn_latency() {
        let l = Latency::new(ms(5), Duration::from_micros(700));
        let mut m = LatencyModel::new(3, "sim-a", l);
        let mut replay = LatencyModel::new(3, "sim-a", l);
        for i in 0..100 {
            let t = from_nanos(T0 + i * 1_000_000);
            let lat = replay.next_latency();
            assert_eq!(
                to_nanos(&m.arrival(t)) - to_nanos(&t),
                lat.as_nanos() as i64
            );
        }
        let mut far = LatencyModel::new(3, "sim-a", Latency::new(Duration::MAX, Duration::MAX));
        assert_eq!(far.arrival(from_nanos(T0)), from_nanos(i64::MAX));
    }

    #[test]
    fn a_latency_change_applies_to_later_draws() {
        let mut m = LatencyModel::new(9, "sim-a", Latency::new(ms(10), ms(5)));
        m.next_latency();
        m.set_latency(Latency::new(ms(100), Duration::ZERO));
        assert_eq!(m.latency(), Latency::new(ms(100), Duration::ZERO));
        assert_eq!(m.next_latency(), ms(100));
    }
}
