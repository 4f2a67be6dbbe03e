//! pg_dump and pg_restore as child processes: found through `PG_DUMP` /
//! `PG_RESTORE` or the PATH, given the database URL without its password
//! (which goes in `PGPASSWORD`, so no process listing or log shows it), their
//! errors returned with any password masked.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use arb_runtime::secret::redact_url;

/// The two PostgreSQL client programs arbctl runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tool {
    PgDump,
    PgRestore,
}

impl Tool {
    pub(super) fn program(self) -> &'static str {
        match self {
            Tool::PgDump => "pg_dump",
            Tool::PgRestore => "pg_restore",
        }
    }

    /// The variable that names the program's path, ahead of the PATH.
    pub(super) fn env_var(self) -> &'static str {
        match self {
            Tool::PgDump => "PG_DUMP",
            Tool::PgRestore => "PG_RESTORE",
        }
    }

    /// The program's path: `$PG_DUMP` (or `$PG_RESTORE`) when set, else the
    /// first one on the PATH. Missing: an error that says how to provide it.
    pub(super) fn locate(self) -> anyhow::Result<PathBuf> {
        self.locate_in(std::env::var_os(self.env_var()), std::env::var_os("PATH"))
    }

    /// [`Tool::locate`] given the variable's value and the PATH.
    fn locate_in(
        self,
        var_value: Option<OsString>,
        path: Option<OsString>,
    ) -> anyhow::Result<PathBuf> {
        let (program, var) = (self.program(), self.env_var());
        if let Some(p) = var_value.filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if !p.is_file() {
                bail!("{var} is {}, which is not a file", p.display());
            }
            return Ok(p);
        }
        path.iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{program} not found on the PATH: install the PostgreSQL client \
                     (postgresql-client-15, the server's major version or newer) or set {var}"
                )
            })
    }
}

/// A database URL as a child gets it: the URL without its password, and
/// the password apart.
pub(super) struct ChildUrl {
    url: String,
    password: Option<String>,
}

impl ChildUrl {
    /// Takes the password out of the URL's user part and out of a
    /// `password=` query parameter.
    pub(super) fn new(raw: &str) -> anyhow::Result<ChildUrl> {
        let mut u = url::Url::parse(raw)
            .map_err(|e| anyhow::anyhow!("bad database URL {}: {e}", redact_url(raw)))?;
        let mut password = u.password().map(percent_decode);
        let _ = u.set_password(None);
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((_, p)) = pairs.iter().find(|(k, _)| k == "password") {
            password.get_or_insert_with(|| p.clone());
            let rest: Vec<&(String, String)> =
                pairs.iter().filter(|(k, _)| k != "password").collect();
            if rest.is_empty() {
                u.set_query(None);
            } else {
                u.query_pairs_mut().clear().extend_pairs(rest);
            }
        }
        Ok(ChildUrl {
            url: u.to_string(),
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// The URL as shown: no password in it.
    pub(super) fn shown(&self) -> &str {
        &self.url
    }

    /// libpq never prints a password; this is the second line of defence.
    /// A short one (compose's default `arb`) is left alone: masking it would
    /// garble the names in the message (`database arbitrade`).
    fn mask(&self, text: &str) -> String {
        match &self.password {
            Some(p) if p.len() >= 6 => text.replace(p.as_str(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// `%XX` decoded (as the URL's user info is written), lossy UTF-8.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Runs `program` (a [`Tool`], found beforehand) on the database at `url`
/// with `args`; its standard error (warnings) when it succeeds. Dropped
/// while running, the child is killed.
pub(super) async fn run(
    tool: Tool,
    program: &Path,
    url: &ChildUrl,
    args: &[OsString],
) -> anyhow::Result<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--no-password") // never wait on a prompt: no password is a clear error
        .arg(format!("--dbname={}", url.url))
        .args(args)
        .env("PGAPPNAME", format!("arbctl-{}", tool.program()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = &url.password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run {}", program.display()))?;
    let stderr = url.mask(String::from_utf8_lossy(&out.stderr).trim());
    if !out.status.success() {
        bail!(
            "{} failed ({}) on {}: {stderr}",
            tool.program(),
            out.status,
            url.shown()
        );
    }
    Ok(stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let cases = [
            (
                "postgres://arb:hunter2@db:5432/arbitrade?sslmode=disable",
                "postgres://arb@db:5432/arbitrade?sslmode=disable",
                Some("hunter2"),
            ),
            (
                "postgres://arb:p%40ss%2Fw@db/arbitrade",
                "postgres://arb@db/arbitrade",
                Some("p@ss/w"),
            ),
            (
                "postgres://arb@db/arbitrade?password=x2&sslmode=require",
                "postgres://arb@db/arbitrade?sslmode=require",
                Some("x2"),
            ),
            (
                "postgres://arb@db/arbitrade?password=x2",
                "postgres://arb@db/arbitrade",
                Some("x2"),
            ),
            (
                "postgres://postgres@127.0.0.1:5432/arbitrade",
                "postgres://postgres@127.0.0.1:5432/arbitrade",
                None,
            ),
        ];
        for (raw, url, password) in cases {
            let c = ChildUrl::new(raw).unwrap();
            assert_eq!((c.shown(), c.password.as_deref()), (url, password), "{raw}");
        }
        let c = ChildUrl::new("postgres://arb:hunter2@db/x").unwrap();
        assert_eq!(c.mask("auth failed: hunter2"), "auth failed: ***");
        let c = ChildUrl::new("postgres://arb:arb@db/arbitrade").unwrap();
        assert_eq!(c.mask("no database arbitrade"), "no database arbitrade");
        let e = ChildUrl::new("postgres://arb:hunter2@db:port/x")
            .err()
            .unwrap();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn tools_are_found_by_variable_then_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("pg_dump");
        std::fs::write(&bin, "").unwrap();
        let path = Some(std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap());
        let t = Tool::PgDump;
        assert_eq!(t.locate_in(None, path.clone()).unwrap(), bin);
        assert_eq!(t.locate_in(Some("".into()), path.clone()).unwrap(), bin);
        assert_eq!(t.locate_in(Some(bin.clone().into()), None).unwrap(), bin);
        let e = t
            .locate_in(Some("/nonexistent/pg_dump".into()), path)
            .unwrap_err();
        assert!(
            e.to_string().contains("PG_DUMP is /nonexistent/pg_dump"),
            "{e}"
        );
        let e = Tool::PgRestore.locate_in(None, None).unwrap_err();
        assert!(
            e.to_string().contains("pg_restore not found") && e.to_string().contains("PG_RESTORE"),
            "{e}"
        );
    }
}
