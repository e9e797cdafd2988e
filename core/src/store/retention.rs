//! Retention: each workspace keeps closed chats, closed tickets and mail
//! as many days as its settings say (none: for ever), and the server keeps
//! the audit log `--audit-retention-days`.
//!
//! The job runs on one node at a time (the `job_leases` row named
//! [`RETENTION_JOB`]), in batches: each batch is one short write
//! transaction that re-reads its candidates by index (oldest first) and
//! deletes them with everything that hangs off them, so no lock is held
//! for long and conversions run between batches.
//!
//! What goes with what:
//! - a closed chat: its messages, rating, search words; its visitor when
//!   they have no chat left and are not blocked; a ticket made from it
//!   keeps its transcript (the description) and loses only the link;
//! - a solved or closed ticket (by its last change): its comments,
//!   activity, search words, the mail sent and received about it, the chat
//!   it came from (as above), and its requester when they have no ticket
//!   left;
//! - mail: received mail and the copies of sent mail past the age.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use threadline_migrations::search::{self, SearchIndex};

use super::entities::{
    chat, inbound_mail, job_lease, mail_outbox, message, rating, requester, tenant, ticket, ticket_comment,
    ticket_event, visitor, visitor_block,
};
use super::{Store, StoreResult, mail_state};

/// The retention job's lease name.
pub const RETENTION_JOB: &str = "retention";

/// What one run deleted in one workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetentionCounts {
    pub chats: u64,
    pub tickets: u64,
    pub mails: u64,
}

/// How a run goes.
#[derive(Debug, Clone, Copy)]
pub struct RetentionRun {
    /// Rows deleted per transaction.
    pub batch: u64,
    /// Rest between batches, so other writers take their turn.
    pub pause: std::time::Duration,
    /// Audit entries older than this many days go (none: kept for ever).
    pub audit_days: Option<u32>,
}

