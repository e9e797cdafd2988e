//! A conversion's commit.
//!
//! The commit writes everything (ticket, requester, chat link and close,
//! system message) or nothing: on PostgreSQL one statement of chained
//! writes (one round trip), on SQLite one script of statements sent at
//! once inside a transaction on the writer (three hand-offs to its thread:
//! `BEGIN`, the script, `COMMIT`). The SQL is `conversion_sql.rs`.
//!
//! Races are settled by the database, not by checks in code, the same way
//! on both:
//! - The first write claims the chat with a conditional `UPDATE … WHERE
//!   ticket_id IS NULL AND version = <snapshot>`. Exactly one transaction can
//!   match; on PostgreSQL the others wait on the row lock, then re-read the row
//!   and match nothing. A chat that changed since the snapshot matches nothing
//!   either, and the caller redoes the snapshot.
//! - `tickets.origin_chat_id` is unique, as a second line of defence.
//! - Ticket numbers come from a per-tenant counter bumped inside the same
//!   transaction (`UPDATE … RETURNING`): the row lock serializes allocation,
//!   and a rollback gives the number back, so numbers have no gaps.
//! - Requesters are found-or-created with one `INSERT … ON CONFLICT
//!   (tenant_id, email_normalized)`: on PostgreSQL a no-op `DO UPDATE …
//!   RETURNING` makes the existing row come back, so there is no second
//!   read, and it locks that row until the commit; SQLite's script reads it
//!   back under its one writer's lock.
//! - The assignee's open-ticket counter is bumped by a trigger on the ticket
//!   insert, in this transaction.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::sqlx::{self, pool::PoolConnection};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryResult,
    Statement,
};

