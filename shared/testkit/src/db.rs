//! The tests' PostgreSQL: a fresh, migrated database per test on the server
//! at `DATABASE_URL`, dropped at the end.

use std::time::Duration;

use sqlx::PgPool;

use crate::unique;

/// The server URL the tests create their databases on (an admin database).
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own, migrated.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

impl TestDb {
    pub async fn new(name: &str) -> TestDb {
        let admin_url = admin_database_url();
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {admin_url} (set DATABASE_URL): {e}")
        });
        let db = unique(&format!("arb_{name}"));
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let url = with_database(&admin_url, &db);
        let pool = arb_runtime::db::connect(&url, 4, Some(Duration::from_secs(10)))
            .await
            .expect("connect");
        arb_runtime::db::migrate(&pool).await.expect("migrate");
        TestDb {
            name: db,
            url,
            pool,
        }
    }

    /// The URL of this database through another host:port (a proxy).
    pub fn url_via(&self, port: u16) -> String {
        let mut u = url::Url::parse(&self.url).expect("url");
        u.set_port(Some(port)).expect("port");
        u.to_string()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// The ids stored in `table`.
    pub async fn ids(&self, table: &str) -> Vec<uuid::Uuid> {
        sqlx::query_scalar(&format!("SELECT id FROM {table}"))
            .fetch_all(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("ids of {table}: {e}"))
    }

    /// Rows stored for the messages a test published: every table the sink
    /// writes, less the sink's own heartbeats and dead letters.
    pub async fn producer_rows(&self) -> i64 {
        let mut n = 0;
        for t in [
            "market_snapshots",
            "opportunities",
            "orders",
            "trades",
            "pnl_events",
            "portfolio_snapshots",
            "transfers",
            "audit_events WHERE service <> 'sink'",
            "runtime_state_snapshots WHERE service <> 'sink'",
        ] {
            n += self.count(t).await;
        }
        n
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Ok(admin) = sqlx::PgPool::connect(&admin_database_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
        }
    }
}