impl Store {
    /// Takes (or renews) the lease of job `name` for `owner` until `for_`
    /// from now. True when `owner` holds it: nobody did, it ran out, or it
    /// was `owner`'s already.
    pub async fn claim_job(&self, name: &str, owner: &str, for_: std::time::Duration) -> StoreResult<bool> {
        let now = Utc::now();
        let until = now + Duration::from_std(for_).unwrap_or(Duration::minutes(5));
        let txn = self.write_txn().await?;
        job_lease::Entity::insert(job_lease::ActiveModel {
            name: Set(name.to_owned()),
            owner: Set(None),
            until: Set(None),
        })
        .on_conflict(OnConflict::column(job_lease::Column::Name).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
        let took = job_lease::Entity::update_many()
            .col_expr(job_lease::Column::Owner, sea_orm::sea_query::Expr::value(owner))
            .col_expr(job_lease::Column::Until, sea_orm::sea_query::Expr::value(until))
            .filter(job_lease::Column::Name.eq(name))
            .filter(
                sea_orm::Condition::any()
                    .add(job_lease::Column::Until.is_null())
                    .add(job_lease::Column::Until.lt(now))
                    .add(job_lease::Column::Owner.eq(owner)),
            )
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(took.rows_affected == 1)
    }

    /// One retention run over every workspace that set a retention, then
    /// the audit log. Returns the rows deleted in all.
    pub async fn run_retention(&self, run: RetentionRun) -> StoreResult<RetentionCounts> {
        let tenants = tenant::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(tenant::Column::RetentionClosedChatsDays.is_not_null())
                    .add(tenant::Column::RetentionClosedTicketsDays.is_not_null())
                    .add(tenant::Column::RetentionMailDays.is_not_null()),
            )
            .all(&self.db)
            .await?;
        let mut total = RetentionCounts::default();
        for t in tenants {
            let now = Utc::now();
            let mut counts = RetentionCounts::default();
            if let Some(days) = t.retention_closed_tickets_days {
                let cutoff = now - Duration::days(days.into());
                counts.tickets = self.batches(run, Old::Tickets, &t.id, cutoff).await?;
            }
            if let Some(days) = t.retention_closed_chats_days {
                let cutoff = now - Duration::days(days.into());
                counts.chats = self.batches(run, Old::Chats, &t.id, cutoff).await?;
            }
            if let Some(days) = t.retention_mail_days {
                let cutoff = now - Duration::days(days.into());
                counts.mails = self.batches(run, Old::Mail, &t.id, cutoff).await?;
            }
            let txn = self.write_txn().await?;
            tenant::Entity::update_many()
                .col_expr(tenant::Column::RetentionRunAt, sea_orm::sea_query::Expr::value(now))
                .col_expr(
                    tenant::Column::RetentionCounts,
                    sea_orm::sea_query::Expr::value(serde_json::to_string(&counts).unwrap_or_default()),
                )
                .filter(tenant::Column::Id.eq(&t.id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            total.chats += counts.chats;
            total.tickets += counts.tickets;
            total.mails += counts.mails;
        }
        if let Some(days) = run.audit_days {
            let cutoff = Utc::now() - Duration::days(days.into());
            while self.prune_audit(cutoff, run.batch).await? == run.batch {
                tokio::time::sleep(run.pause).await;
            }
        }
        // Webhooks' delivery logs (they copy what their events said) and
        // the scheduler's marks.
        let cutoff = Utc::now() - Duration::days(super::deliveries::DELIVERY_LOG_DAYS);
        while self.prune_deliveries(cutoff, run.batch).await? == run.batch {
            tokio::time::sleep(run.pause).await;
        }
        let cutoff = Utc::now() - Duration::days(super::deliveries::SCHEDULE_MARK_DAYS);
        while self.prune_marks(cutoff, run.batch).await? == run.batch {
            tokio::time::sleep(run.pause).await;
        }
        Ok(total)
    }

    /// Deletes `what` of workspace `tenant_id` older than `cutoff` in
    /// write transactions of a batch each, until one deletes less than a
    /// full batch; returns how many it deleted in all.
    async fn batches(&self, run: RetentionRun, what: Old, tenant_id: &str, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let txn = self.write_txn().await?;
            let n = match what {
                Old::Chats => delete_old_chats(&txn, tenant_id, cutoff, run.batch).await?,
                Old::Tickets => delete_old_tickets(&txn, tenant_id, cutoff, run.batch).await?,
                Old::Mail => delete_old_mail(&txn, tenant_id, cutoff, run.batch).await?,
            };
            txn.commit().await?;
            total += n;
            if n < run.batch {
                return Ok(total);
            }
            tokio::time::sleep(run.pause).await;
        }
    }
}

/// What a batch deletes.
#[derive(Debug, Clone, Copy)]
enum Old {
    Chats,
    Tickets,
    Mail,
}

/// Deletes up to `limit` closed chats that closed before `cutoff`.
async fn delete_old_chats<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> StoreResult<u64> {
    let mut find = chat::Entity::find()
        .filter(chat::Column::TenantId.eq(tenant_id))
        .filter(chat::Column::ClosedAt.lt(cutoff))
        .filter(chat::Column::Status.eq("closed"))
        .order_by_asc(chat::Column::ClosedAt)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        // A chat (or ticket, below) reopened meanwhile waits for the
        // batch, then is no candidate (SQLite has one writer).
        find = find.lock_exclusive();
    }
    let chats = find.all(txn).await?;
    let n = chats.len() as u64;
    delete_chats(txn, tenant_id, chats).await?;
    Ok(n)
}

