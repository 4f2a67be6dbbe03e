//! `arbctl db restore FILE --into URL`: the dump's checksum first (a
//! corrupted or truncated file touches nothing), then a target that must be
//! empty, then pg_restore in one transaction, then the migrations to head
//! and `db verify` with its row counts.
//!
//! `--no-owner`: what is restored belongs to the role restoring it (the
//! owner role that runs the migrations), not to whoever owned it where the
//! dump was taken; that role need not exist here. Grants are restored as
//! they were: the dump grants to arb_writer and arb_reader (migration
//! 20261201000002_roles.sql). Roles belong to the server, not a database, so
//! a restore on the same server finds them; on a new server they are made
//! first, as the migration makes them (LOGIN, no password until one is set).
//! The dump also sets the owner's default privileges (`ALTER DEFAULT
//! PRIVILEGES FOR ROLE <owner>`), which only that role or a superuser may:
//! restore as the owner role or a superuser.

use std::ffi::OsString;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use arb_runtime::db;

use super::RestoreArgs;
use super::store;
use super::tools::{self, ChildUrl, Tool};
use crate::DbCommand;

/// The roles the schema grants to: a dump refers to them, it does not make them.
const ROLES: [&str; 2] = ["arb_writer", "arb_reader"];

pub(super) async fn run(args: &RestoreArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    let pg_restore = Tool::PgRestore.locate()?;
    let file = args.file.clone();
    let sha256 = tokio::task::spawn_blocking(move || store::verify(&file))
        .await?
        .context("refusing to restore, nothing was touched")?;
    writeln!(
        out,
        "checksum ok: {} (sha256 {sha256})",
        args.file.display()
    )?;

    let child = ChildUrl::new(args.into.expose())?;
    let pool = crate::connect_db(Some(args.into.clone())).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    refuse_unless_empty(&pool, &database, child.shown()).await?;
    for role in ensure_roles(&pool).await? {
        writeln!(
            out,
            "created role {role} (the dump grants to it; roles belong to the server, not to a dump)"
        )?;
    }

    let started = Instant::now();
    let args_: [OsString; 4] = [
        "--no-owner".into(),
        "--exit-on-error".into(),
        "--single-transaction".into(),
        args.file.clone().into(),
    ];
    let warnings = tools::run(Tool::PgRestore, &pg_restore, &child, &args_)
        .await
        .with_context(|| {
            format!(
                "restoring {} failed and was rolled back",
                args.file.display()
            )
        })?;
    if !warnings.is_empty() {
        tracing::warn!(%warnings, "pg_restore");
    }
    writeln!(
        out,
        "restored {} into {database} in {:.1}s",
        args.file.display(),
        started.elapsed().as_secs_f64()
    )?;
    db::migrate(&pool)
        .await
        .context("the restored database does not migrate to head")?;
    writeln!(
        out,
        "migrated to head ({} migrations known)",
        db::MIGRATOR.iter().count()
    )?;
    let code = crate::db_command(&pool, DbCommand::Verify { json: false }, out).await?;
    pool.close().await;
    Ok(code)
}

/// Refuses a database with anything of its own in schema public (a table,
/// sequence, view or function that no extension brought), or without that
/// schema: pg_restore would fail on the first clash, or worse, mix two
/// databases' rows.
async fn refuse_unless_empty(pool: &db::PgPool, database: &str, shown: &str) -> anyhow::Result<()> {
    let how = "restore into a new database (CREATE DATABASE), or empty this one with \
               `arbctl db nuke --yes`";
    let public: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public')")
            .fetch_one(pool)
            .await?;
    if !public {
        bail!("refusing to restore into {database} at {shown}: it has no schema public; {how}");
    }
    let objects: Vec<String> = sqlx::query_scalar(
        "SELECT kind || ' ' || name FROM (
             SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                        ELSE 'table' END AS kind,
                    c.relname::text AS name
             FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             UNION ALL
             SELECT 'function', p.proname::text
             FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                 AND d.deptype = 'e')
         ) o ORDER BY kind <> 'table', name",
    )
    .fetch_all(pool)
    .await?;
    if !objects.is_empty() {
        let more = if objects.len() > 5 { ", …" } else { "" };
        bail!(
            "refusing to restore into {database} at {shown}: it is not empty ({} objects in \
             schema public: {}{more}); {how}",
            objects.len(),
            objects[..objects.len().min(5)].join(", ")
        );
    }
    Ok(())
}

/// Makes the roles the dump grants to that this server lacks; returns those made.
async fn ensure_roles(pool: &db::PgPool) -> anyhow::Result<Vec<&'static str>> {
    let mut made = Vec::new();
    for role in ROLES {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(pool)
                .await?;
        if exists {
            continue;
        }
        match sqlx::query(&format!("CREATE ROLE {role} LOGIN"))
            .execute(pool)
            .await
        {
            Ok(_) => made.push(role),
            // Made meanwhile (another restore, a migration).
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42710") => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "the dump grants to role {role}, which this server lacks, and it \
                         cannot be made (CREATE ROLE needs CREATEROLE)"
                    )
                });
            }
        }
    }
    Ok(made)
}
