//! Subject builders and parsers for the contract, with an optional prefix so
//! tests and parallel stacks can share one NATS server.
//!
//! | subject | stream |
//! |---|---|
//! | `md.book.<venue>.<BASE-QUOTE>`, `md.status.<venue>` | MD |
//! | `arb.opp.<kind>.<key>` | ARB |
//! | `exec.order.<venue>.<BASE-QUOTE>`, `exec.trade.<strategy>`, `exec.pnl.<strategy>`, `exec.portfolio.<venue>`, `exec.transfer.<ASSET>` | EXEC |
//! | `sys.audit.<service>`, `sys.state.<service>`, `sys.dlq.<service>` | SYS |

use crate::error::SubjectError;
use crate::model::OpportunityKind;
use crate::symbol::Symbol;

/// Checks that `token` can stand as one subject token.
pub fn check_token<'a>(what: &'static str, token: &'a str) -> Result<&'a str, SubjectError> {
    if token.is_empty() {
        return Err(SubjectError::EmptyToken { what });
    }
    if token
        .chars()
        .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
    {
        return Err(SubjectError::BadToken {
            what,
            token: token.to_owned(),
        });
    }
    Ok(token)
}

/// The four JetStream streams of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Md,
    Arb,
    Exec,
    Sys,
}

impl StreamKind {
    pub const ALL: [StreamKind; 4] = [
        StreamKind::Md,
        StreamKind::Arb,
        StreamKind::Exec,
        StreamKind::Sys,
    ];

    /// The stream's base name (`MD`, `ARB`, ...).
    pub fn base_name(self) -> &'static str {
        match self {
            StreamKind::Md => "MD",
            StreamKind::Arb => "ARB",
            StreamKind::Exec => "EXEC",
            StreamKind::Sys => "SYS",
        }
    }

    /// The first subject token of every subject in the stream.
    pub fn root(self) -> &'static str {
        match self {
            StreamKind::Md => "md",
            StreamKind::Arb => "arb",
            StreamKind::Exec => "exec",
            StreamKind::Sys => "sys",
        }
    }

    pub fn from_name(name: &str) -> Option<StreamKind> {
        StreamKind::ALL
            .into_iter()
            .find(|k| k.base_name().eq_ignore_ascii_case(name))
    }
}

/// What a contract subject names, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectKind {
    Book { venue: String, symbol: Symbol },
    Status { venue: String },
    Opportunity { kind: String, key: String },
    Order { venue: String, symbol: Symbol },
    Trade { strategy: String },
    Pnl { strategy: String },
    Portfolio { venue: String },
    Transfer { asset: String },
    Audit { service: String },
    State { service: String },
    Dlq { service: String },
}

impl SubjectKind {
    /// The schema name of the message this subject carries.
    pub fn schema(&self) -> &'static str {
        match self {
            SubjectKind::Book { .. } => "book_snapshot",
            SubjectKind::Status { .. } => "feed_status",
            SubjectKind::Opportunity { .. } => "opportunity",
            SubjectKind::Order { .. } => "order_event",
            SubjectKind::Trade { .. } => "trade_event",
            SubjectKind::Pnl { .. } => "pnl_event",
            SubjectKind::Portfolio { .. } => "portfolio_snapshot",
            SubjectKind::Transfer { .. } => "transfer_event",
            SubjectKind::Audit { .. } => "audit_event",
            SubjectKind::State { .. } => "runtime_state",
            SubjectKind::Dlq { .. } => "dead_letter",
        }
    }
}

/// Builds and parses subjects under an optional prefix (`ARB_SUBJECT_PREFIX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    prefix: Option<String>,
}

impl Subjects {
    /// `prefix` may hold several tokens (`test.42`); empty means none.
    pub fn new(prefix: Option<&str>) -> Result<Self, SubjectError> {
        let prefix = prefix
            .map(|p| p.trim_matches('.'))
            .filter(|p| !p.is_empty());
        if let Some(p) = prefix {
            for t in p.split('.') {
                check_token("prefix", t)?;
            }
        }
        Ok(Subjects {
            prefix: prefix.map(str::to_owned),
        })
    }

    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    fn join(&self, tokens: &[&str]) -> String {
        let mut s = String::with_capacity(64);
        if let Some(p) = &self.prefix {
            s.push_str(p);
            s.push('.');
        }
        s.push_str(&tokens.join("."));
        s
    }

    /// Prepends the prefix to a pattern or subject written without one.
    pub fn with_prefix(&self, subject: &str) -> String {
        self.join(&[subject])
    }

