//! Persistence: the only module that knows SQL. Every query that touches a
//! workspace's rows takes that workspace's `tenant_id` and filters on it.
//!
//! SQLite (the embedded default) and PostgreSQL (hosted) run the same code.
//! On SQLite, every write goes through one connection of this process (the
//! writer): writers queue for it in order instead of sleeping in SQLite's
//! busy handler, and reads use a pool of their own beside it (WAL lets them
//! run while the writer writes). Write transactions still use `BEGIN
//! IMMEDIATE`, so another process on the same file (the CLI beside a server)
//! waits on SQLite's lock with a busy timeout instead of failing when it
//! tries to upgrade a read lock. On PostgreSQL reads and writes share one
//! pool; row locks taken by the first `UPDATE` of each transaction order
//! the writers.

mod audit;
mod automations;
mod by_hand;
mod canned;
mod chats;
mod comments;
mod contact_erasure;
mod contacts;
mod conversion;
mod conversion_commit;
mod conversion_sql;
mod credentials;
mod deliveries;
pub mod entities;
mod event_payload;
mod events;
mod export;
mod hosting;
mod ids;
mod inbound;
mod inbox;
mod kept;
mod lease;
mod limits;
mod mailboxes;
mod meter;
mod moderation;
mod nodelay;
mod outbox;
mod pipelines;
mod plugin_logs;
mod plugins;
mod reports;
mod retention;
mod rule_actions;
mod schedule;
mod team;
mod tenants;
mod threads;
mod tickets;
mod warm;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use threadline_migrations::Migrator;
use threadline_migrations::sea_orm_migration::MigratorTrait;

pub use audit::{Actor, Audit, AuditEntry};
pub use automations::{
    Automation, AutomationChange, MAX_AUTOMATIONS, MAX_WEBHOOKS, NewAutomation, Webhook, WebhookChange, webhook_events,
};
pub use by_hand::HandTicket;
pub use canned::{CannedReply, MAX_CANNED_REPLIES};
pub use chats::NewMessage;
pub use comments::{Comment, MAX_COMMENTS_SHOWN};
pub use contact_erasure::Erased;
pub use contacts::{CONTACT_LIST_LIMIT, CONTACT_SEARCH_LIMIT, ContactListing, ContactView, Holdings, Person};
pub use conversion::{AuthorizedSnapshot, ConversionSnapshot, SnapshotMessage};
pub use conversion_commit::{CommitOutcome, ConversionCommit, NumberedNotice};
pub use credentials::{Account, Credential, CredentialKind, Issued, slid_expiry};
pub use deliveries::{Attempt, DELIVERIES_SHOWN, Delivery, delivery_state};
pub use entities::{agent::Model as Agent, chat::Model as Chat, message::Model as Message};
pub use entities::{rating::Model as Rating, requester::Model as Requester, tenant::Model as Tenant};
pub use entities::{ticket::Model as Ticket, visitor::Model as Visitor};
pub use events::{Doer, NewEvent, QueuedEvent, noting_events};
pub use export::{EXPORT_TABLES, FORMAT as EXPORT_FORMAT, Imported, MAX_LINE_BYTES, NOT_EXPORTED};
pub use hosting::{OperatorToken, Usage, WORKSPACE_TABLES, WorkspaceListing, check_stored};
use ids::hex;
pub use ids::token_hash;
pub(crate) use ids::{new_id, new_public_key, new_token};
pub use inbound::{Arrival, InboundMail, MAX_ORIGINAL_BYTES, MailTicket, Received, Via};
pub use inbox::{ChatListItem, ChatListing, InboxCounts};
pub use limits::{SignInCheck, Take};
pub use mailboxes::{Mailbox, MailboxSettings};
pub use meter::{FLUSH_EVERY, Meter};
pub use moderation::VisitorBlock;
pub use outbox::{Composed, MailKind, MailOutcome, OutboxMail, mail_state};
pub use pipelines::{
    Abandoned, Arm, MAX_HISTORY_CHARS, MAX_HISTORY_KEPT, PipelineChange, PipelineHookRow, PipelineVersionRow,
    ROLLOUT_UNDER_WAY, RolloutRow,
};
pub use plugin_logs::{LogQuery, NewLogLine, PLUGIN_LOG_KEPT, PluginLogRow};
pub use plugins::{NewFault, PluginFaultRow, PluginInfo, PluginRow, candidate, is_uploaded_plugin_ref, seen_long_ago};
pub use retention::{RETENTION_JOB, RetentionCounts, RetentionRun};
pub use rule_actions::{Applied, RuleRun, Target, rule_name};
pub use schedule::{SCHEDULE_BATCH, due_target};
pub use team::{AgentChange, Invitation, MAX_PENDING_INVITATIONS};
pub use tenants::{CreatedAgent, CreatedTenant, SettingsChange};
pub use threads::ThreadedBy;
pub use tickets::{TicketChange, TicketEvent, TicketFilter};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The request is valid but the state of the data does not allow it
    /// (for example posting to a closed chat). The text is shown to users.
    #[error("{0}")]
    Conflict(String),
    /// An input names something that does not exist (422 on that field).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The write would pass one of the workspace's quotas.
    #[error("{0}")]
    Quota(#[from] crate::domain::hosting::QuotaExceeded),
    /// The workspace is suspended by the operator.
    #[error("the workspace is suspended")]
    Suspended,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Rows a SQLite query may hand over before its worker thread waits for
/// the reader (see `Store::connect`).
const ROW_BUFFER: usize = 4096;

/// A handle on the database, cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads; on PostgreSQL, writes too.
    db: DatabaseConnection,
    /// Writes: on SQLite a pool of one connection (see the module docs), on
    /// PostgreSQL the same pool as `db`.
    writer: DatabaseConnection,
    /// Statements this store has sent (both pools; `BEGIN` and `COMMIT`
    /// not included), for tests and benchmarks that count round trips.
    statements: Arc<AtomicU64>,
    /// On a SQLite file: a connection of its own for WAL checkpoints (see
    /// [`Store::spawn_wal_checkpoints`]), so they take no reader's place and
    /// are not counted as statements.
    checkpointer: Option<DatabaseConnection>,
    /// A connection of its own for the background queues' "anything due?"
    /// reads (events, webhook deliveries), made several times a second by
    /// every node: it takes no request's place in the pool, and its reads
    /// are not counted as statements.
    poller: DatabaseConnection,
    /// The server's default quotas (`serve --quota-*`), under every
    /// workspace's own overrides; unlimited until set.
    quota_defaults: Arc<std::sync::RwLock<crate::domain::hosting::Quotas>>,
    /// Usage counted on this node, not yet flushed (see `meter`).
    meter: Meter,
    /// Request-pool connections kept between a conversion's statements
    /// (`kept.rs`); none in memory.
    hot: Option<kept::Hot>,
}

