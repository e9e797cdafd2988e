//! Request-pool connections kept out of the pool between a conversion's
//! statements, so that they skip the pool's check on return.
//!
//! sqlx tests every connection handed back to its pool before another task
//! may take it: a ping, which on PostgreSQL is a round trip to the backend
//! and on SQLite a hand-off to the connection's thread and back. sea-orm
//! takes a connection from the pool for each statement outside a
//! transaction, so each of a conversion's reads (the agent's token, the
//! snapshot) and, on PostgreSQL, its one-statement commit paid one. In the
//! conversion bench, leaving those pings out took PostgreSQL's CPU a
//! conversion (server + backends) from about 2.9 to 2.2 ms and its rate
//! from ~550 to ~730 a second with 8 clients; SQLite's CPU ~10% lower.
//!
//! A connection that finished its statement cleanly is put back here
//! instead, and the next of these statements takes it. One whose statement
//! failed, or whose request was dropped mid-statement, goes back to the
//! pool the usual way, and its ping settles whatever was left half-done.
//! At most half the pool is kept, none while the pool has no idle
//! connection to give (someone may be waiting), and none for longer than
//! [`KEEP_FOR`]: under load a kept connection is taken again within
//! milliseconds, and when the load stops they all go back to the pool,
//! whose own rules (its limits, its check of a connection idle for long)
//! then apply to them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, Database, Executor, IntoArguments, Pool, pool::PoolConnection};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

/// How long a connection is kept unused before it goes back to the pool.
const KEEP_FOR: Duration = Duration::from_secs(1);

pub(super) struct Kept<DB: Database> {
    pool: Pool<DB>,
    idle: Mutex<Vec<(PoolConnection<DB>, Instant)>>,
    cap: usize,
}

impl<DB: Database> Kept<DB>
where
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    QueryResult: From<DB::Row>,
{
    /// Keeps connections of `pool`, and hands back those unused for
    /// [`KEEP_FOR`] from a task that ends with the last handle.
    pub(super) fn new(pool: Pool<DB>) -> Arc<Self> {
        let cap = (pool.options().get_max_connections() / 2) as usize;
        let kept = Arc::new(Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(cap)),
            cap,
        });
        let weak = Arc::downgrade(&kept);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(KEEP_FOR / 2);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(kept) = weak.upgrade() else { return };
                let unused: Vec<_> = {
                    let mut idle = kept.idle.lock().expect("kept connections");
                    let (unused, fresh): (Vec<_>, Vec<_>) =
                        idle.drain(..).partition(|(_, at)| at.elapsed() >= KEEP_FOR);
                    *idle = fresh;
                    unused
                };
                drop(unused);
            }
        });
        kept
    }

    /// Runs one statement on a kept connection (or one from the pool) and
    /// returns its rows.
    pub(super) async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut conn = self.take().await.map_err(conn_err)?;
        let rows = sqlx_query::<DB>(statement)
            .fetch_all(&mut *conn)
            .await
            .map_err(query_err)?;
        self.put(conn);
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn take(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        loop {
            let newest = self.idle.lock().expect("kept connections").pop();
            match newest {
                Some((conn, at)) if at.elapsed() < KEEP_FOR => return Ok(conn),
                // Back to the pool, which checks it.
                Some((stale, _)) => drop(stale),
                None => return self.pool.acquire().await,
            }
        }
    }

    fn put(&self, conn: PoolConnection<DB>) {
        let saturated = self.pool.num_idle() == 0 && self.pool.size() >= self.pool.options().get_max_connections();
        let mut idle = self.idle.lock().expect("kept connections");
        if !saturated && idle.len() < self.cap {
            idle.push((conn, Instant::now()));
        }
    }
}

impl super::Store {
    /// Counts a statement sent through sqlx directly, past sea-orm's
    /// metric callback.
    pub(super) fn count_statement(&self) {
        self.statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// One of a conversion's statements (the agent's token, the snapshot,
    /// PostgreSQL's commit): its first row, on a kept connection.
    pub(super) async fn hot_query_one(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.hot {
            Some(hot) => {
                self.count_statement();
                Ok(hot.fetch_all(statement).await?.into_iter().next())
            }
            None => self.db.query_one_raw(statement).await,
        }
    }
}

/// A sea-orm statement as a sqlx query, bound as sea-orm binds it: sqlx
/// caches a statement by its text, with the parameter types of its first
/// run, so a statement sent this way shares sea-orm's cached one.
pub(super) fn sqlx_query<DB: Database>(statement: Statement) -> sqlx::query::Query<'static, DB, SqlxValues>
where
    SqlxValues: IntoArguments<DB>,
{
    let values = SqlxValues(statement.values.unwrap_or(sea_orm::Values(Vec::new())));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), values)
}

