//! How a source message becomes the run's: its subject moved under
//! `replay.<run>.`, its payload and headers as they are, a `Nats-Msg-Id`
//! of the run, stream and original sequence, and the `Arb-Replay-*`
//! headers saying where it came from.

use anyhow::Context as _;
use arb_contract::subject::Subjects;
use async_nats::jetstream::stream::Stream;
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

use super::window::{Outgoing, Rebuild};
use super::{REPLAY_SEQ, REPLAY_STREAM, REPLAY_SUBJECT, REPLAY_TIME};

#[derive(Clone)]
pub(super) struct Mapping {
    source: Subjects,
    /// `replay.<run>.`
    target_prefix: String,
    /// `<run>:<stream>:`, the message id less the sequence.
    id_prefix: String,
    stream_name: HeaderValue,
    names: [HeaderName; 4],
}

impl Mapping {
    pub(super) fn new(source: Subjects, run: &str, stream_name: &str) -> Self {
        let name = |n: &str| {
            n.parse::<HeaderName>()
                .unwrap_or_else(|_| unreachable!("{n} is a valid header name"))
        };
        Mapping {
            source,
            target_prefix: format!("replay.{run}."),
            id_prefix: super::message_id(run, stream_name, 0)
                .strip_suffix('0')
                .unwrap_or_default()
                .to_owned(),
            stream_name: HeaderValue::from(stream_name),
            names: [
                name(REPLAY_SEQ),
                name(REPLAY_SUBJECT),
                name(REPLAY_STREAM),
                name(REPLAY_TIME),
            ],
        }
    }

    /// The run's message for original sequence `seq`, stored on `subject`
    /// at `stored_nanos`.
    pub(super) fn outgoing(
        &self,
        seq: u64,
        subject: &str,
        headers: Option<HeaderMap>,
        payload: Bytes,
        stored_nanos: i128,
    ) -> Outgoing {
        let rest = self.source.strip_prefix(subject).unwrap_or(subject);
        let mut target = String::with_capacity(self.target_prefix.len() + rest.len());
        target.push_str(&self.target_prefix);
        target.push_str(rest);
        let mut h = headers.unwrap_or_default();
        let mut id = String::with_capacity(self.id_prefix.len() + 20);
        id.push_str(&self.id_prefix);
        id.push_str(&seq.to_string());
        h.insert(async_nats::header::NATS_MESSAGE_ID, id);
        let [n_seq, n_subject, n_stream, n_time] = &self.names;
        h.insert(n_seq.clone(), HeaderValue::from(seq));
        h.insert(n_subject.clone(), subject);
        h.insert(n_stream.clone(), self.stream_name.clone());
        h.insert(n_time.clone(), HeaderValue::from(stored_nanos as i64));
        Outgoing {
            subject: target,
            headers: h,
            payload,
        }
    }
}

/// [`Mapping`] with the source stream, to read a message again by its
/// sequence when its publish must be resent.
pub(super) struct Mapper {
    pub(super) stream: Stream,
    pub(super) mapping: Mapping,
}

impl Rebuild for Mapper {
    async fn rebuild(&self, seq: u64) -> anyhow::Result<Outgoing> {
        let m = self
            .stream
            .get_raw_message(seq)
            .await
            .with_context(|| format!("cannot read seq {seq} again to resend it"))?;
        Ok(self.mapping.outgoing(
            seq,
            &m.subject,
            Some(m.headers),
            m.payload,
            m.time.unix_timestamp_nanos(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_messages_keep_payload_and_headers_and_add_the_replay_headers() {
        let source = Subjects::new(Some("t.42")).unwrap();
        let m = Mapping::new(source, "r1", "T_42_MD");
        let mut h = HeaderMap::new();
        h.insert("Content-Type", "application/msgpack");
        h.insert("Arb-Schema", "book_snapshot/1");
        h.insert("Nats-Msg-Id", "0198c3a2-0000-7000-8000-000000000001");
        let out = m.outgoing(
            17,
            "t.42.md.book.kraken.BTC-USD",
            Some(h),
            Bytes::from_static(b"\x81\xa2id"),
            1_763_900_000_123_456_789,
        );
        assert_eq!(out.subject, "replay.r1.md.book.kraken.BTC-USD");
        assert_eq!(&out.payload[..], b"\x81\xa2id");
        let get = |k: &str| out.headers.get(k).map(|v| v.as_str().to_owned());
        let want = [
            ("Content-Type", "application/msgpack"),
            ("Arb-Schema", "book_snapshot/1"),
            ("Nats-Msg-Id", "r1:T_42_MD:17"),
            (REPLAY_SEQ, "17"),
            (REPLAY_SUBJECT, "t.42.md.book.kraken.BTC-USD"),
            (REPLAY_STREAM, "T_42_MD"),
            (REPLAY_TIME, "1763900000123456789"),
        ];
        for (k, v) in want {
            assert_eq!(get(k).as_deref(), Some(v), "{k}");
        }
        assert_eq!(out.headers.len(), want.len());

        // Without a source prefix, and without headers at all.
        let m = Mapping::new(Subjects::default(), "r2", "SYS");
        let out = m.outgoing(3, "sys.state.sink", None, Bytes::new(), 0);
        assert_eq!(out.subject, "replay.r2.sys.state.sink");
        assert_eq!(out.headers.get(REPLAY_SEQ).map(|v| v.as_str()), Some("3"));
        assert_eq!(
            out.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some("r2:SYS:3")
        );
    }
}
