//! Runtime switches in a NATS KV bucket: create a bucket under the subject
//! prefix (the operator, [`bucket`]) or open an existing one ([`open`]), and
//! watch it so that the current value of every key arrives first, then a
//! [`KvEvent::Ready`] marker, then each change as it happens. A process applies the values it is given and knows when it has
//! seen the whole current configuration. [`history`] reads back every
//! revision of one key that the bucket keeps (`arbctl config history`).

use arb_contract::time::{Timestamp, from_nanos};
use async_nats::jetstream::kv::{self, Operation, Store};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};

use crate::bus::Bus;
use crate::error::{BusError, Fault};

/// One thing a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvEvent {
    /// A key's value (a current one while the watch starts, later a change).
    Put {
        key: String,
        value: Bytes,
        revision: u64,
    },
    /// A key was deleted or purged.
    Delete { key: String, revision: u64 },
    /// Every key's current value has been delivered; what follows are changes.
    Ready,
}

fn kv_err(bucket: &str, fault: Fault, e: impl Into<async_nats::Error>) -> BusError {
    BusError::Kv {
        bucket: bucket.to_owned(),
        fault,
        source: e.into(),
    }
}

/// Opens the bucket `base` under the bus's prefix, creating it (keeping
/// `history` values per key) when it does not exist.
pub async fn bucket(bus: &Bus, base: &str, history: i64) -> Result<Store, BusError> {
    let name = bus.subjects.bucket_name(base);
    match bus.js.get_key_value(&name).await {
        Ok(store) => Ok(store),
        Err(_) => bus
            .js
            .create_key_value(kv::Config {
                bucket: name.clone(),
                history,
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                use async_nats::jetstream::context::CreateKeyValueErrorKind as K;
                let fault = match e.kind() {
                    K::TimedOut | K::JetStream => Fault::Transient,
                    _ => Fault::Permanent,
                };
                kv_err(&name, fault, e)
            }),
    }
}

/// Opens the existing bucket `base` under the bus's prefix, without
/// creating it (the operator does: `arbctl streams --ensure`). Missing:
/// [`BusError::Missing`], retryable.
pub async fn open(bus: &Bus, base: &str) -> Result<Store, BusError> {
    let name = bus.subjects.bucket_name(base);
    let stream = format!("KV_{name}");
    match bus.js.get_stream(&stream).await {
        Ok(_) => {}
        Err(e) if crate::bus::is_not_found(&e) => {
            return Err(BusError::Missing {
                what: format!("NATS KV bucket {name}"),
                ensure: bus.ensure_command(),
            });
        }
        Err(e) => return Err(kv_err(&name, crate::bus::get_stream_fault(&e), e)),
    }
    bus.js
        .get_key_value(&name)
        .await
        .map_err(|e| kv_err(&name, Fault::Permanent, e))
}

/// Watches every key of `store`: current values first, then
/// [`KvEvent::Ready`], then changes.
pub async fn watch(
    store: &Store,
) -> Result<impl Stream<Item = Result<KvEvent, BusError>> + use<>, BusError> {
    let bucket = store.name.clone();
    // Whether the bucket holds anything now, read fresh (`Store::status`
    // answers from the info cached when the store was opened). If it does,
    // the watch's entries carry how many of the current ones are still to come.
    let mut stream = store.stream.clone();
    let initial = stream
        .info()
        .await
        .map_err(|e| kv_err(&bucket, Fault::Transient, e))?
        .state
        .messages;
    let watch = store
        .watch_with_history(">")
        .await
        .map_err(|e| kv_err(&bucket, Fault::Transient, e))?;
    // (watch, current state delivered, Ready announced, bucket)
    let state = (watch, initial == 0, false, bucket);
    Ok(futures::stream::unfold(
        state,
        |(mut watch, mut ready, mut announced, bucket)| async move {
            if ready && !announced {
                announced = true;
                return Some((Ok(KvEvent::Ready), (watch, ready, announced, bucket)));
            }
            let next = watch.next().await?;
            let event = match next {
                Err(e) => Err(kv_err(&bucket, Fault::Transient, e)),
                Ok(entry) => {
                    // The last entry of the current state has nothing pending.
                    if !ready && entry.delta == 0 {
                        ready = true;
                    }
                    Ok(match entry.operation {
                        Operation::Put => KvEvent::Put {
                            key: entry.key,
                            value: entry.value,
                            revision: entry.revision,
                        },
                        Operation::Delete | Operation::Purge => KvEvent::Delete {
                            key: entry.key,
                            revision: entry.revision,
                        },
                    })
                }
            };
            Some((event, (watch, ready, announced, bucket)))
        },
    ))
}

/// Puts `value` under `key`; returns the new revision.
pub async fn put(store: &Store, key: &str, value: Bytes) -> Result<u64, BusError> {
    store.put(key, value).await.map_err(|e| {
        use async_nats::jetstream::kv::PutErrorKind as K;
        let fault = match e.kind() {
            K::InvalidKey => Fault::Permanent,
            _ => Fault::Transient,
        };
        kv_err(&store.name, fault, e)
    })
}

/// What one revision of a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOperation {
    Put,
    Delete,
    Purge,
}

impl KvOperation {
    /// `put`, `delete` or `purge`.
    pub fn as_str(self) -> &'static str {
        match self {
            KvOperation::Put => "put",
            KvOperation::Delete => "delete",
            KvOperation::Purge => "purge",
        }
    }
}

impl From<Operation> for KvOperation {
    fn from(op: Operation) -> Self {
        match op {
            Operation::Put => KvOperation::Put,
            Operation::Delete => KvOperation::Delete,
            Operation::Purge => KvOperation::Purge,
        }
    }
}

/// One revision of a key as the bucket keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRevision {
    pub key: String,
    /// Empty for a delete or purge.
    pub value: Bytes,
    pub revision: u64,
    /// When the server stored it (its clock, not ours).
    pub created: Timestamp,
    pub operation: KvOperation,
}

/// Every revision of `key` the bucket still keeps (as many as its
/// `history`), oldest first; empty for a key never written.
pub async fn history(store: &Store, key: &str) -> Result<Vec<KvRevision>, BusError> {
    let entries = store.history(key).await.map_err(|e| {
        use async_nats::jetstream::kv::HistoryErrorKind as K;
        let fault = match e.kind() {
            K::InvalidKey => Fault::Permanent,
            _ => Fault::Transient,
        };
        kv_err(&store.name, fault, e)
    })?;
    entries
        .map_err(|e| kv_err(&store.name, Fault::Transient, e))
        .map_ok(|entry| KvRevision {
            // Saturates past year 2262, which no server clock reports.
            created: from_nanos(
                i64::try_from(entry.created.unix_timestamp_nanos()).unwrap_or(i64::MAX),
            ),
            key: entry.key,
            value: entry.value,
            revision: entry.revision,
            operation: entry.operation.into(),
        })
        .try_collect()
        .await
}