    /// Removes the prefix, if the subject carries it.
    pub fn strip_prefix<'a>(&self, subject: &'a str) -> Option<&'a str> {
        match &self.prefix {
            None => Some(subject),
            Some(p) => subject
                .strip_prefix(p.as_str())
                .and_then(|r| r.strip_prefix('.')),
        }
    }

    pub fn book(&self, venue: &str, symbol: &Symbol) -> Result<String, SubjectError> {
        Ok(self.join(&["md", "book", check_token("venue", venue)?, &symbol.token()]))
    }

    pub fn status(&self, venue: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["md", "status", check_token("venue", venue)?]))
    }

    pub fn opportunity(&self, kind: OpportunityKind, key: &str) -> Result<String, SubjectError> {
        Ok(self.join(&[
            "arb",
            "opp",
            kind.as_str(),
            check_token("opportunity key", key)?,
        ]))
    }

    pub fn order(&self, venue: &str, symbol: &Symbol) -> Result<String, SubjectError> {
        Ok(self.join(&[
            "exec",
            "order",
            check_token("venue", venue)?,
            &symbol.token(),
        ]))
    }

    pub fn trade(&self, strategy: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["exec", "trade", check_token("strategy", strategy)?]))
    }

    pub fn pnl(&self, strategy: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["exec", "pnl", check_token("strategy", strategy)?]))
    }

    pub fn portfolio(&self, venue: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["exec", "portfolio", check_token("venue", venue)?]))
    }

    pub fn transfer(&self, asset: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["exec", "transfer", check_token("asset", asset)?]))
    }

    pub fn audit(&self, service: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["sys", "audit", check_token("service", service)?]))
    }

    pub fn state(&self, service: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["sys", "state", check_token("service", service)?]))
    }

    pub fn dlq(&self, service: &str) -> Result<String, SubjectError> {
        Ok(self.join(&["sys", "dlq", check_token("service", service)?]))
    }

    /// The prefix as a name part (`test.42` → `test_42`), for stream and
    /// bucket names, which cannot hold `.`.
    fn name_part(&self) -> Option<String> {
        self.prefix.as_ref().map(|p| {
            p.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        })
    }

    /// The name of a stream under this prefix: `MD`, or `TEST_42_MD` with prefix `test.42`.
    pub fn stream_name(&self, kind: StreamKind) -> String {
        match self.name_part() {
            None => kind.base_name().to_owned(),
            Some(p) => format!("{}_{}", p.to_ascii_uppercase(), kind.base_name()),
        }
    }

    /// The name of a NATS KV bucket under this prefix: `arb_config`, or
    /// `test_42_arb_config` with prefix `test.42`.
    pub fn bucket_name(&self, base: &str) -> String {
        match self.name_part() {
            None => base.to_owned(),
            Some(p) => format!("{p}_{base}"),
        }
    }

    /// The subject filter a stream captures, e.g. `md.>`.
    pub fn stream_filter(&self, kind: StreamKind) -> String {
        self.join(&[kind.root(), ">"])
    }

    /// Which stream a subject belongs to.
    pub fn stream_of(&self, subject: &str) -> Option<StreamKind> {
        let rest = self.strip_prefix(subject)?;
        let root = rest.split('.').next()?;
        StreamKind::ALL.into_iter().find(|k| k.root() == root)
    }

    /// Parses a contract subject (with this prefix) into what it names.
    pub fn parse(&self, subject: &str) -> Result<SubjectKind, SubjectError> {
        let unknown = || SubjectError::Unknown(subject.to_owned());
        let rest = self.strip_prefix(subject).ok_or_else(unknown)?;
        let t: Vec<&str> = rest.split('.').collect();
        let one = |what| check_token(what, t[2]).map(str::to_owned);
        Ok(match (t.as_slice(), t.len()) {
            (["md", "book", ..], 4) => SubjectKind::Book {
                venue: one("venue")?,
                symbol: Symbol::from_token(t[3])?,
            },
            (["md", "status", ..], 3) => SubjectKind::Status {
                venue: one("venue")?,
            },
            (["arb", "opp", ..], 4) => SubjectKind::Opportunity {
                kind: one("opportunity kind")?,
                key: check_token("opportunity key", t[3])?.to_owned(),
            },
            (["exec", "order", ..], 4) => SubjectKind::Order {
                venue: one("venue")?,
                symbol: Symbol::from_token(t[3])?,
            },
            (["exec", "trade", ..], 3) => SubjectKind::Trade {
                strategy: one("strategy")?,
            },
            (["exec", "pnl", ..], 3) => SubjectKind::Pnl {
                strategy: one("strategy")?,
            },
            (["exec", "portfolio", ..], 3) => SubjectKind::Portfolio {
                venue: one("venue")?,
            },
            (["exec", "transfer", ..], 3) => SubjectKind::Transfer {
                asset: one("asset")?,
            },
            (["sys", "audit", ..], 3) => SubjectKind::Audit {
                service: one("service")?,
            },
            (["sys", "state", ..], 3) => SubjectKind::State {
                service: one("service")?,
            },
            (["sys", "dlq", ..], 3) => SubjectKind::Dlq {
                service: one("service")?,
            },
            _ => return Err(unknown()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        s.parse().unwrap()
    }

    #[test]
    fn builds_and_parses_every_subject() {
        let s = Subjects::default();
        let cases = [
            (
                s.book("kraken", &sym("BTC/USD")).unwrap(),
                "md.book.kraken.BTC-USD",
            ),
            (s.status("binance").unwrap(), "md.status.binance"),
            (
                s.opportunity(OpportunityKind::Cross, "BTC-USD_a_b")
                    .unwrap(),
                "arb.opp.cross.BTC-USD_a_b",
            ),
            (
                s.order("sim-a", &sym("ETH/BTC")).unwrap(),
                "exec.order.sim-a.ETH-BTC",
            ),
            (s.trade("cross").unwrap(), "exec.trade.cross"),
            (s.pnl("cross").unwrap(), "exec.pnl.cross"),
            (s.portfolio("kraken").unwrap(), "exec.portfolio.kraken"),
            (s.transfer("BTC").unwrap(), "exec.transfer.BTC"),
            (s.audit("feed").unwrap(), "sys.audit.feed"),
            (s.state("sink").unwrap(), "sys.state.sink"),
            (s.dlq("sink").unwrap(), "sys.dlq.sink"),
        ];
        let schemas = [
            "book_snapshot",
            "feed_status",
            "opportunity",
            "order_event",
            "trade_event",
            "pnl_event",
            "portfolio_snapshot",
            "transfer_event",
            "audit_event",
            "runtime_state",
            "dead_letter",
        ];
        assert_eq!(cases.len(), schemas.len());
        for ((built, want), schema) in cases.iter().zip(schemas) {
            assert_eq!(built, want);
            assert_eq!(s.parse(built).unwrap().schema(), schema, "{built}");
        }
        assert_eq!(
            s.parse("md.book.kraken.BTC-USD").unwrap(),
            SubjectKind::Book {
                venue: "kraken".into(),
                symbol: sym("BTC/USD")
            }
        );
    }

    #[test]
    fn prefix_is_added_stripped_and_names_streams() {
        let s = Subjects::new(Some("t.42")).unwrap();
        let subj = s.book("sim-a", &sym("BTC/USD")).unwrap();
        assert_eq!(subj, "t.42.md.book.sim-a.BTC-USD");
        assert!(matches!(s.parse(&subj).unwrap(), SubjectKind::Book { .. }));
        assert!(
            s.parse("md.book.sim-a.BTC-USD").is_err(),
            "a subject without the prefix is foreign"
        );
        assert_eq!(s.stream_name(StreamKind::Md), "T_42_MD");
        assert_eq!(s.stream_filter(StreamKind::Exec), "t.42.exec.>");
        assert_eq!(s.stream_of(&subj), Some(StreamKind::Md));
        assert_eq!(Subjects::default().stream_name(StreamKind::Sys), "SYS");
    }

    #[test]
    fn bad_tokens_get_a_clear_error() {
        let s = Subjects::default();
        assert_eq!(
            s.status("kra.ken").unwrap_err(),
            SubjectError::BadToken {
                what: "venue",
                token: "kra.ken".into()
            }
        );
        assert_eq!(
            s.trade("").unwrap_err(),
            SubjectError::EmptyToken { what: "strategy" }
        );
        assert!(s.audit("a b").is_err());
        assert!(s.audit("a>").is_err());
        assert!(Subjects::new(Some("bad prefix")).is_err());
        for bad in [
            "md.book.kraken",
            "md.book.kraken.BTCUSD",
            "nope.x.y",
            "md.status.a.b",
            "",
        ] {
            assert!(s.parse(bad).is_err(), "{bad:?}");
        }
    }
}