impl Store {
    /// Connects, creating a SQLite file (and its folder) if needed, and brings
    /// the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let sqlite = url.starts_with("sqlite:");
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .max_connections(if sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30));
        // By default every checkout from the pool pings the connection
        // first: one more round trip per statement outside a transaction
        // (five per conversion on PostgreSQL). A connection in use is alive;
        // only one idle long enough for a server, proxy or firewall to have
        // dropped it is worth checking. A SQLite connection cannot be dropped
        // from the other end.
        if sqlite {
            opts.test_before_acquire(false);
        } else {
            opts.test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
        if sqlite {
            if let Some(dir) = sqlite_parent_dir(url) {
                std::fs::create_dir_all(dir).map_err(|e| DbErr::Custom(format!("cannot create {dir}: {e}")))?;
            }
            // WAL lets readers run beside the one writer; the busy timeout
            // covers other processes on the same file (this one's writers
            // queue for the writer connection instead). No checkpoint runs
            // at commit, where it would stall a request with an fsync now
            // and then: a background task does them (see
            // `spawn_wal_checkpoints`), and SQLite does a last one when the
            // final connection closes.
            opts.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    .pragma("wal_autocheckpoint", "0")
                    // sqlx's SQLite worker hands rows over through a channel
                    // of 50: past that it sleeps until the reader takes one,
                    // so a 1,000-message chat cost about a thread switch a
                    // row. Our largest reads fit whole.
                    .row_buffer_size(ROW_BUFFER)
            });
        }
        // The request pool's own options: each new connection runs a
        // conversion's statements as it opens (`warm.rs`), so the pool is
        // made once the schema is up to date.
        let mut pool_opts = opts.clone();
        pool_opts.map_sqlx_sqlite_pool_opts(|o| {
            o.after_connect(|conn, _meta| {
                Box::pin(async move {
                    warm::sqlite(conn).await;
                    Ok(())
                })
            })
        });
        if url.starts_with("postgres") {
            let port = url
                .parse::<sea_orm::sqlx::postgres::PgConnectOptions>()
                .map_err(|e| DbErr::Custom(format!("invalid PostgreSQL URL: {e}")))?
                .get_port();
            opts.map_sqlx_postgres_pool_opts(move |o| {
                o.after_connect(move |_conn, _meta| {
                    Box::pin(async move {
                        nodelay::set_on_sockets_to(port);
                        Ok(())
                    })
                })
            });
            pool_opts.map_sqlx_postgres_pool_opts(move |o| {
                o.after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        nodelay::set_on_sockets_to(port);
                        warm::postgres(conn).await;
                        Ok(())
                    })
                })
            });
        }
        // An in-memory SQLite database lives in its connection: one pool of
        // one connection does everything.
        let in_memory = sqlite && url.contains(":memory:");
        if in_memory {
            opts.max_connections(1);
        }
        let statements = Arc::new(AtomicU64::new(0));
        // Several processes opening a new SQLite file at once can find it
        // locked while one of them sets it up (WAL mode is switched on as a
        // connection opens, before the busy timeout covers anything); they
        // wait their turn here rather than fail to start.
        let mut attempt = 0;
        loop {
            let outcome = async {
                // The schema first: on a SQLite file on the writer (held
                // open: the writer never pays for a new connection), on
                // PostgreSQL on a connection of its own, whose prepared
                // statements (sqlx keeps up to 100) go away with it.
                let own_writer = if sqlite && !in_memory {
                    let mut one = opts.clone();
                    one.max_connections(1).min_connections(1);
                    let writer = Database::connect(one).await?;
                    migrate(&writer).await?;
                    Some(writer)
                } else if !sqlite {
                    let mut one = opts.clone();
                    one.max_connections(1).min_connections(0);
                    let one = Database::connect(one).await?;
                    migrate(&one).await?;
                    one.close().await?;
                    None
                } else {
                    None
                };
                // In memory, the one connection is the database: it is
                // made before the schema, and not warmed.
                let mut db = Database::connect(if in_memory { opts.clone() } else { pool_opts.clone() }).await?;
                if in_memory {
                    migrate(&db).await?;
                }
                let mut writer = own_writer.unwrap_or_else(|| db.clone());
                let checkpointer = if sqlite && !in_memory {
                    let mut one = opts.clone();
                    one.max_connections(1).min_connections(0);
                    Some(Database::connect(one).await?)
                } else {
                    None
                };
                let poller = if in_memory {
                    db.clone()
                } else {
                    let mut one = opts.clone();
                    one.max_connections(1).min_connections(0);
                    Database::connect(one).await?
                };
                for conn in [&mut db, &mut writer] {
                    let counter = statements.clone();
                    conn.set_metric_callback(move |_| {
                        counter.fetch_add(1, Ordering::Relaxed);
                    });
                }
                let hot = (!in_memory).then(|| kept::Hot::new(&db));
                let store = Self {
                    hot,
                    db,
                    writer,
                    statements: statements.clone(),
                    checkpointer,
                    poller,
                    quota_defaults: Default::default(),
                    meter: Meter::default(),
                };
                Ok::<_, StoreError>(store)
            }
            .await;
            match outcome {
                Err(StoreError::Db(e)) if sqlite && is_sqlite_busy(&e) && attempt < 100 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    /// On a SQLite file, copies the write-ahead log into the database every
    /// quarter of a second, off the request path (`PASSIVE`: it never waits
    /// for, or blocks, a reader or the writer). Without it the log would
    /// only grow. Abort the task when the server stops.
    pub fn spawn_wal_checkpoints(&self) -> Option<tokio::task::JoinHandle<()>> {
        let db = self.checkpointer.clone()?;
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let checkpoint = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
                if let Err(e) = db.execute_raw(checkpoint).await {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        }))
    }

    /// How many statements this store has sent so far (`BEGIN` and `COMMIT`
    /// not counted).
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// A SQLite file, whose writer is a connection of its own, held open.
    fn sqlite_file(&self) -> bool {
        self.checkpointer.is_some()
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Starts a write transaction on the writer (see the module docs for why
    /// IMMEDIATE). Never call it, or write through `self.writer`, while this
    /// task holds another write transaction: on SQLite that waits for itself.
    async fn write_txn(&self) -> Result<DatabaseTransaction, DbErr> {
        begin_immediate(&self.writer).await
    }

    /// `NOTIFY channel, payload` (PostgreSQL only; see `realtime`).
    pub async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [channel.into(), payload.into()],
            ))
            .await?;
        Ok(())
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await?;
        Ok(())
    }

    /// Migrations this server knows of that the database has not had.
    pub async fn pending_migrations(&self) -> StoreResult<usize> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    /// The pool requests read from (on PostgreSQL, write to as well), for
    /// tests and benches that look at its connections.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Connections of each pool, open and idle: `(pool, open, idle)`.
    pub fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
        let mut pools = vec![("read", &self.db)];
        if self.backend() == DbBackend::Sqlite {
            pools.push(("write", &self.writer));
        }
        pools
            .into_iter()
            .map(|(name, conn)| {
                let (open, idle) = match conn.get_database_backend() {
                    DbBackend::Postgres => {
                        let pool = conn.get_postgres_connection_pool();
                        (pool.size(), pool.num_idle())
                    }
                    _ => {
                        let pool = conn.get_sqlite_connection_pool();
                        (pool.size(), pool.num_idle())
                    }
                };
                (name, open, idle)
            })
            .collect()
    }
}

