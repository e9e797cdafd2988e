//! Test harness: spawns the real server on port 0 over a fresh database and
//! talks HTTP to it.
//!
//! Every test runs twice, on SQLite (a new file in a temp folder) and on
//! PostgreSQL (a new database, dropped afterwards). PostgreSQL is found at
//! `THREADLINE_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/postgres`).
//! If it cannot be reached the PostgreSQL half is skipped with a loud notice,
//! unless `CI` or `THREADLINE_REQUIRE_POSTGRES` is set: then it fails.
//!
//! The harness by job: `app` (the server and its client), `db` (a
//! database per test), `process` (a server process of its own),
//! `events` (websockets), `components` (WebAssembly for plugin tests),
//! `seed`, `sql` and `bench` (bulk rows, raw SQL and figures for
//! benchmarks), `smtp` (a mail server on loopback), `imap` (Dovecot on
//! loopback).

mod app;
pub mod bench;
mod components;
mod db;
mod events;
pub mod imap;
pub mod model;
mod process;
pub mod seed;
pub mod smtp;
pub mod sql;
pub mod webhooks;

pub use app::{
    Reply, TestAgent, TestApp, TestAppBuilder, TestTenant, builtins_ready, plugin_settings, test_automation,
    warm_plugin_cache,
};
pub use components::{make, wasm};
pub use db::TestDb;
pub use events::Events;
pub use process::{ServerProcess, cpu_time, peak_rss_bytes, rss_bytes, threadline_cli};
pub use serde_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` of the calling module on both
/// databases, as `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::create($crate::Backend::Sqlite).await.expect("SQLite always works");
                    super::$name($crate::TestApp::spawn(db).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::create($crate::Backend::Postgres).await else { return };
                    super::$name($crate::TestApp::spawn(db).await).await;
                }
            )*
        }
    };
}
