//! Keeping secrets out of logs: URLs with their password masked, and a
//! wrapper whose `Debug` and `Display` never show the value.

use std::fmt;

/// A string that prints as `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value itself, for the one place that needs it (signing, connecting).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// A URL with any password (and token-like query values) replaced by `***`;
/// for NATS, a user name without a password too (`nats://<token>@host` is
/// how a token is written). A comma-separated NATS server list is redacted
/// server by server.
pub fn redact_url(raw: &str) -> String {
    if raw.contains(',') && raw.contains("://") {
        return raw
            .split(',')
            .map(|one| redact_url(one.trim()))
            .collect::<Vec<_>>()
            .join(",");
    }
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            } else if !u.username().is_empty()
                && matches!(u.scheme(), "nats" | "tls" | "ws" | "wss")
            {
                let _ = u.set_username("***");
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if pairs.iter().any(|(k, _)| is_secret_key(k)) {
                let mut q = u.query_pairs_mut();
                q.clear();
                for (k, v) in &pairs {
                    q.append_pair(k, if is_secret_key(k) { "***" } else { v });
                }
            }
            u.to_string()
        }
        // Not a URL: show only what cannot be a secret.
        Err(_) => match raw.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => raw.to_owned(),
        },
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["password", "pass", "secret", "token", "key", "sslpassword"]
        .iter()
        .any(|s| k.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let r = redact_url("postgres://arb:hunter2@db:5432/arb?sslmode=disable&password=x2");
        assert!(!r.contains("hunter2") && !r.contains("x2"), "{r}");
        assert!(
            r.contains("db:5432") && r.contains("sslmode=disable"),
            "{r}"
        );
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        // A NATS token is the user name of the URL.
        let r = redact_url("nats://s3cr3t-token@nats:4222,nats://u:pw@other:4222");
        assert!(!r.contains("s3cr3t-token") && !r.contains("pw@"), "{r}");
        assert!(r.contains("nats:4222") && r.contains("other:4222"), "{r}");
        // A PostgreSQL user name alone is no secret.
        assert!(redact_url("postgres://arb@db/arb").contains("arb@db"));
        let s = Secret::new("api-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }
}