/// Runs pending migrations in one transaction, so that processes starting
/// together (several nodes, or the CLI beside a server) take turns: on
/// SQLite the IMMEDIATE transaction holds the write lock, on PostgreSQL an
/// advisory lock does. Whoever comes second finds the work done.
async fn migrate(conn: &DatabaseConnection) -> StoreResult<()> {
    const MIGRATION_LOCK: i64 = 0x7468_7265_6164; // "thread"
    let txn = begin_immediate(conn).await?;
    if conn.get_database_backend() == DbBackend::Postgres {
        let lock = format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})");
        txn.execute_raw(Statement::from_string(DbBackend::Postgres, lock))
            .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    Ok(())
}

/// A transaction begun `IMMEDIATE` on SQLite (the write lock taken at once;
/// see the module docs), an ordinary one on PostgreSQL.
async fn begin_immediate(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// SQLITE_BUSY (5), as sqlx reports it while connecting or in a statement.
fn is_sqlite_busy(e: &DbErr) -> bool {
    let text = e.to_string();
    text.contains("(code: 5)") || text.contains("database is locked")
}

fn sqlite_parent_dir(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let parent = std::path::Path::new(path).parent()?.to_str()?;
    (!parent.is_empty()).then_some(parent)
}

/// Makes `owner` (a chat or ticket) findable by the words of `texts`, in
/// the transaction that writes them: what is saved is searchable at once.
pub(crate) async fn index_terms<'a>(
    txn: &sea_orm::DatabaseTransaction,
    index: threadline_migrations::search::SearchIndex,
    tenant_id: &str,
    owner: &str,
    texts: impl IntoIterator<Item = &'a str>,
) -> StoreResult<()> {
    use sea_orm::ConnectionTrait;
    use threadline_migrations::search;
    let terms = search::terms(texts);
    if let Some(insert) = search::insert(txn.get_database_backend(), index, tenant_id, owner, &terms) {
        txn.execute_raw(insert).await?;
    }
    Ok(())
}

