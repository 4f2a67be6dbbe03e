//! `arbctl db nuke --yes`: drops schema public with everything in it and
//! makes it again as a new database has it, empty, for `arbctl db migrate`
//! or `arbctl db restore` to fill. The guard rails come before any
//! connection: `--yes`, and `--force` for a server not on this machine.

use std::io::Write;
use std::net::IpAddr;

use anyhow::{Context, bail};
use arb_runtime::secret::{Secret, redact_url};
use sqlx::postgres::PgConnectOptions;

use super::NukeArgs;

pub(super) async fn run(
    database_url: Option<Secret>,
    args: &NukeArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let url = database_url.context("--database-url or DATABASE_URL is required")?;
    let shown = redact_url(url.expose());
    if !args.yes {
        bail!(
            "refusing to nuke {shown} without --yes: it drops schema public with every table \
             and row in it"
        );
    }
    let server = server_of(url.expose())?;
    if !server.local && !args.force {
        bail!(
            "refusing to nuke {shown}: {} is not this machine (localhost, 127.0.0.1, ::1 or a \
             unix socket); add --force to nuke a database on another server",
            server.host
        );
    }

    let pool = crate::connect_db(Some(url)).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&pool)
        .await?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )
    .fetch_one(&pool)
    .await?;
    let mut tx = pool.begin().await?;
    // As `CREATE DATABASE` leaves it. Before PostgreSQL 15 everyone could
    // create in it and its owner was the bootstrap superuser (here: us).
    let recreate: &[&str] = if version >= 150_000 {
        &[
            "CREATE SCHEMA public AUTHORIZATION pg_database_owner",
            "GRANT USAGE ON SCHEMA public TO PUBLIC",
        ]
    } else {
        &[
            "CREATE SCHEMA public",
            "GRANT ALL ON SCHEMA public TO PUBLIC",
        ]
    };
    // A service still writing would hold its locks: fail rather than wait.
    for sql in [
        "SET LOCAL lock_timeout = '10s'",
        "DROP SCHEMA IF EXISTS public CASCADE",
    ]
    .iter()
    .chain(recreate)
    .chain(&["COMMENT ON SCHEMA public IS 'standard public schema'"])
    {
        sqlx::query(sql).execute(&mut *tx).await.with_context(|| {
            format!(
                "nuking {database} failed at `{sql}`, nothing changed (is something still \
                 using it? stop the services that write to it first)"
            )
        })?;
    }
    tx.commit().await?;
    pool.close().await;
    writeln!(
        out,
        "nuked {database} at {shown}: schema public dropped ({tables} tables) and made again, \
         empty; `arbctl db migrate` or `arbctl db restore FILE --into URL` fills it"
    )?;
    Ok(0)
}

/// Where a URL connects, as sqlx resolves it (no host: a local socket or localhost).
#[derive(Debug, PartialEq, Eq)]
struct Server {
    host: String,
    local: bool,
}

fn server_of(url: &str) -> anyhow::Result<Server> {
    let opts: PgConnectOptions = url
        .parse()
        .map_err(|e| anyhow::anyhow!("bad database URL {}: {e}", redact_url(url)))?;
    if let Some(socket) = opts.get_socket() {
        return Ok(Server {
            host: socket.display().to_string(),
            local: true,
        });
    }
    let host = opts.get_host().to_owned();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.starts_with('/')
        || bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok(Server { host, local })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_local() {
        for (url, local) in [
            ("postgres://postgres@127.0.0.1:5432/arbitrade", true),
            ("postgres://postgres@127.0.0.2/arbitrade", true),
            ("postgres://postgres@localhost/arbitrade", true),
            ("postgres://postgres@LOCALHOST/arbitrade", true),
            ("postgres://postgres@[::1]:5432/arbitrade", true),
            (
                "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/arbitrade",
                true,
            ),
            ("postgres://postgres@x/arbitrade?host=/tmp", true),
            ("postgres://arb:hunter2@db.example.invalid:5432/arb", false),
            ("postgres://arb@postgres:5432/arbitrade", false),
            ("postgres://arb@10.0.0.7/arbitrade", false),
            ("postgres://arb@localhost.example.com/arbitrade", false),
            ("postgres://arb@[2001:db8::1]/arbitrade", false),
        ] {
            assert_eq!(server_of(url).unwrap().local, local, "{url}");
        }
        let e = server_of("postgres://arb:hunter2@db:port/x").unwrap_err();
        assert!(!format!("{e:#}").contains("hunter2"), "{e:#}");
    }
}
