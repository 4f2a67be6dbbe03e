//! The publishing side of a replay: publishes pipelined with up to `max`
//! acks in flight (never one publish awaited at a time), settled in the
//! order they were sent.
//!
//! Each message is a core NATS publish whose reply subject is
//! `<inbox>.<n>` on one subscription of the window's own; JetStream answers
//! each with its ack there. That is what a JetStream publish does too, less
//! the client's per-message inbox, response channel and timer: with those
//! the benchmark's replay ran at 66k msg/s, without them at about 80k (on
//! two cores shared with the server).
//!
//! A publish whose ack fails or does not come within `ack_timeout` is sent
//! again, with the same `Nats-Msg-Id` so JetStream keeps one copy, rebuilt
//! from the source stream by its original sequence (the window keeps no
//! copy of what it sent). The acks say where each message was stored, so a
//! message that landed out of order (after a resend) is counted, not hidden.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail};
use async_nats::jetstream::publish::PublishAck;
use async_nats::{Client, HeaderMap, StatusCode, Subscriber};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

/// Sending again a publish whose ack failed: at most this many times.
const RESENDS: u32 = 5;

/// One message for the target stream.
pub(crate) struct Outgoing {
    pub(crate) subject: String,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

/// Rebuilds the outgoing message of an original stream sequence (to send
/// it again).
pub(crate) trait Rebuild {
    fn rebuild(&self, seq: u64) -> impl Future<Output = anyhow::Result<Outgoing>> + Send;
}

/// What the acks said.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    /// Stored by this replay.
    pub(crate) stored: u64,
    /// Already in the target stream (JetStream's duplicate window caught them).
    pub(crate) duplicates: u64,
    /// Stored ahead of a message sent before them (possible only after a
    /// resend): zero means the target holds them in stream order.
    pub(crate) out_of_order: u64,
    /// The original sequence of the last message acknowledged.
    pub(crate) last_seq: Option<u64>,
    /// The highest target-stream sequence acknowledged so far.
    top_target_seq: u64,
}

impl Acked {
    fn record(&mut self, seq: u64, ack: Ack) {
        self.last_seq = Some(seq);
        if ack.duplicate {
            self.duplicates += 1;
            return;
        }
        self.stored += 1;
        if ack.target_seq < self.top_target_seq {
            self.out_of_order += 1;
        }
        self.top_target_seq = self.top_target_seq.max(ack.target_seq);
    }
}

/// A JetStream publish ack, reduced to what the window uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    target_seq: u64,
    duplicate: bool,
}

/// Reads JetStream's answer to a publish: an ack, or why not.
fn parse_ack(status: Option<StatusCode>, payload: &[u8]) -> Result<Ack, String> {
    if status == Some(StatusCode::NO_RESPONDERS) {
        return Err("no stream takes the subject (no responders)".into());
    }
    if let Ok(a) = serde_json::from_slice::<PublishAck>(payload) {
        return Ok(Ack {
            target_seq: a.sequence,
            duplicate: a.duplicate,
        });
    }
    match serde_json::from_slice::<async_nats::jetstream::response::Response<PublishAck>>(payload) {
        Ok(async_nats::jetstream::response::Response::Err { error }) => Err(error.to_string()),
        _ => Err(format!(
            "not a publish ack: {:?}",
            String::from_utf8_lossy(&payload[..payload.len().min(200)])
        )),
    }
}

struct Pending {
    /// The original sequence.
    seq: u64,
    sent: Instant,
    attempts: u32,
    answer: Option<Result<Ack, String>>,
}

pub(crate) struct Window<R> {
    client: Client,
    rebuild: R,
    /// `<inbox>.`: the reply subject of publish `n` is this and `n`.
    reply_prefix: String,
    acks: Subscriber,
    /// Oldest first; `inflight[i]` is publish number `base + i`.
    inflight: VecDeque<Pending>,
    base: u64,
    max: usize,
    ack_timeout: Duration,
    acked: Acked,
}