/// Deletes `chats` with their messages, ratings and search words, and the
/// visitors left with no chat.
async fn delete_chats<C: ConnectionTrait>(txn: &C, tenant_id: &str, chats: Vec<chat::Model>) -> StoreResult<()> {
    if chats.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = chats.iter().map(|c| c.id.clone()).collect();
    let messages = message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant_id))
        .filter(message::Column::ChatId.is_in(ids.clone()))
        .all(txn)
        .await?;
    let visitor_ids: Vec<String> = chats.iter().map(|c| c.visitor_id.clone()).collect();
    let visitors = visitor::Entity::find()
        .filter(visitor::Column::TenantId.eq(tenant_id))
        .filter(visitor::Column::Id.is_in(visitor_ids.clone()))
        .all(txn)
        .await?;
    // The words each chat was indexed by: its subject, its visitor's name
    // and address, its messages (see `Store::start_chat` and `add_message`).
    for c in &chats {
        let v = visitors.iter().find(|v| v.id == c.visitor_id);
        let texts = c
            .subject
            .iter()
            .map(String::as_str)
            .chain(v.map(|v| v.name.as_str()))
            .chain(v.and_then(|v| v.email.as_deref()))
            .chain(messages.iter().filter(|m| m.chat_id == c.id).map(|m| m.body.as_str()));
        let words = search::terms(texts);
        super::unindex_terms(txn, SearchIndex::Chats, tenant_id, &c.id, &words).await?;
    }
    message::Entity::delete_many()
        .filter(message::Column::TenantId.eq(tenant_id))
        .filter(message::Column::ChatId.is_in(ids.clone()))
        .exec(txn)
        .await?;
    rating::Entity::delete_many()
        .filter(rating::Column::TenantId.eq(tenant_id))
        .filter(rating::Column::ChatId.is_in(ids.clone()))
        .exec(txn)
        .await?;
    // A ticket made from the chat keeps its transcript; its link goes
    // with the chat (found by the chat's own `ticket_id`, by key).
    let tickets: Vec<String> = chats.iter().filter_map(|c| c.ticket_id.clone()).collect();
    if !tickets.is_empty() {
        ticket::Entity::update_many()
            .col_expr(
                ticket::Column::OriginChatId,
                sea_orm::sea_query::Expr::value(Option::<String>::None),
            )
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Id.is_in(tickets))
            .exec(txn)
            .await?;
    }
    chat::Entity::delete_many()
        .filter(chat::Column::TenantId.eq(tenant_id))
        .filter(chat::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    for v in visitors {
        let chats_left = chat::Entity::find()
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::VisitorId.eq(&v.id))
            .count(txn)
            .await?;
        let blocked = visitor_block::Entity::find()
            .filter(visitor_block::Column::TenantId.eq(tenant_id))
            .filter(visitor_block::Column::VisitorId.eq(&v.id))
            .count(txn)
            .await?;
        if chats_left == 0 && blocked == 0 {
            visitor::Entity::delete_by_id(v.id).exec(txn).await?;
        }
    }
    Ok(())
}