/// A failed statement sent through sqlx directly, as sea-orm words it.
pub(super) fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

/// A connection sqlx could not give, as sea-orm words it.
pub(super) fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(e.into()))
}

/// The request pool's kept connections, of its backend.
#[derive(Clone)]
pub(super) enum Hot {
    Postgres(Arc<Kept<sqlx::Postgres>>),
    Sqlite(Arc<Kept<sqlx::Sqlite>>),
}

impl Hot {
    /// For a pool of a SQLite file or of PostgreSQL. An in-memory SQLite
    /// database lives in its pool's one connection, which is never kept.
    pub(super) fn new(pool: &sea_orm::DatabaseConnection) -> Self {
        match pool.get_database_backend() {
            sea_orm::DbBackend::Postgres => Hot::Postgres(Kept::new(pool.get_postgres_connection_pool().clone())),
            _ => Hot::Sqlite(Kept::new(pool.get_sqlite_connection_pool().clone())),
        }
    }

    pub(super) async fn fetch_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Hot::Postgres(kept) => kept.fetch_all(statement).await,
            Hot::Sqlite(kept) => kept.fetch_all(statement).await,
        }
    }
}

impl std::fmt::Debug for Hot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = match self {
            Hot::Postgres(k) => k.idle.lock().map(|i| i.len()).ok(),
            Hot::Sqlite(k) => k.idle.lock().map(|i| i.len()).ok(),
        };
        f.debug_struct("Hot").field("kept", &kept.unwrap_or_default()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbBackend;
    use sea_orm::sqlx::sqlite::SqlitePoolOptions;

    fn statement(sql: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, sql)
    }

    /// A pool of `max` connections on a new SQLite file, and its kept ones.
    async fn file_pool(max: u32) -> (tempfile::TempDir, sqlx::SqlitePool, Arc<Kept<sqlx::Sqlite>>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/k.db?mode=rwc", dir.path().display());
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect(&url)
            .await
            .unwrap();
        let kept = Kept::new(pool.clone());
        (dir, pool, kept)
    }

    /// Waits (up to 10 s) for the pool to hold `n` idle connections: a
    /// connection goes back to it from a task of sqlx's.
    async fn idle_in_pool(pool: &sqlx::SqlitePool, n: usize) {
        for _ in 0..1000 {
            if pool.num_idle() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the pool holds {} idle connections, not {n}", pool.num_idle());
    }

    /// A connection is kept after a clean statement and serves the next
    /// one (a temporary table lives in its connection only), is not kept
    /// after a failed one, and goes back to the pool once unused for
    /// [`KEEP_FOR`].
    #[tokio::test]
    async fn a_connection_is_kept_between_statements_and_handed_back_when_unused() {
        let (_dir, pool, kept) = file_pool(4).await;
        let idle = |k: &Kept<sqlx::Sqlite>| k.idle.lock().unwrap().len();

        kept.fetch_all(statement("CREATE TEMP TABLE mine (x)")).await.unwrap();
        assert_eq!((idle(&kept), pool.num_idle()), (1, 0), "kept, not back in the pool");
        let rows = kept
            .fetch_all(statement("SELECT COUNT(*) AS n FROM temp.mine"))
            .await
            .unwrap();
        assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 0, "the same connection");

        let failed = kept.fetch_all(statement("SELECT * FROM no_such_table")).await;
        assert!(failed.is_err());
        assert_eq!(idle(&kept), 0, "a connection whose statement failed is not kept");
        idle_in_pool(&pool, 1).await;

        kept.fetch_all(statement("SELECT 1")).await.unwrap();
        assert_eq!(idle(&kept), 1);
        idle_in_pool(&pool, 1).await;
        assert_eq!(idle(&kept), 0, "unused, it went back");
    }

    /// At most half the pool is kept, so the rest of the server always has
    /// the other half; and none while the pool has nothing idle to give.
    #[tokio::test]
    async fn at_most_half_the_pool_is_kept_and_none_when_it_is_all_taken() {
        let (_dir, pool, kept) = file_pool(8).await;
        let taken = futures_util::future::join_all((0..6).map(|_| kept.take())).await;
        for conn in taken {
            kept.put(conn.unwrap());
        }
        assert_eq!(kept.idle.lock().unwrap().len(), 4);
        idle_in_pool(&pool, 2).await;

        let all = futures_util::future::join_all((0..8).map(|_| kept.take())).await;
        let mut all = all.into_iter().map(Result::unwrap);
        kept.put(all.next().unwrap());
        assert_eq!(kept.idle.lock().unwrap().len(), 0, "someone may be waiting for it");
    }
}