/// Takes `words` out of `owner`'s search words, each delete by key (these
/// words, this owner): no read of the index beyond them.
pub(crate) async fn unindex_terms<C: ConnectionTrait>(
    db: &C,
    index: threadline_migrations::search::SearchIndex,
    tenant_id: &str,
    owner: &str,
    words: &[String],
) -> StoreResult<()> {
    use entities::{chat_term, ticket_term};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use threadline_migrations::search::SearchIndex;
    // Words per statement: well under either database's parameter limit.
    for chunk in words.chunks(500) {
        match index {
            SearchIndex::Chats => {
                chat_term::Entity::delete_many()
                    .filter(chat_term::Column::TenantId.eq(tenant_id))
                    .filter(chat_term::Column::ChatId.eq(owner))
                    .filter(chat_term::Column::Term.is_in(chunk.to_vec()))
                    .exec(db)
                    .await?;
            }
            SearchIndex::Tickets => {
                ticket_term::Entity::delete_many()
                    .filter(ticket_term::Column::TenantId.eq(tenant_id))
                    .filter(ticket_term::Column::TicketId.eq(owner))
                    .filter(ticket_term::Column::Term.is_in(chunk.to_vec()))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Selects every column of `E` as `<prefix><column>`, for reading several
/// entities from one joined row with `FromQueryResult::from_query_result`.
pub(crate) fn prefixed<E: sea_orm::EntityTrait>(query: &mut sea_orm::sea_query::SelectStatement, prefix: &str) {
    use sea_orm::sea_query::{Alias, Expr};
    use sea_orm::{IdenStatic, Iterable};
    for column in E::Column::iter() {
        query.expr_as(
            Expr::col((E::default(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_parent_dir_finds_the_folder_to_create() {
        assert_eq!(
            sqlite_parent_dir("sqlite://./data/threadline.db?mode=rwc"),
            Some("./data")
        );
        assert_eq!(sqlite_parent_dir("sqlite:data/x.db"), Some("data"));
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("sqlite://x.db"), None);
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, hash_a) = new_token("tl");
        let (b, _) = new_token("tl");
        assert_ne!(a, b);
        assert!(a.starts_with("tl_") && a.len() == 3 + 48);
        assert_eq!(token_hash(&a), hash_a);
        assert!(!hash_a.contains(&a[3..]));
    }
}
