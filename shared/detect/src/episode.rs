//! Episodes: one id from the moment an opportunity clears the threshold until
//! it stops clearing it. `open` once, `update` only when the net edge or the
//! size moves past a tolerance, `close` with duration and peak edge, never a
//! message per tick. Durations are in event time (the books' times).

use arb_contract::ids;
use arb_contract::time::{Timestamp, to_nanos};
use arb_contract::{EpisodeState, Opportunity, OpportunityKind, OpportunityLeg};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::FastMap;
use crate::book_store::SlotId;

/// One evaluation of an opportunity that cleared the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub legs: Vec<OpportunityLeg>,
    pub currency: String,
    pub notional: Decimal,
    pub gross_edge_bps: Decimal,
    pub net_edge_bps: Decimal,
    pub expected_profit: Decimal,
    /// The books it was computed from.
    pub inputs: Vec<SlotId>,
    /// Oldest event time among those books: the episode goes stale with it.
    pub oldest_input_ts: Timestamp,
}

#[derive(Debug, Clone)]
struct Episode {
    id: Uuid,
    /// Messages published for the episode so far (each id counts them).
    messages: u64,
    kind: OpportunityKind,
    opened_ts: Timestamp,
    peak_edge_bps: Decimal,
    published_edge_bps: Decimal,
    published_notional: Decimal,
    last: Evaluation,
}

/// Tolerances that decide when an open episode is published again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub edge_bps: Decimal,
    /// Relative to the last published notional (0.1 = 10 %).
    pub size: Decimal,
}

/// The open episodes of one detector, by opportunity key.
#[derive(Debug, Clone)]
pub struct Episodes {
    tolerance: Tolerance,
    /// Iterated only where the result is then sorted ([`Episodes::close_where`])
    /// or reduced to a minimum: its order never reaches a message.
    open: FastMap<String, Episode>,
    /// A lower bound of the open episodes' oldest input times, so the
    /// per-book staleness check is O(1) until something may be stale.
    earliest_input: Option<Timestamp>,
    /// Episodes opened so far: part of each episode's id, so two episodes
    /// of one key opened at the same event time still differ.
    opened: u64,
}

/// An episode's id: from its kind, key and opening time, and how many
/// episodes this detector opened before it. The same books give the same ids.
fn episode_id(kind: OpportunityKind, key: &str, at: Timestamp, opened: u64) -> Uuid {
    ids::derive(
        at,
        &[
            b"episode",
            kind.as_str().as_bytes(),
            key.as_bytes(),
            &to_nanos(&at).to_be_bytes(),
            &opened.to_be_bytes(),
        ],
    )
}

