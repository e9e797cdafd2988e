//! A new connection of the request pool runs a conversion's statements
//! once, for rows that do not exist, before it joins the pool.
//!
//! A new PostgreSQL backend starts with empty catalog caches, a new SQLite
//! connection has the schema still to read, and sqlx prepares each
//! statement on each connection the first time it runs there (on
//! PostgreSQL `Parse`, `Describe` and the first plans). A burst of one
//! workspace's requests grows the pool, and sqlx hands idle connections out
//! first in, first out: so the next requests of every other workspace walk
//! through each new connection and pay those first runs. The isolation
//! bench showed it: workspace B's slow conversions beside a bursting
//! workspace A clustered in the first ~200 ms after A grew the PostgreSQL
//! pool from 2 to 16 connections, and B's p99 rose 3–5× (warming those
//! connections first took it to 1×). Run here, the cost falls on the
//! request that opened the connection.
//!
//! The statements are built by the same functions the requests use, and
//! bound with sea-orm's own binding (`SqlxValues`), so that sqlx's cache,
//! keyed by the SQL text with the parameter types fixed at the first run,
//! holds exactly what the requests send. Nothing they run can match a row:
//! the workspace, chat and token are ones no row has, and every write of
//! the commit depends on its claim of that chat.

use chrono::{SubsecRound, Utc};
use sea_orm::sqlx::{self, Database, Executor, IntoArguments, postgres::PgConnection, sqlite::SqliteConnection};
use sea_orm::{DbBackend, Statement};
use sea_query_sqlx::SqlxValues;

use super::conversion::{authorized_snapshot_query, snapshot_query};
use super::conversion_commit::{ConversionCommit, postgres_commit};
use super::credentials::token_query;
use super::kept::sqlx_query;
use super::{new_id, token_hash};
use crate::domain::EmailAddress;
use crate::domain::automation::EventKind;

/// Warms a new PostgreSQL connection. A failure is logged and the
/// connection kept: it only means a request pays the first runs after all.
pub(super) async fn postgres(conn: &mut PgConnection) {
    logged(run::<sqlx::Postgres>(conn, statements(DbBackend::Postgres)).await)
}

/// Warms a new SQLite reader (the commit is the writer's, which is opened
/// once and held), as [`postgres`] does.
pub(super) async fn sqlite(conn: &mut SqliteConnection) {
    logged(run::<sqlx::Sqlite>(conn, statements(DbBackend::Sqlite)).await)
}

fn logged(outcome: Result<(), sqlx::Error>) {
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "warming a new database connection failed");
    }
}

async fn run<DB: Database>(conn: &mut DB::Connection, statements: Vec<Statement>) -> Result<(), sqlx::Error>
where
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for statement in statements {
        let rows = sqlx_query::<DB>(statement).fetch_all(&mut *conn).await?;
        debug_assert!(rows.is_empty(), "a warm-up statement matched a row");
    }
    Ok(())
}

/// Every agent request's token read, a conversion's first read (the token
/// and the snapshot in one) and the snapshot it reads again when the chat
/// moved on, and on PostgreSQL its commit (with and without the events
/// CTE): what a conversion sends.
fn statements(backend: DbBackend) -> Vec<Statement> {
    let now = Utc::now().trunc_subsecs(6);
    let nobody = new_id();
    let mut all = vec![
        backend.build(&token_query(token_hash(&nobody), now)),
        backend.build(&snapshot_query(backend, &nobody, &nobody)),
        backend.build(&authorized_snapshot_query(backend, token_hash(&nobody), now, &nobody)),
    ];
    if backend == DbBackend::Postgres {
        for listeners in [0, EventKind::mask(EventKind::ALL.iter().copied())] {
            let commit = claiming_nothing(&nobody, listeners);
            all.push(postgres_commit(&commit, &nobody, now));
        }
    }
    all
}

/// A commit whose claim matches no chat, so that it writes nothing.
fn claiming_nothing(nobody: &str, listeners: i32) -> ConversionCommit {
    ConversionCommit {
        tenant_id: nobody.to_owned(),
        chat_id: nobody.to_owned(),
        snapshot_version: -1,
        chat_was_closed: false,
        visitor_id: nobody.to_owned(),
        visitor_had_email: true,
        requester_email: EmailAddress::parse("email", "nobody@example.invalid").expect("a valid address"),
        requester_name: String::new(),
        subject: String::new(),
        description: String::new(),
        assignee_id: nobody.to_owned(),
        first_response_at: None,
        converting_agent_id: nobody.to_owned(),
        converting_agent_name: String::new(),
        reason: None,
        first_response_due_at: None,
        resolution_due_at: None,
        due_at: None,
        fields: Default::default(),
        receipt: String::new(),
        acknowledge: false,
        listeners,
        notice: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// The statements run, and match nothing, on an up-to-date SQLite
    /// reader (PostgreSQL's are checked by `tests/api/cost.rs`, which sees
    /// them prepared on every connection).
    #[tokio::test]
    async fn a_sqlite_reader_runs_the_statements() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        let pool = store.pool().get_sqlite_connection_pool();
        let mut conn = pool.acquire().await.unwrap();
        let statements = statements(DbBackend::Sqlite);
        assert_eq!(statements.len(), 3);
        run::<sqlx::Sqlite>(&mut conn, statements).await.unwrap();
    }
}
