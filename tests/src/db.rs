//! A fresh database per test: a SQLite file in a temp folder, or a new
//! PostgreSQL database dropped afterwards.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

use super::Backend;

/// A database of one test's own: a SQLite file in a temp folder, or a new
/// PostgreSQL database that is dropped when this is.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    /// `None` only when PostgreSQL is unreachable and not required.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/threadline.db?mode=rwc", dir.path().display());
                Some(Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("THREADLINE_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
                let admin = match Database::connect(&admin_url).await {
                    Ok(c) => c,
                    Err(e) => {
                        let required = std::env::var_os("CI").is_some()
                            || std::env::var_os("THREADLINE_REQUIRE_POSTGRES").is_some();
                        let msg = format!("PostgreSQL is not reachable at {admin_url}: {e}");
                        if required {
                            panic!("{msg} (CI requires PostgreSQL: start it, or set THREADLINE_TEST_POSTGRES_URL)");
                        }
                        eprintln!(
                            "\n!!!!!!!!!! SKIPPED: {msg}\n!!!!!!!!!! This PostgreSQL test did NOT run. CI fails instead of skipping.\n"
                        );
                        return None;
                    }
                };
                let name = format!("threadline_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("CREATE DATABASE {name}"),
                    ))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
                Some(Self {
                    url: format!("{base}/{name}"),
                    backend,
                    _dir: None,
                    pg_admin: Some((admin_url.clone(), name)),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg_admin.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on, so
        // the cleanup gets a small runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin
                    .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}
