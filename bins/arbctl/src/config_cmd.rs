//! `arbctl config`: the paper executor's runtime configuration in the NATS KV
//! bucket `arb_config` (under the subject prefix). `get` and `history` read
//! it, `watch` follows it as JSON lines, `set` writes one key after checking
//! it with [`arb_exec::settings::entry`], the parser the executor applies,
//! so a value the executor would refuse never reaches the bucket.

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::kv::{Operation, Store};
use bytes::Bytes;
use clap::Subcommand;
use futures::StreamExt;
use serde_json::{Value, json};

use arb_exec::settings::{self, Key};
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, parse_duration};
use arb_runtime::kv::{self, KvEvent};

/// Revisions kept per key when the bucket is created here.
pub(crate) const HISTORY: i64 = 64;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// One key's value, or every key with its revision and value.
    Get {
        #[command(flatten)]
        nats: NatsArgs,
        /// trading_state, limits, fees.<venue> or latency.<venue>; every key when left out.
        key: Option<String>,
        /// JSON lines (key, value, revision) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a value as the executor would, then write it; prints the new revision.
    Set {
        #[command(flatten)]
        nats: NatsArgs,
        /// trading_state, limits, fees.<venue> or latency.<venue>.
        key: String,
        /// e.g. `halted`, `0.0026`, `{"fixed": "20ms", "jitter": "5ms"}` (a leading `-` is
        /// part of the value, so a negative one is refused for what it is).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Print every current value, then each change, as one JSON line each
    /// (key, value, revision, operation: put or delete; error when the
    /// executor would refuse the value).
    Watch {
        #[command(flatten)]
        nats: NatsArgs,
        /// Stop after this many lines.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this long.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Every revision of one key the bucket keeps: revision, time, operation, value.
    History {
        #[command(flatten)]
        nats: NatsArgs,
        key: String,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `config` command. Returns the exit code: 1 when `get` or
/// `history` finds nothing for the key; a bad key or value is an error (2).
pub async fn run(command: ConfigCommand, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    match command {
        ConfigCommand::Get { nats, key, json } => {
            let key = key.as_deref().map(parse_key).transpose()?;
            let store = open(&nats).await?;
            match key {
                Some(key) => get_one(&store, &key, json, out).await,
                None => get_all(&store, json, out).await,
            }
        }
        ConfigCommand::Set { nats, key, value } => {
            // Checked before anything connects: a refused value writes nothing.
            let (key, value) = settings::entry(&key, value.as_bytes())
                .with_context(|| format!("{key} not set"))?;
            let text = value.to_text();
            let store = open(&nats).await?;
            let revision = kv::put(&store, &key.to_string(), Bytes::from(text.clone())).await?;
            eprintln!("{key} = {text}");
            writeln!(out, "{revision}")?;
            Ok(0)
        }
        ConfigCommand::Watch {
            nats,
            count,
            timeout,
        } => {
            let store = open(&nats).await?;
            watch(&store, count, timeout, out).await
        }
        ConfigCommand::History { nats, key, json } => {
            let key = parse_key(&key)?;
            let store = open(&nats).await?;
            history(&store, &key, json, out).await
        }
    }
}

fn parse_key(text: &str) -> anyhow::Result<Key> {
    Ok(Key::from_str(text)?)
}

async fn open(nats: &NatsArgs) -> anyhow::Result<Store> {
    let bus = Bus::connect_once(nats, "arbctl-config").await?;
    let store = kv::bucket(&bus, settings::BUCKET, HISTORY).await?;
    Ok(store)
}

/// A stored value as text for a person: what a value in the bucket says when
/// the executor would refuse it.
fn check(key: &str, value: &[u8]) -> Option<String> {
    settings::entry(key, value).err().map(|e| e.to_string())
}

fn line(key: &str, value: Option<&[u8]>, revision: u64, operation: &str) -> Value {
    let mut line = json!({
        "key": key,
        "value": value.map(String::from_utf8_lossy),
        "revision": revision,
        "operation": operation,
    });
    if let Some(error) = value.and_then(|v| check(key, v)) {
        line["error"] = json!(error);
    }
    line
}

async fn get_one(
    store: &Store,
    key: &Key,
    as_json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let name = key.to_string();
    let entry = store
        .entry(&name)
        .await
        .with_context(|| format!("cannot read {name} from {}", store.name))?;
    let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
        eprintln!("{name} has no value in {}", store.name);
        return Ok(1);
    };
    if as_json {
        writeln!(
            out,
            "{}",
            line(&name, Some(&entry.value), entry.revision, "put")
        )?;
    } else {
        writeln!(out, "{}", String::from_utf8_lossy(&entry.value))?;
    }
    Ok(0)
}

async fn get_all(
    store: &Store,
    as_json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let mut current = std::collections::BTreeMap::new();
    let mut events = Box::pin(kv::watch(store).await?);
    while let Some(event) = events.next().await {
        match event? {
            KvEvent::Put {
                key,
                value,
                revision,
            } => {
                current.insert(key, (value, revision));
            }
            KvEvent::Delete { key, .. } => {
                current.remove(&key);
            }
            KvEvent::Ready => break,
        }
    }
    let width = current.keys().map(String::len).max().unwrap_or(0);
    for (key, (value, revision)) in &current {
        if as_json {
            writeln!(out, "{}", line(key, Some(value), *revision, "put"))?;
            continue;
        }
        let text = String::from_utf8_lossy(value);
        match check(key, value) {
            None => writeln!(out, "{key:<width$}  rev {revision:<5} {text}")?,
            Some(e) => writeln!(
                out,
                "{key:<width$}  rev {revision:<5} {text}  (INVALID: {e})"
            )?,
        }
    }
    if current.is_empty() {
        eprintln!("{} holds no values", store.name);
    }
    Ok(0)
}

async fn watch(
    store: &Store,
    count: Option<u64>,
    timeout: Option<Duration>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let mut events = Box::pin(kv::watch(store).await?);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut seen = 0u64;
    let mut ready = false;
    while count.is_none_or(|c| seen < c) {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, events.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
            None => tokio::select! {
                n = events.next() => n,
                _ = arb_runtime::shutdown::signal() => break,
            },
        };
        let Some(event) = next else { break };
        let json = match event? {
            KvEvent::Put {
                key,
                value,
                revision,
            } => line(&key, Some(&value), revision, "put"),
            // A key deleted before the watch began has no current value.
            KvEvent::Delete { .. } if !ready => continue,
            KvEvent::Delete { key, revision } => line(&key, None, revision, "delete"),
            KvEvent::Ready => {
                ready = true;
                eprintln!("watching {} for changes", store.name);
                continue;
            }
        };
        writeln!(out, "{json}")?;
        out.flush()?;
        seen += 1;
    }
    Ok(0)
}

async fn history(
    store: &Store,
    key: &Key,
    as_json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let name = key.to_string();
    let revisions = kv::history(store, &name).await?;
    if revisions.is_empty() {
        eprintln!("{name} has no history in {}", store.name);
        return Ok(1);
    }
    for r in &revisions {
        let time = r
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let op = r.operation.as_str();
        let value = (r.operation == kv::KvOperation::Put).then_some(r.value.as_ref());
        if as_json {
            let mut l = line(&name, value, r.revision, op);
            l["time"] = json!(time);
            writeln!(out, "{l}")?;
        } else {
            let text = value.map(String::from_utf8_lossy).unwrap_or_default();
            writeln!(out, "rev {:<5} {time}  {op:<6} {text}", r.revision)?;
        }
    }
    Ok(0)
}
