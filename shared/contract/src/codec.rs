//! The wire format: MessagePack with named fields, or JSON with the same
//! field names, told apart by `Content-Type`; the message type and version in
//! `Arb-Schema`; the message id in `Nats-Msg-Id` for JetStream de-duplication.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{CodecError, SubjectError};

use crate::model::*;
use crate::subject::Subjects;
use crate::time::Timestamp;
use crate::validate::Validate;
/// MessagePack's encoding error (what [`CodecError::Encode`] carries).
pub use rmp_serde::encode::Error as EncodeError;

pub const CONTENT_TYPE: &str = "Content-Type";
pub const ARB_SCHEMA: &str = "Arb-Schema";
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
pub const MSGPACK: &str = "application/msgpack";
pub const JSON: &str = "application/json";

/// The two headers a decoder reads, borrowed from wherever the message came
/// from (a NATS client's header map, [`Headers`], a dead letter's map).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireHeaders<'a> {
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Arb-Schema`.
    pub schema: Option<&'a str>,
}

impl<'a> WireHeaders<'a> {
    /// No headers at all (a person's `nats pub`).
    pub const NONE: WireHeaders<'static> = WireHeaders {
        content_type: None,
        schema: None,
    };

    /// Reads both from a name → value lookup.
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        WireHeaders {
            content_type: get(CONTENT_TYPE),
            schema: get(ARB_SCHEMA),
        }
    }
}

/// Headers as plain name/value pairs, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Sets `name` (replacing an earlier value).
    pub fn insert(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(kv) => kv.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The headers a decoder reads.
    pub fn wire(&self) -> WireHeaders<'_> {
        WireHeaders::from_lookup(|k| self.get(k))
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.insert(k, v);
        }
        h
    }
}

/// A message of the contract.
pub trait Message: Serialize + DeserializeOwned + Validate + Send + Sync + 'static {
    /// The schema name in `Arb-Schema`, e.g. `book_snapshot`.
    const SCHEMA: &'static str;
    /// Raised when a change cannot be read by older consumers.
    const VERSION: u32 = 1;
    fn id(&self) -> Uuid;
    fn event_time(&self) -> Timestamp;
    /// The subject this message is published on.
    fn subject(&self, subjects: &Subjects) -> Result<String, SubjectError>;
    /// A faster reader of this type's MessagePack form than serde's, where
    /// there is one ([`crate::fast`] for books): exactly what the general
    /// decoder gives for a valid message, or `None` to leave the payload
    /// (and any error in it) to the general decoder.
    fn read_msgpack_fast(_payload: &[u8]) -> Option<Self> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Msgpack,
    Json,
}

impl ContentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Msgpack => MSGPACK,
            ContentType::Json => JSON,
        }
    }

    /// From the header if there is one, else by looking at the first byte:
    /// JSON objects start with `{` (after white space), MessagePack maps never do.
    pub fn detect(headers: WireHeaders<'_>, payload: &[u8]) -> Result<Self, CodecError> {
        if let Some(ct) = headers.content_type {
            let essence = ct.split(';').next().unwrap_or("").trim();
            let is = |names: &[&str]| names.iter().any(|n| essence.eq_ignore_ascii_case(n));
            return if is(&[MSGPACK, "application/x-msgpack", "application/vnd.msgpack"]) {
                Ok(ContentType::Msgpack)
            } else if is(&[JSON, "text/json"]) {
                Ok(ContentType::Json)
            } else {
                Err(CodecError::UnsupportedContentType(ct.to_owned()))
            };
        }
        match payload.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(ContentType::Json),
            _ => Ok(ContentType::Msgpack),
        }
    }
}

/// `name/version` as in `Arb-Schema: book_snapshot/1`.
pub fn schema_header<M: Message>() -> String {
    format!("{}/{}", M::SCHEMA, M::VERSION)
}

/// Splits `book_snapshot/1` (a missing version reads as 1).
pub fn parse_schema(value: &str) -> Result<(&str, u32), CodecError> {
    match value.split_once('/') {
        None => Ok((value.trim(), 1)),
        Some((name, v)) => v
            .trim()
            .parse()
            .map(|v| (name.trim(), v))
            .map_err(|_| CodecError::UnknownSchema(value.to_owned())),
    }
}

/// The headers every message carries.
pub fn headers<M: Message>(msg: &M, content_type: ContentType) -> Headers {
    let mut h = Headers::new();
    h.insert(CONTENT_TYPE, content_type.as_str());
    h.insert(ARB_SCHEMA, schema_header::<M>());
    h.insert(NATS_MSG_ID, msg.id().to_string());
    h
}

/// MessagePack with named fields.
pub fn encode<M: Message>(msg: &M) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(rmp_serde::to_vec_named(msg)?))
}

pub fn encode_json<M: Message>(msg: &M) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(serde_json::to_vec(msg)?))
}

/// Decodes the body and checks it ([`Validate`]): a message that decodes but
/// cannot be right is refused here, before any consumer sees it.
fn decode_body<M: Message>(ct: ContentType, payload: &[u8]) -> Result<M, CodecError> {
    if ct == ContentType::Msgpack
        && let Some(m) = M::read_msgpack_fast(payload)
    {
        // Already valid: the fast path takes only what validation accepts.
        return Ok(m);
    }
    let m: M = match ct {
        ContentType::Msgpack => rmp_serde::from_slice(payload)?,
        ContentType::Json => serde_json::from_slice(payload)?,
    };
    m.validate()?;
    Ok(m)
}

fn check_version(name: &str, version: u32, supported: u32) -> Result<(), CodecError> {
    if version > supported {
        return Err(CodecError::UnsupportedVersion {
            schema: name.to_owned(),
            version,
            supported,
        });
    }
    Ok(())
}

/// Decodes a message of a known type. The schema header, when present, must name `M`.
pub fn decode<M: Message>(headers: WireHeaders<'_>, payload: &[u8]) -> Result<M, CodecError> {
    if let Some(schema) = headers.schema {
        let (name, version) = parse_schema(schema)?;
        if name != M::SCHEMA {
            return Err(CodecError::WrongSchema {
                expected: M::SCHEMA.to_owned(),
                got: name.to_owned(),
            });
        }
        check_version(name, version, M::VERSION)?;
    }
    decode_body(ContentType::detect(headers, payload)?, payload)
}

/// Any message of the contract, for consumers of several subjects (the sink, `arbctl tap`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Decoded {
    Book(BookSnapshot),
    Status(FeedStatus),
    Opportunity(Opportunity),
    Order(OrderEvent),
    Trade(TradeEvent),
    Pnl(PnlEvent),
    Portfolio(PortfolioSnapshot),
    Transfer(TransferEvent),
    Audit(AuditEvent),
    State(RuntimeState),
    DeadLetter(DeadLetter),
}

macro_rules! any_schema {
    ($name:expr, $version:expr, $ct:expr, $payload:expr, $($ty:ident => $variant:ident),+ $(,)?) => {
        match $name {
            $(<$ty as Message>::SCHEMA => {
                check_version($name, $version, <$ty as Message>::VERSION)?;
                Ok(Decoded::$variant(decode_body::<$ty>($ct, $payload)?))
            })+
            other => Err(CodecError::UnknownSchema(other.to_owned())),
        }
    };
}

macro_rules! each {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            Decoded::Book($m) => $e,
            Decoded::Status($m) => $e,
            Decoded::Opportunity($m) => $e,
            Decoded::Order($m) => $e,
            Decoded::Trade($m) => $e,
            Decoded::Pnl($m) => $e,
            Decoded::Portfolio($m) => $e,
            Decoded::Transfer($m) => $e,
            Decoded::Audit($m) => $e,
            Decoded::State($m) => $e,
            Decoded::DeadLetter($m) => $e,
        }
    };
}

impl Decoded {
    /// The content type, schema name and version of a message: by the
    /// `Arb-Schema` header, or, when a person published with no headers, by
    /// what the subject carries.
    pub fn schema_of<'h>(
        subjects: &Subjects,
        subject: &str,
        headers: WireHeaders<'h>,
        payload: &[u8],
    ) -> Result<(ContentType, &'h str, u32), CodecError> {
        let ct = ContentType::detect(headers, payload)?;
        let (name, version) = match headers.schema {
            Some(v) => parse_schema(v)?,
            None => match subjects.parse(subject) {
                Ok(kind) => (kind.schema(), 1),
                Err(_) => return Err(CodecError::NoSchema(subject.to_owned())),
            },
        };
        Ok((ct, name, version))
    }

    /// Decodes by [`Decoded::schema_of`].
    pub fn decode(
        subjects: &Subjects,
        subject: &str,
        headers: WireHeaders<'_>,
        payload: &[u8],
    ) -> Result<Decoded, CodecError> {
        let (ct, name, version) = Self::schema_of(subjects, subject, headers, payload)?;
        Self::decode_schema(ct, name, version, payload)
    }

    /// Decodes a payload whose content type, schema and version are known
    /// (from [`Decoded::schema_of`]).
    pub fn decode_schema(
        ct: ContentType,
        name: &str,
        version: u32,
        payload: &[u8],
    ) -> Result<Decoded, CodecError> {
        any_schema!(name, version, ct, payload,
            BookSnapshot => Book,
            FeedStatus => Status,
            Opportunity => Opportunity,
            OrderEvent => Order,
            TradeEvent => Trade,
            PnlEvent => Pnl,
            PortfolioSnapshot => Portfolio,
            TransferEvent => Transfer,
            AuditEvent => Audit,
            RuntimeState => State,
            DeadLetter => DeadLetter,
        )
    }

    pub fn schema(&self) -> &'static str {
        each!(self, m => schema_of(m))
    }

    pub fn id(&self) -> Uuid {
        each!(self, m => m.id())
    }

    pub fn event_time(&self) -> Timestamp {
        each!(self, m => m.event_time())
    }

    /// The subject the message is published on.
    pub fn subject(&self, subjects: &Subjects) -> Result<String, SubjectError> {
        each!(self, m => m.subject(subjects))
    }

    /// The headers the message is published with.
    pub fn headers(&self, content_type: ContentType) -> Headers {
        each!(self, m => headers(m, content_type))
    }

    /// The payload in the given content type.
    pub fn encode(&self, content_type: ContentType) -> Result<Bytes, CodecError> {
        match content_type {
            ContentType::Msgpack => each!(self, m => encode(m)),
            ContentType::Json => each!(self, m => encode_json(m)),
        }
    }
}

fn schema_of<M: Message>(_: &M) -> &'static str {
    M::SCHEMA
}