use super::conversion_sql::{COMMIT_POSTGRES, COMMIT_SQLITE, COMMIT_SQLITE_ALONE, commit_postgres_with_events};
use super::entities::{event, requester, tenant, ticket_comment};
use super::events::NewEvent;
use super::kept::{conn_err, query_err, sqlx_query};
use super::{Requester, Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::automation::EventKind;
use crate::domain::hooks::TicketFields;
use crate::domain::inbound::{CommentSource, thread_root};
use crate::domain::ticket_number::PREFIX;
use crate::domain::{EmailAddress, TicketStatus};
use threadline_migrations::search;

/// Everything the commit writes, decided before the transaction starts.
#[derive(Debug, Clone)]
pub struct ConversionCommit {
    pub tenant_id: String,
    pub chat_id: String,
    /// The chat's version when it was snapshotted.
    pub snapshot_version: i64,
    /// The chat was closed at snapshot time (and so keeps its `closed_at`).
    pub chat_was_closed: bool,
    pub visitor_id: String,
    pub visitor_had_email: bool,
    pub requester_email: EmailAddress,
    pub requester_name: String,
    pub subject: String,
    pub description: String,
    pub assignee_id: String,
    pub first_response_at: Option<DateTime<Utc>>,
    pub converting_agent_id: String,
    pub converting_agent_name: String,
    /// Why the agent converted, if they said: the ticket's first internal
    /// comment, written with it.
    pub reason: Option<String>,
    /// The service level due times (see `domain::sla`).
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// Priority, tags and custom fields, checked already.
    pub fields: TicketFields,
    /// What ran for each hook (JSON).
    pub receipt: String,
    /// Queue the requester's acknowledgement (their ticket's number and
    /// the chat's public transcript) with the ticket.
    pub acknowledge: bool,
    /// The workspace's `event_listeners` at snapshot time: the events the
    /// commit queues (`ticket_created`, and `chat_closed` when it closes
    /// the chat) for its rules and webhooks. Rules changed since wait for
    /// the next conversion, as they would a moment later.
    pub listeners: i32,
    /// The live event to send when the commit commits, with the ticket's
    /// number (PostgreSQL: in the commit's own statement). SQLite's commit
    /// has no NOTIFY and ignores it: there the bus gives none, and the
    /// caller routes the event in memory after the commit.
    pub notice: Option<NumberedNotice>,
}

/// A `NOTIFY` whose payload names the number a commit takes: `before`, the
/// number's digits, `after`.
#[derive(Debug, Clone)]
pub struct NumberedNotice {
    pub channel: &'static str,
    pub before: String,
    pub after: String,
}

impl ConversionCommit {
    /// The events this commit queues, with their new ids.
    fn events(&self) -> (Option<String>, Option<String>) {
        let heard = |k: EventKind| k.heard(self.listeners).then(new_id);
        let closed = if self.chat_was_closed {
            None
        } else {
            heard(EventKind::ChatClosed)
        };
        (heard(EventKind::TicketCreated), closed)
    }

    /// Whether the commit queues an event.
    fn events_heard(&self) -> bool {
        EventKind::TicketCreated.heard(self.listeners)
            || (!self.chat_was_closed && EventKind::ChatClosed.heard(self.listeners))
    }

    fn actor(&self) -> String {
        format!("agent:{}", self.converting_agent_id)
    }
}

#[derive(Debug)]
pub enum CommitOutcome {
    /// The new ticket and its requester (found or created).
    Created(Ticket, Requester),
    /// Someone converted this chat first: here is their ticket.
    AlreadyConverted(Ticket),
    /// The chat changed after the snapshot; snapshot again and retry.
    Stale,
}

impl Store {
    /// Commits a conversion: on PostgreSQL as one statement (one round
    /// trip, atomic without `BEGIN` and `COMMIT`), on SQLite as a script in
    /// a transaction on the writer connection. Both take the workspace's
    /// ticket counter only for their last steps.
    pub async fn commit_conversion(&self, c: &ConversionCommit) -> StoreResult<CommitOutcome> {
        // Microseconds, as PostgreSQL keeps them: the ticket returned is
        // built here, not read back, and must equal what a read returns.
        let now = Utc::now().trunc_subsecs(6);
        let ticket_id = new_id();
        let outcome = match self.backend() {
            DbBackend::Postgres => self.commit_in_one_statement(c, ticket_id, now).await,
            _ => self.commit_in_script(c, ticket_id, now).await,
        }?;
        if let CommitOutcome::Created(ticket, _) = &outcome {
            if c.events_heard() {
                super::events::note_queued();
            }
            let written = ticket.subject.len() + ticket.description.len();
            self.meter.count(&ticket.tenant_id, |u| {
                u.conversions += 1;
                u.stored_bytes += written as i64;
            });
        }
        Ok(outcome)
    }

    async fn commit_in_one_statement(
        &self,
        c: &ConversionCommit,
        ticket_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<CommitOutcome> {
        let row = self.hot_query_one(postgres_commit(c, &ticket_id, now)).await;
        let row = match row {
            Ok(Some(row)) => row,
            // The claim matched nothing (converted, changed or gone), or
            // the ticket collided with another for this chat.
            Ok(None) => return self.why_not_claimed(&c.tenant_id, &c.chat_id).await,
            Err(e) if e.sql_err().is_some() => return self.why_not_claimed(&c.tenant_id, &c.chat_id).await,
            Err(e) => return Err(e.into()),
        };
        let number: i64 = row.try_get("", "number")?;
        let requester = Requester::from_query_result(&row, "r_")?;
        let ticket = new_ticket(c, ticket_id, number, &requester, now);
        Ok(CommitOutcome::Created(ticket, requester))
    }

    async fn commit_in_script(
        &self,
        c: &ConversionCommit,
        ticket_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<CommitOutcome> {
        if self.sqlite_file() && c.reason.is_none() && !c.acknowledge && !c.events_heard() {
            return self.commit_alone(c, ticket_id, now).await;
        }
        let values = commit_values(c, &ticket_id, now, DbBackend::Sqlite);
        let txn = self.write_txn().await?;

        // 1–6. Claim the chat, find or create the requester (and give the
        //      visitor the typed email), take the number, write the
        //      ticket, its log line in the chat and its search words: one
        //      script, one hand-off (`conversion_sql.rs`).
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, COMMIT_SQLITE, values))
            .await;
        let row = match rows.map(|mut rows| rows.pop()) {
            Ok(Some(row)) => row,
            // The claim matched nothing (converted, changed or gone), or
            // the ticket collided with another for this chat.
            Ok(None) => {
                txn.rollback().await?;
                return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
            }
            Err(e) if e.sql_err().is_some() => {
                txn.rollback().await?;
                return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
            }
            Err(e) => return Err(e.into()),
        };
        let number: i64 = row.try_get("", "number")?;
        let requester = Requester::from_query_result(&row, "r_")?;
        let ticket = new_ticket(c, ticket_id, number, &requester, now);

        // 7. The agent's reason, as the ticket's first internal comment.
        if let Some(reason) = &c.reason {
            ticket_comment::Entity::insert(ticket_comment::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(c.tenant_id.clone()),
                ticket_id: Set(ticket.id.clone()),
                author_id: Set(c.converting_agent_id.clone()),
                author_name: Set(c.converting_agent_name.clone()),
                body: Set(reason.clone()),
                internal: Set(true),
                created_at: Set(now),
                source: Set(CommentSource::Agent.as_str().to_owned()),
            })
            .exec_without_returning(&txn)
            .await?;
        }

        // 8. The requester's acknowledgement, its words written when sent.
        if c.acknowledge {
            let workspace = tenant::Entity::find_by_id(&c.tenant_id)
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mail = super::inbound::acknowledgement(&ticket, &requester, None);
            super::outbox::queue(&txn, &workspace, mail).await?;
        }

        // 9. The events the workspace's rules and webhooks listen to.
        let (created_event, closed_event) = c.events();
        for (id, kind) in [
            (created_event, EventKind::TicketCreated),
            (closed_event, EventKind::ChatClosed),
        ] {
            if let Some(id) = id {
                let e = NewEvent::new(kind, c.actor()).ticket(&ticket.id).chat(&c.chat_id);
                event::Entity::insert(super::events::row(id, &c.tenant_id, e, now))
                    .exec_without_returning(&txn)
                    .await?;
            }
        }

        txn.commit().await?;
        Ok(CommitOutcome::Created(ticket, requester))
    }

    /// The commit on a SQLite file when the script is all it writes:
    /// [`COMMIT_SQLITE_ALONE`], transaction and all, in one hand-off to the
    /// writer's thread (`BEGIN`, the script and `COMMIT` sent one by one
    /// were three; `perf` put most of the server's CPU in such hand-offs).
    /// Through sqlx on a connection held for the whole commit, not
    /// sea-orm's pooled statements: a statement that fails leaves the
    /// script's transaction open, and it must be rolled back on the
    /// connection that ran it before anyone else gets that connection.
    async fn commit_alone(
        &self,
        c: &ConversionCommit,
        ticket_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<CommitOutcome> {
        let values = commit_values(c, &ticket_id, now, DbBackend::Sqlite);
        let statement = Statement::from_sql_and_values(DbBackend::Sqlite, COMMIT_SQLITE_ALONE, values);
        let pool = self.writer.get_sqlite_connection_pool();
        let mut held = Unsettled(Some(pool.acquire().await.map_err(conn_err)?));
        let conn = held.0.as_mut().expect("held until settled");
        self.count_statement();
        let rows = sqlx_query::<sqlx::Sqlite>(statement).fetch_all(&mut **conn).await;
        let row = match rows {
            Ok(mut rows) => rows.pop(),
            Err(e) => {
                // No transaction is left when the script failed at `BEGIN`
                // or SQLite rolled back by itself: that refusal is fine.
                match sqlx::query("ROLLBACK").execute(&mut **conn).await {
                    Ok(_) | Err(sqlx::Error::Database(_)) => held.settle(),
                    Err(_) => {}
                }
                let e = query_err(e);
                // The ticket collided with another for this chat.
                if e.sql_err().is_some() {
                    return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
                }
                return Err(e.into());
            }
        };
        held.settle();
        // The claim matched nothing (converted, changed or gone): the
        // transaction committed had written nothing.
        let Some(row) = row else {
            return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
        };
        let row = QueryResult::from(row);
        let number: i64 = row.try_get("", "number")?;
        let requester = Requester::from_query_result(&row, "r_")?;
        let ticket = new_ticket(c, ticket_id, number, &requester, now);
        Ok(CommitOutcome::Created(ticket, requester))
    }

    /// After a failed claim: was the chat converted by someone else, changed,
    /// or is it gone?
    async fn why_not_claimed(&self, tenant_id: &str, chat_id: &str) -> StoreResult<CommitOutcome> {
        let chat = self.chat(tenant_id, chat_id).await?;
        match chat.ticket_id {
            Some(ticket_id) => Ok(CommitOutcome::AlreadyConverted(
                self.ticket(tenant_id, &ticket_id).await?,
            )),
            None => Ok(CommitOutcome::Stale),
        }
    }
}

/// The writer's connection while [`Store::commit_alone`]'s script may have
/// left a transaction open on it. Dropped so (the request was cancelled
/// mid-commit, or a rollback could not be sent), the connection is closed
/// rather than returned to the pool: closing rolls back whatever is open,
/// and the pool opens a new writer.
struct Unsettled(Option<PoolConnection<sqlx::Sqlite>>);

impl Unsettled {
    /// Nothing is open on the connection any more: it goes back to the pool.
    fn settle(&mut self) {
        self.0.take();
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// The commit's one statement on PostgreSQL. Each new connection also
/// runs it once, for a chat that does not exist, before it serves anyone
/// (`warm.rs`).
pub(super) fn postgres_commit(c: &ConversionCommit, ticket_id: &str, now: DateTime<Utc>) -> Statement {
    let (created_event, closed_event) = c.events();
    let mut values = commit_values(c, ticket_id, now, DbBackend::Postgres);
    let notice = c.notice.as_ref();
    values.extend([
        notice.map(|n| n.channel).into(),         // $35
        notice.map(|n| n.before.as_str()).into(), // $36
        notice.map(|n| n.after.as_str()).into(),  // $37
    ]);
    let sql = if created_event.is_some() || closed_event.is_some() {
        values.extend([
            c.actor().into(),     // $38
            created_event.into(), // $39
            closed_event.into(),  // $40
        ]);
        commit_postgres_with_events()
    } else {
        COMMIT_POSTGRES
    };
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The commit's parameters `$1`–`$34` (see `conversion_sql.rs`). The two
/// databases share them but for the search words (`$31`: words separated
/// by spaces for PostgreSQL's `string_to_array`, a JSON array for SQLite's
/// `json_each`) and the ids of rows only PostgreSQL's statement writes
/// itself (`$25`, `$32`, `$33`: the reason and the acknowledgement, which
/// SQLite writes as statements of their own), left NULL on SQLite.
fn commit_values(c: &ConversionCommit, ticket_id: &str, now: DateTime<Utc>, db: DbBackend) -> Vec<sea_orm::Value> {
    let (log_before, log_after) = conversion_log(&c.converting_agent_name);
    let email = &c.requester_email;
    let postgres = db == DbBackend::Postgres;
    let terms = ticket_terms(c);
    let terms = if postgres {
        terms.join(" ")
    } else {
        search::terms_json(&terms)
    };
    let id = || postgres.then(new_id);
    let thread = postgres.then(|| thread_root(ticket_id));
    vec![
        ticket_id.into(),                         // $1
        now.into(),                               // $2
        c.chat_id.clone().into(),                 // $3
        c.tenant_id.clone().into(),               // $4
        c.snapshot_version.into(),                // $5
        c.chat_was_closed.into(),                 // $6
        new_id().into(),                          // $7
        email.as_str().into(),                    // $8
        email.normalized().into(),                // $9
        c.requester_name.clone().into(),          // $10
        c.visitor_id.clone().into(),              // $11
        (!c.visitor_had_email).into(),            // $12
        c.subject.clone().into(),                 // $13
        c.description.clone().into(),             // $14
        TicketStatus::InProgress.as_str().into(), // $15
        c.assignee_id.clone().into(),             // $16
        c.first_response_at.into(),               // $17
        log_before.into(),                        // $18
        log_after.into(),                         // $19
        priority(&c.fields).into(),               // $20
        tags_json(&c.fields).into(),              // $21
        custom_json(&c.fields).into(),            // $22
        c.receipt.clone().into(),                 // $23
        c.reason.clone().into(),                  // $24
        id().into(),                              // $25
        c.converting_agent_id.clone().into(),     // $26
        c.converting_agent_name.clone().into(),   // $27
        c.first_response_due_at.into(),           // $28
        c.resolution_due_at.into(),               // $29
        c.due_at.into(),                          // $30
        terms.into(),                             // $31
        id().into(),                              // $32
        thread.into(),                            // $33
        c.acknowledge.into(),                     // $34
    ]
}

/// Finds the workspace's requester with `email` (any case), or creates
/// them as `name`; a known requester keeps their name.
pub(super) async fn upsert_requester(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: &str,
    email: &EmailAddress,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Requester> {
    Ok(requester::Entity::insert(requester::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant_id.to_owned()),
        email: Set(email.as_str().to_owned()),
        email_normalized: Set(email.normalized().to_owned()),
        name: Set(name.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([requester::Column::TenantId, requester::Column::EmailNormalized])
            .update_column(requester::Column::EmailNormalized)
            .to_owned(),
    )
    .exec_with_returning(txn)
    .await?)
}

/// Takes the workspace's next ticket number. The counter's row lock is
/// held until the commit and orders every new ticket of the workspace, so
/// callers take it as late as the statements that need the number allow.
pub(super) async fn take_ticket_number(txn: &sea_orm::DatabaseTransaction, tenant_id: &str) -> StoreResult<i64> {
    let counter = tenant::Entity::update_many()
        .col_expr(
            tenant::Column::NextTicketNumber,
            Expr::col(tenant::Column::NextTicketNumber).add(1),
        )
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or(StoreError::NotFound)?
        .next_ticket_number;
    Ok(counter - 1)
}

/// The words that find a converted ticket: its subject, requester and the
/// conversion's reason. Its number joins them in the commit's SQL, which
/// takes it.
fn ticket_terms(c: &ConversionCommit) -> Vec<String> {
    let texts = [
        Some(c.subject.as_str()),
        Some(c.requester_name.as_str()),
        Some(c.requester_email.as_str()),
        c.reason.as_deref(),
    ];
    search::terms(texts.into_iter().flatten())
}

/// The ticket a conversion creates.
fn new_ticket(c: &ConversionCommit, id: String, number: i64, requester: &Requester, now: DateTime<Utc>) -> Ticket {
    Ticket {
        id,
        tenant_id: c.tenant_id.clone(),
        number,
        subject: c.subject.clone(),
        description: c.description.clone(),
        status: TicketStatus::InProgress.to_string(),
        assignee_id: Some(c.assignee_id.clone()),
        requester_id: requester.id.clone(),
        first_response_at: c.first_response_at,
        origin_chat_id: Some(c.chat_id.clone()),
        summary: None,
        created_at: now,
        updated_at: now,
        priority: priority(&c.fields).to_owned(),
        tags: tags_json(&c.fields),
        custom_fields: custom_json(&c.fields),
        receipt: c.receipt.clone(),
        first_response_due_at: c.first_response_due_at,
        resolution_due_at: c.resolution_due_at,
        solved_at: None,
        due_at: c.due_at,
        channel: "chat".to_owned(),
    }
}

fn priority(f: &TicketFields) -> &'static str {
    f.priority.unwrap_or_default().as_str()
}

pub(super) fn tags_json(f: &TicketFields) -> String {
    serde_json::to_string(&f.tags).expect("strings serialize")
}

pub(super) fn custom_json(f: &TicketFields) -> String {
    let map: serde_json::Map<String, serde_json::Value> = f
        .custom
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The system message a conversion leaves in the chat, as the text before
/// and after the ticket's number (`TicketNumber`'s form: prefix and digits).
fn conversion_log(agent_name: &str) -> (String, &'static str) {
    (
        format!("{agent_name} converted this chat to ticket {PREFIX}"),
        " and closed the chat.",
    )
}
