//! Command-line options shared by every binary. Each flag has an environment
//! variable behind it (`NATS_URL`, `ARB_SUBJECT_PREFIX`, ...).

use std::str::FromStr;
use std::time::Duration;

use arb_contract::subject::{StreamKind, Subjects};

use rust_decimal::Decimal;

use crate::error::ConfigError;

/// A bad option value: which option, the value, and why.
pub fn bad_value(what: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        what,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// A `--stream` value: `md`, `arb`, `exec` or `sys` (any case).
pub fn parse_stream(s: &str) -> Result<StreamKind, ConfigError> {
    StreamKind::from_name(s.trim())
        .ok_or_else(|| bad_value("--stream", s, "one of md, arb, exec, sys"))
}

/// Splits `key=value` (of the `form` given, e.g. `venue=rate`) for the
/// option `what`, the key cleaned by `clean` and not empty.
pub fn key_value<'a>(
    what: &'static str,
    form: &str,
    s: &'a str,
    clean: fn(&str) -> String,
) -> Result<(String, &'a str), ConfigError> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| bad_value(what, s, format!("not of the form {form}")))?;
    let key = clean(key);
    if key.is_empty() {
        let name = form.split('=').next().unwrap_or(form);
        return Err(bad_value(what, s, format!("no {name}")));
    }
    Ok((key, value))
}

/// `venue=rate`, a taker fee as a fraction (`kraken=0.0040`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSpec {
    pub venue: String,
    pub rate: Decimal,
}

impl FromStr for FeeSpec {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (venue, rate) = key_value("fee", "venue=rate", s, |v| v.trim().to_owned())?;
        let rate = parse_fee_rate(rate)?;
        Ok(FeeSpec { venue, rate })
    }
}

/// A number for `what` that passes `ok`; `rule` says what `ok` asks.
pub fn decimal_where(
    what: &'static str,
    s: &str,
    ok: fn(&Decimal) -> bool,
    rule: &str,
) -> Result<Decimal, ConfigError> {
    let d = Decimal::from_str(s.trim()).map_err(|e| bad_value(what, s, e.to_string()))?;
    if ok(&d) {
        Ok(d)
    } else {
        Err(bad_value(what, s, rule))
    }
}

/// A fee rate as a fraction in `[0, 1)`.
pub fn parse_fee_rate(s: &str) -> Result<Decimal, ConfigError> {
    decimal_where(
        "fee rate",
        s,
        |r| !r.is_sign_negative() && *r < Decimal::ONE,
        "must be a fraction in [0, 1), e.g. 0.0010 for 10 bp",
    )
}

/// A decimal of zero or more.
pub fn parse_non_negative_decimal(s: &str) -> Result<Decimal, ConfigError> {
    decimal_where(
        "number",
        s,
        |d| !d.is_sign_negative(),
        "must not be negative",
    )
}

/// A decimal above zero.
pub fn parse_positive_decimal(s: &str) -> Result<Decimal, ConfigError> {
    decimal_where(
        "number",
        s,
        |d| *d > Decimal::ZERO,
        "must be greater than zero",
    )
}

/// Parses `30s`, `5m`, `24h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s).map_err(|e| ConfigError::Duration {
        value: s.to_owned(),
        reason: e.to_string(),
    })
}

/// Parses a byte size: `1073741824`, `512MiB`, `1GiB`, `10GB`, `-1` (no limit).
pub fn parse_bytes(s: &str) -> Result<i64, ConfigError> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let bad = |reason| ConfigError::Size {
        value: s.to_owned(),
        reason,
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad("not a number"))?;
    let mult: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        _ => return Err(bad("unknown unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")),
    };
    n.checked_mul(mult).ok_or_else(|| bad("too large"))
}

/// How to reach NATS and which subject space to use.
#[derive(clap::Args, Debug, Clone)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated. A password in the URL is never logged.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS user (with --nats-password), when not given in the URL.
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<crate::secret::Secret>,
    /// A NATS credentials file (JWT + nkey).
    #[arg(long, env = "NATS_CREDS")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// Prefix for every subject and stream name, so stacks can share a server.
    #[arg(long, env = "ARB_SUBJECT_PREFIX")]
    pub subject_prefix: Option<String>,
    /// Where replies to this process's requests (JetStream acks and API
    /// answers, consumer deliveries) come: `_INBOX.feed` makes them
    /// `_INBOX.feed.<id>`, so a NATS user allowed only its own inbox reads no
    /// one else's replies. Default `_INBOX`.
    #[arg(long, env = "NATS_INBOX_PREFIX")]
    pub nats_inbox_prefix: Option<String>,
}