impl<R: Rebuild> Window<R> {
    /// A window on `client` of at most `max` publishes in flight.
    pub(crate) async fn new(
        client: Client,
        rebuild: R,
        max: usize,
        ack_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let inbox = client.new_inbox();
        let acks = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| anyhow!("cannot subscribe to the publish acks: {e}"))?;
        Ok(Window {
            client,
            rebuild,
            reply_prefix: format!("{inbox}."),
            acks,
            inflight: VecDeque::with_capacity(max.max(1)),
            base: 0,
            max: max.max(1),
            ack_timeout,
            acked: Acked::default(),
        })
    }

    pub(crate) fn acked(&self) -> Acked {
        self.acked
    }

    /// Messages sent whose ack has not been settled.
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Sends the message of original sequence `seq`; waits only when `max`
    /// acks are outstanding, for the oldest.
    pub(crate) async fn send(&mut self, seq: u64, out: Outgoing) -> anyhow::Result<()> {
        // Take the acks that are in without waiting, then wait if still full.
        while let Some(Some(m)) = self.acks.next().now_or_never() {
            self.on_ack(&m);
        }
        self.settle_answered().await?;
        while self.inflight.len() >= self.max {
            self.wait_one().await?;
        }
        let n = self.base + self.inflight.len() as u64;
        self.inflight.push_back(Pending {
            seq,
            sent: Instant::now(),
            attempts: 0,
            answer: None,
        });
        self.publish(n, out).await
    }

    async fn publish(&self, n: u64, out: Outgoing) -> anyhow::Result<()> {
        let mut reply = String::with_capacity(self.reply_prefix.len() + 20);
        reply.push_str(&self.reply_prefix);
        reply.push_str(&n.to_string());
        let subject = out.subject;
        self.client
            .publish_with_reply_and_headers(subject.clone(), reply, out.headers, out.payload)
            .await
            .map_err(|e| anyhow!("cannot publish to {subject}: {e}"))
    }

    /// Notes an ack against the publish it answers.
    fn on_ack(&mut self, m: &async_nats::Message) {
        let n = m
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .and_then(|t| t.parse::<u64>().ok());
        let Some(i) = n.and_then(|n| n.checked_sub(self.base)) else {
            // An ack of a publish already settled (a late one, after a resend).
            return;
        };
        if let Some(p) = self.inflight.get_mut(i as usize) {
            let answer = parse_ack(m.status, &m.payload);
            // A late failure does not undo an ack already in.
            if !matches!(p.answer, Some(Ok(_))) {
                p.answer = Some(answer);
            }
        }
    }

    /// Settles the oldest publishes that have their answer: an ack is
    /// counted, a failure sent again (or, past [`RESENDS`], an error).
    async fn settle_answered(&mut self) -> anyhow::Result<()> {
        while let Some(front) = self.inflight.front_mut() {
            match front.answer.take() {
                None => return Ok(()),
                Some(Ok(ack)) => {
                    let seq = front.seq;
                    self.inflight.pop_front();
                    self.base += 1;
                    self.acked.record(seq, ack);
                }
                Some(Err(reason)) => self.resend_front(&reason).await?,
            }
        }
        Ok(())
    }

    /// Sends the oldest publish again, after a pause that grows.
    async fn resend_front(&mut self, reason: &str) -> anyhow::Result<()> {
        let Some(front) = self.inflight.front_mut() else {
            return Ok(());
        };
        let seq = front.seq;
        front.attempts += 1;
        if front.attempts > RESENDS {
            bail!("the publish of original sequence {seq} was not acknowledged: {reason}");
        }
        tracing::warn!(
            seq,
            attempt = front.attempts,
            reason,
            "publish not acknowledged, sending it again"
        );
        let pause = Duration::from_millis(50 << front.attempts.min(5));
        tokio::time::sleep(pause).await;
        let out = self.rebuild.rebuild(seq).await?;
        if let Some(front) = self.inflight.front_mut() {
            front.sent = Instant::now();
        }
        self.publish(self.base, out).await
    }

    /// Waits for the next ack (settling what it allows), or resends the
    /// oldest publish when its ack is overdue.
    async fn wait_one(&mut self) -> anyhow::Result<()> {
        let Some(front) = self.inflight.front() else {
            return Ok(());
        };
        let deadline = front.sent + self.ack_timeout;
        match tokio::time::timeout_at(deadline, self.acks.next()).await {
            Ok(Some(m)) => self.on_ack(&m),
            Ok(None) => bail!("the subscription to the publish acks ended"),
            Err(_) => {
                let reason = format!("no ack within {:?}", self.ack_timeout);
                self.resend_front(&reason).await?;
            }
        }
        self.settle_answered().await
    }

    /// Waits for every outstanding ack.
    pub(crate) async fn flush(&mut self) -> anyhow::Result<()> {
        self.settle_answered().await?;
        while !self.inflight.is_empty() {
            self.wait_one().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(target_seq: u64, duplicate: bool) -> Ack {
        Ack {
            target_seq,
            duplicate,
        }
    }

    #[test]
    fn acks_count_stored_duplicates_and_out_of_order() {
        let mut a = Acked::default();
        a.record(10, ack(1, false));
        a.record(11, ack(2, false));
        // A restart inside the duplicate window: JetStream names the copy it has.
        a.record(12, ack(2, true));
        a.record(13, ack(3, false));
        assert_eq!((a.stored, a.duplicates, a.out_of_order), (3, 1, 0));
        assert_eq!(a.last_seq, Some(13));
        // Acks settle in send order: 14's first publish was lost, 15 and 16
        // were stored (3, 4), then 14 was sent again and stored after them.
        let mut b = Acked::default();
        b.record(14, ack(5, false));
        b.record(15, ack(3, false));
        b.record(16, ack(4, false));
        b.record(17, ack(6, false));
        assert_eq!((b.stored, b.out_of_order), (4, 2));
    }

    #[test]
    fn jetstream_answers_parse_into_acks_or_reasons() {
        let ok = |s: &str| parse_ack(None, s.as_bytes());
        assert_eq!(ok(r#"{"stream":"REPLAY_R_MD","seq":7}"#), Ok(ack(7, false)));
        assert_eq!(
            ok(r#"{"stream":"REPLAY_R_MD","domain":"hub","seq":7,"duplicate":true}"#),
            Ok(ack(7, true))
        );
        let e = ok(r#"{"error":{"code":503,"err_code":10077,"description":"resource limits exceeded for account"}}"#)
            .unwrap_err();
        assert!(e.contains("resource limits exceeded"), "{e}");
        assert!(ok("garbage").unwrap_err().contains("not a publish ack"));
        let e = parse_ack(Some(StatusCode::NO_RESPONDERS), b"").unwrap_err();
        assert!(e.contains("no responders"), "{e}");
    }
}
