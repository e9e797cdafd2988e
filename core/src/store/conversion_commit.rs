//! A conversion's commit.
//!
//! The commit writes everything (ticket, requester, chat link and close,
//! system message) or nothing: on PostgreSQL one statement of chained
//! writes (one round trip), on SQLite one transaction of six statements
//! (seven when the typed email becomes the visitor's) on the writer.
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
//!   (tenant_id, email_normalized) DO UPDATE … RETURNING`: the no-op update
//!   makes the existing row come back, so there is no second read, and it
//!   locks that row until the commit.
//! - The assignee's open-ticket counter is bumped by a trigger on the ticket
//!   insert, in this transaction.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement,
};

use super::chats::{NewMessage, message_row};
use super::entities::{chat, event, message, requester, tenant, ticket, ticket_comment, visitor};
use super::events::NewEvent;
use super::{Requester, Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::automation::EventKind;
use crate::domain::hooks::TicketFields;
use crate::domain::inbound::{CommentSource, thread_root};
use crate::domain::ticket_number::PREFIX;
use crate::domain::{ChatStatus, EmailAddress, TicketStatus};
use threadline_migrations::search::{self, SearchIndex};

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
    /// trip, atomic without `BEGIN` and `COMMIT`), on SQLite as a
    /// transaction of six statements on the writer connection. Both hold
    /// the workspace's ticket counter only for their last steps.
    pub async fn commit_conversion(&self, c: &ConversionCommit) -> StoreResult<CommitOutcome> {
        // Microseconds, as PostgreSQL keeps them: the ticket returned is
        // built here, not read back, and must equal what a read returns.
        let now = Utc::now().trunc_subsecs(6);
        let ticket_id = new_id();
        let outcome = match self.backend() {
            DbBackend::Postgres => self.commit_in_one_statement(c, ticket_id, now).await,
            _ => self.commit_in_steps(c, ticket_id, now).await,
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
        let (log_before, log_after) = conversion_log(&c.converting_agent_name);
        let email = &c.requester_email;
        let (created_event, closed_event) = c.events();
        let mut values: Vec<sea_orm::Value> = vec![
            ticket_id.clone().into(),                 // $1
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
            new_id().into(),                          // $25
            c.converting_agent_id.clone().into(),     // $26
            c.converting_agent_name.clone().into(),   // $27
            c.first_response_due_at.into(),           // $28
            c.resolution_due_at.into(),               // $29
            c.due_at.into(),                          // $30
            ticket_terms(c, None).join(" ").into(),   // $31
            new_id().into(),                          // $32
            thread_root(&ticket_id).into(),           // $33
            c.acknowledge.into(),                     // $34
        ];
        let sql = if created_event.is_some() || closed_event.is_some() {
            values.extend([
                c.actor().into(),     // $35
                created_event.into(), // $36
                closed_event.into(),  // $37
            ]);
            commit_postgres_with_events()
        } else {
            COMMIT_POSTGRES
        };
        let row = self
            .writer
            .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .await;
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

    async fn commit_in_steps(
        &self,
        c: &ConversionCommit,
        ticket_id: String,
        now: DateTime<Utc>,
    ) -> StoreResult<CommitOutcome> {
        let txn = self.write_txn().await?;

        // 1. Claim the chat: link it, close it, bump its version.
        let mut claim = chat::Entity::update_many()
            .col_expr(chat::Column::TicketId, Expr::value(&ticket_id))
            .col_expr(chat::Column::Status, Expr::value(ChatStatus::Closed.as_str()))
            .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
            .col_expr(chat::Column::UpdatedAt, Expr::value(now))
            .filter(chat::Column::Id.eq(&c.chat_id))
            .filter(chat::Column::TenantId.eq(&c.tenant_id))
            .filter(chat::Column::TicketId.is_null())
            .filter(chat::Column::Version.eq(c.snapshot_version));
        if !c.chat_was_closed {
            claim = claim.col_expr(chat::Column::ClosedAt, Expr::value(now));
        }
        if claim.exec(&txn).await?.rows_affected == 0 {
            txn.rollback().await?;
            return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
        }

        // 2. Find or create the requester.
        let email = &c.requester_email;
        let requester = upsert_requester(&txn, &c.tenant_id, email, &c.requester_name, now).await?;

        // The email typed in the panel becomes the visitor's, if the chat
        // never captured one, so the next conversation is pre-filled.
        if !c.visitor_had_email {
            visitor::Entity::update_many()
                .col_expr(visitor::Column::Email, Expr::value(email.as_str()))
                .filter(visitor::Column::Id.eq(&c.visitor_id))
                .filter(visitor::Column::TenantId.eq(&c.tenant_id))
                .filter(visitor::Column::Email.is_null())
                .exec(&txn)
                .await?;
        }

        // 3. The next ticket number of this workspace. Its row lock is held
        //    until the commit and orders every conversion of the workspace,
        //    so it is taken as late as the statements that need the number
        //    allow.
        let number = take_ticket_number(&txn, &c.tenant_id).await?;

        // 4. The ticket (written, not read back: we know every column).
        let ticket = new_ticket(c, ticket_id, number, &requester, now);
        let inserted = ticket::Entity::insert(ticket::ActiveModel::from(ticket.clone()))
            .exec_without_returning(&txn)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if e.sql_err().is_some() => {
                txn.rollback().await?;
                return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
            }
            Err(e) => return Err(e.into()),
        }

        // 5. Log it in the chat thread.
        let (before, after) = conversion_log(&c.converting_agent_name);
        let log = format!("{before}{number}{after}");
        message::Entity::insert(message_row(&c.tenant_id, &c.chat_id, &NewMessage::system(log), now))
            .exec_without_returning(&txn)
            .await?;

        // 6. What finds the ticket in a search.
        let terms = ticket_terms(c, Some(&number.to_string()));
        if let Some(insert) = search::insert(
            DbBackend::Sqlite,
            SearchIndex::Tickets,
            &c.tenant_id,
            &ticket.id,
            &terms,
        ) {
            txn.execute_raw(insert).await?;
        }

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

/// The words that find a converted ticket: its subject, requester, the
/// conversion's reason and, once taken, its number.
fn ticket_terms(c: &ConversionCommit, number: Option<&str>) -> Vec<String> {
    let texts = [
        Some(c.subject.as_str()),
        Some(c.requester_name.as_str()),
        Some(c.requester_email.as_str()),
        c.reason.as_deref(),
        number,
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

/// The whole commit on PostgreSQL, in the order of `commit_in_steps`: claim
/// the chat (everything after depends on it, so a claim that matches
/// nothing writes nothing and returns no row), find or create the
/// requester, give the visitor the typed email if they had none, take the
/// next number (after the requester, so the counter's row lock is taken
/// last), insert the ticket (its trigger counts it for the assignee) and
/// the system message, the reason and the ticket's search words (`$31`,
/// space-separated, and its number). One statement is one transaction: all
/// of it or none.
/// The events a conversion queues when its workspace listens: a CTE more
/// (with `$35`–`$37`), so that a workspace nobody listens to runs the
/// statement without it, and its planner never opens `events`.
const EVENTS_CTE: &str = "
, events AS (
    INSERT INTO events (id, tenant_id, kind, ticket_id, chat_id, comment_id, changes, actor, rule_id, depth,
                        attempts, next_attempt_at, created_at)
    SELECT e.id, $4, e.kind, $1, $3, NULL, NULL, $35, NULL, 0, 0, $2, $2
    FROM number, (VALUES ($36::text, 'ticket_created'), ($37::text, 'chat_closed')) AS e (id, kind)
    WHERE e.id IS NOT NULL
)";

/// [`COMMIT_POSTGRES`] with [`EVENTS_CTE`] before its final `SELECT`.
fn commit_postgres_with_events() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let at = COMMIT_POSTGRES
            .rfind("\nSELECT number.n")
            .expect("the commit ends in its SELECT");
        format!("{}{EVENTS_CTE}{}", &COMMIT_POSTGRES[..at], &COMMIT_POSTGRES[at..])
    })
}

const COMMIT_POSTGRES: &str = "
WITH claim AS (
    UPDATE chats
    SET ticket_id = $1, status = 'closed', version = version + 1, updated_at = $2,
        closed_at = CASE WHEN $6 THEN closed_at ELSE $2 END
    WHERE id = $3 AND tenant_id = $4 AND ticket_id IS NULL AND version = $5
    RETURNING id
), requester AS (
    INSERT INTO requesters (id, tenant_id, email, email_normalized, name, created_at)
    SELECT $7, $4, $8, $9, $10, $2 FROM claim
    ON CONFLICT (tenant_id, email_normalized) DO UPDATE SET email_normalized = EXCLUDED.email_normalized
    RETURNING id, tenant_id, email, email_normalized, name, created_at
), visitor AS (
    UPDATE visitors SET email = $8
    WHERE $12 AND id = $11 AND tenant_id = $4 AND email IS NULL AND EXISTS (SELECT 1 FROM claim)
), number AS (
    UPDATE tenants SET next_ticket_number = next_ticket_number + 1
    WHERE id = $4 AND EXISTS (SELECT 1 FROM requester)
    RETURNING next_ticket_number - 1 AS n
), ticket AS (
    INSERT INTO tickets (id, tenant_id, number, subject, description, status, assignee_id, requester_id,
                         first_response_at, origin_chat_id, summary, created_at, updated_at,
                         priority, tags, custom_fields, receipt, first_response_due_at, resolution_due_at, due_at)
    SELECT $1, $4, number.n, $13, $14, $15, $16, requester.id, $17, $3, NULL, $2, $2, $20, $21, $22, $23, $28, $29, $30
    FROM number, requester
), log AS (
    INSERT INTO messages (tenant_id, chat_id, kind, author_name, agent_id, body, created_at)
    SELECT $4, $3, 'system', 'System', NULL, $18 || number.n::text || $19, $2 FROM number
), reason AS (
    INSERT INTO ticket_comments (id, tenant_id, ticket_id, author_id, author_name, body, internal, created_at)
    SELECT $25, $4, $1, $26, $27, $24, TRUE, $2 FROM number WHERE $24::text IS NOT NULL
), terms AS (
    INSERT INTO ticket_terms (tenant_id, term, ticket_id)
    SELECT DISTINCT $4, term, $1 FROM number, unnest(string_to_array($31, ' ') || number.n::text) AS term
    ON CONFLICT DO NOTHING
), ack AS (
    INSERT INTO mail_outbox (id, tenant_id, comment_id, to_address, to_name, from_name, subject, body, message_id,
                             state, attempts, next_attempt_at, created_at, kind, ticket_id, thread_references)
    SELECT $32, $4, $32, requester.email, requester.name, '', '', '', $33,
           'queued', 0, $2, $2, 'acknowledgement', $1, ''
    FROM number, requester WHERE $34
)
SELECT number.n AS number, requester.id AS r_id, requester.tenant_id AS r_tenant_id, requester.email AS r_email,
       requester.email_normalized AS r_email_normalized, requester.name AS r_name,
       requester.created_at AS r_created_at
FROM number, requester";