impl Episodes {
    pub fn new(tolerance: Tolerance) -> Self {
        Episodes {
            tolerance,
            open: FastMap::default(),
            earliest_input: None,
            opened: 0,
        }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Feeds the latest evaluation of `key` (`None`: it does not clear the
    /// threshold, or cannot be computed) at event time `at`; returns the
    /// message to publish, if any.
    pub fn observe(
        &mut self,
        kind: OpportunityKind,
        key: &str,
        eval: Option<Evaluation>,
        at: Timestamp,
    ) -> Option<Opportunity> {
        match eval {
            None => {
                // Most evaluations of most books clear nothing while nothing
                // is open: skip hashing the key then.
                if self.open.is_empty() {
                    return None;
                }
                let ep = self.open.remove(key)?;
                Some(close_message(key, ep, at))
            }
            Some(e) => {
                if self.earliest_input.is_none_or(|t| e.oldest_input_ts < t) {
                    self.earliest_input = Some(e.oldest_input_ts);
                }
                self.observe_clearing(kind, key, e, at)
            }
        }
    }

    fn observe_clearing(
        &mut self,
        kind: OpportunityKind,
        key: &str,
        e: Evaluation,
        at: Timestamp,
    ) -> Option<Opportunity> {
        match self.open.get_mut(key) {
            None => {
                self.opened += 1;
                let mut ep = Episode {
                    id: episode_id(kind, key, at, self.opened),
                    messages: 0,
                    kind,
                    opened_ts: at,
                    peak_edge_bps: e.net_edge_bps,
                    published_edge_bps: e.net_edge_bps,
                    published_notional: e.notional,
                    last: e,
                };
                let msg = message(key, &mut ep, EpisodeState::Open, at);
                self.open.insert(key.to_owned(), ep);
                Some(msg)
            }
            Some(ep) => {
                if e.net_edge_bps > ep.peak_edge_bps {
                    ep.peak_edge_bps = e.net_edge_bps;
                }
                let edge_moved =
                    (e.net_edge_bps - ep.published_edge_bps).abs() > self.tolerance.edge_bps;
                let size_moved = if ep.published_notional.is_zero() {
                    !e.notional.is_zero()
                } else {
                    (e.notional - ep.published_notional).abs()
                        > ep.published_notional * self.tolerance.size
                };
                ep.last = e;
                if !(edge_moved || size_moved) {
                    return None;
                }
                ep.published_edge_bps = ep.last.net_edge_bps;
                ep.published_notional = ep.last.notional;
                Some(message(key, ep, EpisodeState::Update, at))
            }
        }
    }

    /// Closes every open episode that `pred` picks (by its input books and
    /// the oldest of their event times).
    pub fn close_where(
        &mut self,
        at: Timestamp,
        mut pred: impl FnMut(&[SlotId], Timestamp) -> bool,
    ) -> Vec<Opportunity> {
        let keys: Vec<String> = self
            .open
            .iter()
            .filter(|(_, ep)| pred(&ep.last.inputs, ep.last.oldest_input_ts))
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(ep) = self.open.remove(&k) {
                out.push(close_message(&k, ep, at));
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Closes the episodes that use a book older than `stale_before`.
    pub fn close_stale(&mut self, stale_before: Timestamp, at: Timestamp) -> Vec<Opportunity> {
        if self.earliest_input.is_none_or(|t| t >= stale_before) {
            return Vec::new();
        }
        let out = self.close_where(at, |_, oldest| oldest < stale_before);
        self.earliest_input = self.open.values().map(|ep| ep.last.oldest_input_ts).min();
        out
    }
}

/// The episode's next message; its id is the episode's and its place in it.
fn message(key: &str, ep: &mut Episode, state: EpisodeState, at: Timestamp) -> Opportunity {
    ep.messages += 1;
    let e = &ep.last;
    Opportunity {
        id: ids::derive(at, &[ep.id.as_bytes(), &ep.messages.to_be_bytes()]),
        episode_id: ep.id,
        kind: ep.kind,
        key: key.to_owned(),
        state,
        book_ts: at,
        received_ts: None,
        published_ts: None,
        legs: e.legs.clone(),
        currency: e.currency.clone(),
        notional: e.notional,
        gross_edge_bps: e.gross_edge_bps,
        net_edge_bps: e.net_edge_bps,
        expected_profit: e.expected_profit,
        peak_edge_bps: Some(ep.peak_edge_bps),
        opened_ts: Some(ep.opened_ts),
        duration_ms: None,
    }
}

/// The close carries the last evaluation that cleared the threshold.
fn close_message(key: &str, mut ep: Episode, at: Timestamp) -> Opportunity {
    let mut m = message(key, &mut ep, EpisodeState::Close, at);
    m.duration_ms = Some((at - ep.opened_ts).num_milliseconds().max(0));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{at_ms, dec};

    fn eval(net: &str, notional: &str) -> Evaluation {
        Evaluation {
            legs: Vec::new(),
            currency: "USD".into(),
            notional: dec(notional),
            gross_edge_bps: dec(net) + dec("20"),
            net_edge_bps: dec(net),
            expected_profit: dec(notional) * dec(net) / dec("10000"),
            inputs: vec![0, 1],
            oldest_input_ts: at_ms(0),
        }
    }

    /// Episodes republished past `edge_bps` of net edge or 10 % of size.
    fn episodes(edge_bps: &str) -> Episodes {
        Episodes::new(Tolerance {
            edge_bps: dec(edge_bps),
            size: dec("0.1"),
        })
    }

    #[test]
    fn opens_once_updates_past_tolerance_and_closes() {
        let mut eps = episodes("2");
        let k = OpportunityKind::Cross;
        // (ms, evaluation) → expected state, or none.
        type Step = (
            i64,
            Option<(&'static str, &'static str)>,
            Option<EpisodeState>,
        );
        let steps: Vec<Step> = vec![
            (0, None, None),
            (10, Some(("10", "1000")), Some(EpisodeState::Open)),
            (20, Some(("10", "1000")), None),   // same tick again
            (30, Some(("11.5", "1050")), None), // 1.5 bp, 5 %: within tolerance
            (40, Some(("12.5", "1000")), Some(EpisodeState::Update)), // 2.5 bp from 10
            (50, Some(("12", "1099")), None),   // 0.5 bp, 9.9 % from the update
            (60, Some(("12", "1101")), Some(EpisodeState::Update)), // 10.1 %
            (70, Some(("15", "1101")), Some(EpisodeState::Update)), // peak 15
            (80, Some(("13.5", "1101")), None),
            (100, None, Some(EpisodeState::Close)),
            (110, None, None),
        ];
        let mut got = Vec::new();
        for (ms, e, want) in steps {
            let m = eps.observe(k, "BTC-USD_a_b", e.map(|(n, s)| eval(n, s)), at_ms(ms));
            assert_eq!(m.as_ref().map(|m| m.state), want, "at {ms} ms");
            got.extend(m);
        }
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|m| m.episode_id == got[0].episode_id));
        assert!(got.iter().all(|m| m.opened_ts == Some(at_ms(10))));
        let close = got.last().unwrap();
        assert_eq!(close.duration_ms, Some(90));
        assert_eq!(close.peak_edge_bps, Some(dec("15")));
        assert_eq!(
            close.net_edge_bps,
            dec("13.5"),
            "close carries the last evaluation"
        );
        assert_eq!(close.book_ts, at_ms(100));
        assert_eq!(eps.open_count(), 0);

        // A new episode gets a new id.
        let again = eps
            .observe(k, "BTC-USD_a_b", Some(eval("9", "10")), at_ms(200))
            .unwrap();
        assert_eq!(again.state, EpisodeState::Open);
        assert_ne!(again.episode_id, got[0].episode_id);
    }

    #[test]
    fn closes_stale_and_selected_episodes() {
        let mut eps = episodes("1");
        let k = OpportunityKind::Cross;
        let mut e1 = eval("10", "100");
        e1.oldest_input_ts = at_ms(0);
        e1.inputs = vec![0, 1];
        let mut e2 = eval("10", "100");
        e2.oldest_input_ts = at_ms(500);
        e2.inputs = vec![2, 3];
        eps.observe(k, "x", Some(e1), at_ms(0));
        eps.observe(k, "y", Some(e2), at_ms(500));
        assert!(eps.close_stale(at_ms(0), at_ms(600)).is_empty());
        let closed = eps.close_stale(at_ms(100), at_ms(600));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].key, "x");
        assert_eq!(closed[0].duration_ms, Some(600));
        let closed = eps.close_where(at_ms(700), |inputs, _| inputs.contains(&3));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].key, "y");
        assert_eq!(eps.open_count(), 0);
    }
}