/// Deletes up to `limit` solved or closed tickets last changed before
/// `cutoff`.
async fn delete_old_tickets<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> StoreResult<u64> {
    let mut find = ticket::Entity::find()
        .filter(ticket::Column::TenantId.eq(tenant_id))
        .filter(ticket::Column::Status.is_in(["solved", "closed"]))
        .filter(ticket::Column::UpdatedAt.lt(cutoff))
        .order_by_asc(ticket::Column::UpdatedAt)
        .limit(limit);
    if txn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    let tickets = find.all(txn).await?;
    if tickets.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = tickets.iter().map(|t| t.id.clone()).collect();
    let comments = ticket_comment::Entity::find()
        .filter(ticket_comment::Column::TenantId.eq(tenant_id))
        .filter(ticket_comment::Column::TicketId.is_in(ids.clone()))
        .all(txn)
        .await?;
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TenantId.eq(tenant_id))
        .filter(ticket_event::Column::TicketId.is_in(ids.clone()))
        .all(txn)
        .await?;
    let requester_ids: Vec<String> = tickets.iter().map(|t| t.requester_id.clone()).collect();
    let requesters = requester::Entity::find()
        .filter(requester::Column::TenantId.eq(tenant_id))
        .filter(requester::Column::Id.is_in(requester_ids))
        .all(txn)
        .await?;
    for t in &tickets {
        let r = requesters.iter().find(|r| r.id == t.requester_id);
        let number = t.number.to_string();
        // Every text it was indexed by, old subjects included.
        let texts = [t.subject.as_str(), t.description.as_str(), number.as_str()]
            .into_iter()
            .chain(r.map(|r| r.name.as_str()))
            .chain(r.map(|r| r.email.as_str()))
            .chain(comments.iter().filter(|c| c.ticket_id == t.id).map(|c| c.body.as_str()))
            .chain(
                events
                    .iter()
                    .filter(|e| e.ticket_id == t.id)
                    .filter_map(|e| e.old_value.as_deref()),
            );
        let words = search::terms(texts);
        super::unindex_terms(txn, SearchIndex::Tickets, tenant_id, &t.id, &words).await?;
    }
    ticket_comment::Entity::delete_many()
        .filter(ticket_comment::Column::TenantId.eq(tenant_id))
        .filter(ticket_comment::Column::TicketId.is_in(ids.clone()))
        .exec(txn)
        .await?;
    ticket_event::Entity::delete_many()
        .filter(ticket_event::Column::TenantId.eq(tenant_id))
        .filter(ticket_event::Column::TicketId.is_in(ids.clone()))
        .exec(txn)
        .await?;
    mail_outbox::Entity::delete_many()
        .filter(mail_outbox::Column::TicketId.is_in(ids.clone()))
        .filter(mail_outbox::Column::TenantId.eq(tenant_id))
        .exec(txn)
        .await?;
    inbound_mail::Entity::delete_many()
        .filter(inbound_mail::Column::TenantId.eq(tenant_id))
        .filter(inbound_mail::Column::TicketId.is_in(ids.clone()))
        .exec(txn)
        .await?;
    let origins: Vec<String> = tickets.iter().filter_map(|t| t.origin_chat_id.clone()).collect();
    ticket::Entity::delete_many()
        .filter(ticket::Column::TenantId.eq(tenant_id))
        .filter(ticket::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    if !origins.is_empty() {
        let chats = chat::Entity::find()
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::Id.is_in(origins))
            .all(txn)
            .await?;
        delete_chats(txn, tenant_id, chats).await?;
    }
    for r in requesters {
        let left = ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::RequesterId.eq(&r.id))
            .count(txn)
            .await?;
        if left == 0 {
            requester::Entity::delete_by_id(r.id).exec(txn).await?;
        }
    }
    Ok(tickets.len() as u64)
}

/// Deletes up to `limit` received mails and sent mails' copies older than
/// `cutoff`, oldest first.
async fn delete_old_mail<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> StoreResult<u64> {
    let received: Vec<String> = inbound_mail::Entity::find()
        .select_only()
        .column(inbound_mail::Column::Id)
        .filter(inbound_mail::Column::TenantId.eq(tenant_id))
        .filter(inbound_mail::Column::ReceivedAt.lt(cutoff))
        .order_by_asc(inbound_mail::Column::ReceivedAt)
        .limit(limit)
        .into_tuple()
        .all(txn)
        .await?;
    let sent: Vec<String> = mail_outbox::Entity::find()
        .select_only()
        .column(mail_outbox::Column::Id)
        .filter(mail_outbox::Column::TenantId.eq(tenant_id))
        .filter(mail_outbox::Column::State.eq(mail_state::SENT))
        .filter(mail_outbox::Column::SentAt.lt(cutoff))
        .order_by_asc(mail_outbox::Column::SentAt)
        .limit(limit)
        .into_tuple()
        .all(txn)
        .await?;
    let n = (received.len() + sent.len()) as u64;
    if !received.is_empty() {
        inbound_mail::Entity::delete_many()
            .filter(inbound_mail::Column::Id.is_in(received))
            .exec(txn)
            .await?;
    }
    if !sent.is_empty() {
        mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::Id.is_in(sent))
            .exec(txn)
            .await?;
    }
    // Up to two batches' worth (received and sent): the caller goes on
    // while a call deleted a batch or more, so a full batch of either kind
    // is looked at again (at worst one more call that finds nothing).
    Ok(n)
}
