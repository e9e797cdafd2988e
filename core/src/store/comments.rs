//! Ticket comments, and the mail outbox that carries public ones to the
//! requester (see migration 13 for the shape and `crate::mail` for the
//! sender).

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::{mail_outbox, requester, tenant, ticket, ticket_comment};
use super::{Agent, Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::{TicketNumber, TicketStatus, mail};
use threadline_migrations::search::SearchIndex;

pub type Comment = ticket_comment::Model;
pub type OutboxMail = mail_outbox::Model;

/// Comments shown with a ticket at most (the newest).
pub const MAX_COMMENTS_SHOWN: u64 = 200;

/// The states of an outbox row.
pub mod mail_state {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

impl Store {
    /// Adds a comment to ticket `number` as `agent`. A public comment is
    /// queued for the requester in the same transaction, and, as the
    /// ticket's first public answer, sets its `first_response_at` (a chat's
    /// first response carried over by conversion is kept). A closed ticket
    /// takes no comment (409).
    pub async fn add_comment(
        &self,
        tenant_id: &str,
        number: i64,
        agent: &Agent,
        body: &str,
        internal: bool,
    ) -> StoreResult<(Ticket, Comment, Option<OutboxMail>)> {
        let txn = self.write_txn().await?;
        // Taken in turn with a status change of the same ticket: a comment
        // never lands on a ticket just closed.
        let ticket = self.ticket_for_update(&txn, tenant_id, number).await?;
        if ticket.status == TicketStatus::Closed.as_str() {
            return Err(StoreError::Conflict(format!(
                "ticket {} is closed and takes no more comments; open a new ticket instead",
                TicketNumber(number)
            )));
        }
        let now = Utc::now().trunc_subsecs(6);
        let comment = ticket_comment::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            ticket_id: Set(ticket.id.clone()),
            author_id: Set(agent.id.clone()),
            author_name: Set(agent.name.clone()),
            body: Set(body.to_owned()),
            internal: Set(internal),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        super::index_terms(&txn, SearchIndex::Tickets, tenant_id, &ticket.id, [body]).await?;
        let mut update = ticket::Entity::update_many()
            .filter(ticket::Column::Id.eq(&ticket.id))
            .col_expr(ticket::Column::UpdatedAt, Expr::value(now));
        let mut queued = None;
        if !internal {
            if ticket.first_response_at.is_none() {
                // The first response target is met: the resolution's is next.
                let mut clock = super::tickets::sla_clock(&ticket, ticket.solved_at);
                clock.first_response_at = Some(now);
                let due = ticket
                    .status
                    .parse::<TicketStatus>()
                    .ok()
                    .and_then(|s| clock.next_due(s));
                update = update
                    .col_expr(ticket::Column::FirstResponseAt, Expr::value(now))
                    .col_expr(ticket::Column::DueAt, Expr::value(due));
            }
            let requester = requester::Entity::find_by_id(&ticket.requester_id)
                .filter(requester::Column::TenantId.eq(tenant_id))
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let workspace = tenant::Entity::find_by_id(tenant_id)
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let m = mail::reply(
                &comment.id,
                TicketNumber(number),
                &ticket.subject,
                body,
                &agent.name,
                &workspace.name,
            );
            queued = Some(
                mail_outbox::ActiveModel {
                    id: Set(new_id()),
                    tenant_id: Set(tenant_id.to_owned()),
                    comment_id: Set(comment.id.clone()),
                    to_address: Set(requester.email),
                    to_name: Set(requester.name),
                    from_name: Set(m.from_name),
                    subject: Set(m.subject),
                    body: Set(m.body),
                    message_id: Set(m.message_id),
                    state: Set(mail_state::QUEUED.to_owned()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    last_error: Set(None),
                    sent_at: Set(None),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?,
            );
        }
        update.exec(&txn).await?;
        let ticket = ticket::Entity::find_by_id(&ticket.id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Ok((ticket, comment, queued))
    }

    /// A ticket's comments, oldest first (its newest [`MAX_COMMENTS_SHOWN`]),
    /// each public one with its mail.
    pub async fn ticket_comments(
        &self,
        tenant_id: &str,
        ticket_id: &str,
    ) -> StoreResult<Vec<(Comment, Option<OutboxMail>)>> {
        let mut comments = ticket_comment::Entity::find()
            .filter(ticket_comment::Column::TicketId.eq(ticket_id))
            .filter(ticket_comment::Column::TenantId.eq(tenant_id))
            .order_by_desc(ticket_comment::Column::CreatedAt)
            .order_by_desc(ticket_comment::Column::Id)
            .limit(MAX_COMMENTS_SHOWN)
            .all(&self.db)
            .await?;
        comments.reverse();
        let public: Vec<String> = comments.iter().filter(|c| !c.internal).map(|c| c.id.clone()).collect();
        let mut mails = if public.is_empty() {
            Vec::new()
        } else {
            mail_outbox::Entity::find()
                .filter(mail_outbox::Column::TenantId.eq(tenant_id))
                .filter(mail_outbox::Column::CommentId.is_in(public))
                .all(&self.db)
                .await?
        };
        Ok(comments
            .into_iter()
            .map(|c| {
                let mail = mails
                    .iter()
                    .position(|m| m.comment_id == c.id)
                    .map(|i| mails.swap_remove(i));
                (c, mail)
            })
            .collect())
    }

    /// Takes up to `limit` mails that are due, for this sender alone until
    /// `lease_until`: their next attempt moves there, so a sender that dies
    /// mid-send leaves them to be retried once the lease is over, and
    /// another node's sender skips them meanwhile.
    pub async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<OutboxMail>> {
        let txn = self.write_txn().await?;
        let mut due = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(mail_outbox::Column::State.eq(mail_state::QUEUED))
            .filter(mail_outbox::Column::NextAttemptAt.lte(now))
            .order_by_asc(mail_outbox::Column::NextAttemptAt)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            // Two nodes polling at once take different rows rather than
            // waiting on each other.
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<String> = due.into_tuple().all(&txn).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(lease_until))
            .col_expr(
                mail_outbox::Column::Attempts,
                Expr::col(mail_outbox::Column::Attempts).add(1),
            )
            .filter(mail_outbox::Column::Id.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        let claimed = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Id.is_in(ids))
            .order_by_asc(mail_outbox::Column::CreatedAt)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(claimed)
    }

    /// Records how an attempt at a claimed mail ended: `sent`, `failed`
    /// for good, or queued again for `retry_at`. Only a queued row moves,
    /// so a late report cannot undo a newer one.
    pub async fn mail_attempted(&self, id: &str, outcome: MailOutcome) -> StoreResult<()> {
        let now = Utc::now().trunc_subsecs(6);
        let update = mail_outbox::Entity::update_many()
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::State.eq(mail_state::QUEUED));
        let update = match outcome {
            MailOutcome::Sent => update
                .col_expr(mail_outbox::Column::State, Expr::value(mail_state::SENT))
                .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
                .col_expr(mail_outbox::Column::LastError, Expr::value(Option::<String>::None)),
            MailOutcome::Retry { error, at } => update
                .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(at))
                .col_expr(mail_outbox::Column::LastError, Expr::value(error)),
            MailOutcome::Failed { error } => update
                .col_expr(mail_outbox::Column::State, Expr::value(mail_state::FAILED))
                .col_expr(mail_outbox::Column::LastError, Expr::value(error)),
        };
        update.exec(&self.writer).await?;
        Ok(())
    }
}

/// How one attempt at a mail ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent,
    Retry { error: String, at: DateTime<Utc> },
    Failed { error: String },
}
