//! The wire format: MessagePack with named fields, or JSON with the same
//! field names, told apart by `Content-Type`; the message type and version in
//! `Arb-Schema`; the message id in `Nats-Msg-Id` for JetStream de-duplication.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{CodecError, SubjectError};
use crate::model::*;
use crate::subject::Subjects;
use crate::time::Timestamp;

pub const CONTENT_TYPE: &str = "Content-Type";
pub const ARB_SCHEMA: &str = "Arb-Schema";
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
pub const MSGPACK: &str = "application/msgpack";
pub const JSON: &str = "application/json";

/// A message of the contract.
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The schema name in `Arb-Schema`, e.g. `book_snapshot`.
    const SCHEMA: &'static str;
    /// Raised when a change cannot be read by older consumers.
    const VERSION: u32 = 1;
    fn id(&self) -> Uuid;
    fn event_time(&self) -> Timestamp;
    /// The subject this message is published on.
    fn subject(&self, subjects: &Subjects) -> Result<String, SubjectError>;
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
    pub fn detect(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<Self, CodecError> {
        if let Some(ct) = headers.and_then(|h| h.get(CONTENT_TYPE)) {
            let ct = ct.as_str();
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
pub fn headers<M: Message>(msg: &M, content_type: ContentType) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, content_type.as_str());
    h.insert(ARB_SCHEMA, schema_header::<M>().as_str());
    h.insert(NATS_MSG_ID, msg.id().to_string().as_str());
    h
}

/// MessagePack with named fields.
pub fn encode<M: Message>(msg: &M) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(rmp_serde::to_vec_named(msg)?))
}

pub fn encode_json<M: Message>(msg: &M) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(serde_json::to_vec(msg)?))
}

fn decode_body<M: DeserializeOwned>(ct: ContentType, payload: &[u8]) -> Result<M, CodecError> {
    match ct {
        ContentType::Msgpack => Ok(rmp_serde::from_slice(payload)?),
        ContentType::Json => Ok(serde_json::from_slice(payload)?),
    }
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
pub fn decode<M: Message>(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<M, CodecError> {
    if let Some(schema) = headers.and_then(|h| h.get(ARB_SCHEMA)) {
        let (name, version) = parse_schema(schema.as_str())?;
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
        headers: Option<&'h HeaderMap>,
        payload: &[u8],
    ) -> Result<(ContentType, &'h str, u32), CodecError> {
        let ct = ContentType::detect(headers, payload)?;
        let (name, version) = match headers.and_then(|h| h.get(ARB_SCHEMA)) {
            Some(v) => parse_schema(v.as_str())?,
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
        headers: Option<&HeaderMap>,
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
    pub fn headers(&self, content_type: ContentType) -> HeaderMap {
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

/// Builds a header map from `(name, value)` pairs.
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(k, v);
    }
    h
}

/// Headers as plain strings, for dead letters and `arbctl tap`.
pub fn header_strings(headers: Option<&HeaderMap>) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(h) = headers {
        for (k, vs) in h.iter() {
            let joined: Vec<&str> = vs.iter().map(|v| v.as_str()).collect();
            out.insert(k.to_string(), joined.join(", "));
        }
    }
    out
}
