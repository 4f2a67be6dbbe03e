//! A message as the pipeline holds it: delivered by the consumer (with its
//! ack handle) or fetched from the stream by sequence to fill a gap, with
//! where it sits in its stream and how the general decoder reads it.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::StreamMessage};
use bytes::Bytes;

use arb_contract::CodecError;
use arb_contract::codec::Decoded;
use arb_contract::model::StreamPlace;
use arb_runtime::bus::server_time;
use arb_runtime::headers;

use super::Ctx;

/// A message from the stream: delivered by the consumer (it carries the ack
/// handle), or fetched by sequence to fill a gap.
#[allow(clippy::large_enum_variant)] // boxing would allocate per delivered message; fetched ones are rare
pub(super) enum Source {
    Delivered(jetstream::Message),
    Fetched { stream: String, msg: StreamMessage },
}

impl Source {
    #[inline]
    pub(super) fn subject(&self) -> &str {
        match self {
            Source::Delivered(m) => &m.subject,
            Source::Fetched { msg, .. } => &msg.subject,
        }
    }

    #[inline]
    pub(super) fn headers(&self) -> Option<&HeaderMap> {
        match self {
            Source::Delivered(m) => m.headers.as_ref(),
            Source::Fetched { msg, .. } => Some(&msg.headers),
        }
    }

    #[inline]
    pub(super) fn payload(&self) -> &Bytes {
        match self {
            Source::Delivered(m) => &m.payload,
            Source::Fetched { msg, .. } => &msg.payload,
        }
    }

    /// Where the message sits in its stream.
    pub(super) fn place(&self) -> Option<StreamPlace> {
        match self {
            Source::Delivered(m) => arb_runtime::bus::stream_place(m),
            Source::Fetched { stream, msg } => Some(StreamPlace {
                stream: stream.clone(),
                seq: msg.sequence,
                stored: server_time(msg.time.unix_timestamp_nanos()),
            }),
        }
    }

    #[inline]
    pub(super) fn delivery(&self) -> Option<&jetstream::Message> {
        match self {
            Source::Delivered(m) => Some(m),
            Source::Fetched { .. } => None,
        }
    }

    #[inline]
    pub(super) fn into_delivery(self) -> Option<jetstream::Message> {
        match self {
            Source::Delivered(m) => Some(m),
            Source::Fetched { .. } => None,
        }
    }
}

/// A message in a batch, with its stream sequence (for the ack floor).
pub(super) struct Entry {
    pub(super) seq: Option<u64>,
    pub(super) src: Source,
}

impl Entry {
    /// The entry, and whether it is a redelivery (the reply subject is parsed once).
    #[inline]
    pub(super) fn new(src: Source) -> (Self, bool) {
        let (seq, redelivered) = match &src {
            Source::Delivered(m) => match m.info() {
                Ok(i) => (Some(i.stream_sequence), i.delivered > 1),
                Err(_) => (None, false),
            },
            Source::Fetched { msg, .. } => (Some(msg.sequence), false),
        };
        (Entry { seq, src }, redelivered)
    }
}

/// The message through the general decoder (the fast book reader aside).
pub(super) fn decode(ctx: &Ctx, src: &Source) -> Result<Decoded, CodecError> {
    headers::decode_any(
        &ctx.bus.subjects,
        src.subject(),
        src.headers(),
        src.payload(),
    )
}