/// A clap `Args` struct with every flag at its clap default and the
/// environment ignored. `Default` impls return this, so a default written in
/// a `#[arg(default_value ..)]` is the only one there is.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults"))
        .no_binary_name(true)
        .mut_args(|a| a.env(None::<&str>));
    let m = cmd
        .try_get_matches_from(std::iter::empty::<&str>())
        .unwrap_or_else(|e| panic!("a flag without a default in a Default config: {e}"));
    T::from_arg_matches(&m).unwrap_or_else(|e| panic!("clap defaults do not parse: {e}"))
}

impl Default for NatsArgs {
    fn default() -> Self {
        defaults()
    }
}

impl NatsArgs {
    pub fn subjects(&self) -> Result<Subjects, arb_contract::SubjectError> {
        Subjects::new(self.subject_prefix.as_deref())
    }

    /// The inbox prefix given (`--nats-inbox-prefix`), checked: subject
    /// tokens, no wildcards. `None`: the client's default, `_INBOX`.
    pub fn inbox_prefix(&self) -> Result<Option<&str>, arb_contract::SubjectError> {
        let Some(p) = self.nats_inbox_prefix.as_deref().filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        for t in p.split('.') {
            arb_contract::subject::check_token("inbox prefix", t)?;
        }
        Ok(Some(p))
    }
}

/// Retention of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub max_age: Duration,
    /// -1 for no limit.
    pub max_bytes: i64,
}

/// Retention of the four streams; the window in which JetStream drops a
/// re-published message id.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct StreamArgs {
    #[arg(long, env = "ARB_MD_MAX_AGE", value_parser = parse_duration, default_value = "24h")]
    pub md_max_age: Duration,
    #[arg(long, env = "ARB_MD_MAX_BYTES", value_parser = parse_bytes, default_value = "4GiB")]
    pub md_max_bytes: i64,
    #[arg(long, env = "ARB_ARB_MAX_AGE", value_parser = parse_duration, default_value = "30d")]
    pub arb_max_age: Duration,
    #[arg(long, env = "ARB_ARB_MAX_BYTES", value_parser = parse_bytes, default_value = "1GiB")]
    pub arb_max_bytes: i64,
    #[arg(long, env = "ARB_EXEC_MAX_AGE", value_parser = parse_duration, default_value = "365d")]
    pub exec_max_age: Duration,
    #[arg(long, env = "ARB_EXEC_MAX_BYTES", value_parser = parse_bytes, default_value = "1GiB")]
    pub exec_max_bytes: i64,
    #[arg(long, env = "ARB_SYS_MAX_AGE", value_parser = parse_duration, default_value = "30d")]
    pub sys_max_age: Duration,
    #[arg(long, env = "ARB_SYS_MAX_BYTES", value_parser = parse_bytes, default_value = "512MiB")]
    pub sys_max_bytes: i64,
    /// JetStream drops a message whose Nats-Msg-Id it saw within this window.
    #[arg(long, env = "ARB_DUPLICATE_WINDOW", value_parser = parse_duration, default_value = "2m")]
    pub duplicate_window: Duration,
}

impl Default for StreamArgs {
    fn default() -> Self {
        defaults()
    }
}

impl StreamArgs {
    pub fn limits(&self, kind: StreamKind) -> StreamLimits {
        let (max_age, max_bytes) = match kind {
            StreamKind::Md => (self.md_max_age, self.md_max_bytes),
            StreamKind::Arb => (self.arb_max_age, self.arb_max_bytes),
            StreamKind::Exec => (self.exec_max_age, self.exec_max_bytes),
            StreamKind::Sys => (self.sys_max_age, self.sys_max_bytes),
        };
        StreamLimits { max_age, max_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_flags_defaults() {
        let s = StreamArgs::default();
        assert_eq!(s.md_max_age, Duration::from_secs(86_400));
        assert_eq!(s.md_max_bytes, 4 << 30);
        assert_eq!(s.sys_max_bytes, 512 << 20);
        assert_eq!(s.duplicate_window, Duration::from_secs(120));
        assert_eq!(NatsArgs::default().nats_url, "nats://127.0.0.1:4222");
        assert_eq!(NatsArgs::default().subject_prefix, None);
        assert_eq!(NatsArgs::default().inbox_prefix(), Ok(None));
    }

    #[test]
    fn inbox_prefixes_are_subject_tokens() {
        let with = |p: &str| NatsArgs {
            nats_inbox_prefix: Some(p.to_owned()),
            ..NatsArgs::default()
        };
        assert_eq!(with("_INBOX.feed").inbox_prefix(), Ok(Some("_INBOX.feed")));
        assert_eq!(with("").inbox_prefix(), Ok(None));
        for bad in [
            "_INBOX.>",
            "_INBOX.*",
            "_INBOX..feed",
            "_INBOX.feed.",
            "a b",
        ] {
            assert!(with(bad).inbox_prefix().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert!(parse_bytes("12x").is_err());
        assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("soon").is_err());
    }
}
