//! Ticket comments; a public one is queued in the outbox (`outbox.rs`)
//! for the requester in the same transaction.

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{mail_outbox, requester, tenant, ticket, ticket_comment};
use super::events::{Doer, NewEvent};
use super::outbox::{self, MailKind, NewMail, OutboxMail};
use super::{Agent, Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::automation::EventKind;
use crate::domain::inbound::CommentSource;
use crate::domain::{TicketNumber, TicketStatus, mail};
use threadline_migrations::search::SearchIndex;

pub type Comment = ticket_comment::Model;
/// Comments shown with a ticket at most (the newest).
pub const MAX_COMMENTS_SHOWN: u64 = 200;

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
        let (comment, queued) = write_comment(&txn, &ticket, Doer::agent(agent), body, internal).await?;
        let ticket = ticket::Entity::find_by_id(&ticket.id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        self.meter.count(tenant_id, |u| u.stored_bytes += body.len() as i64);
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
}

/// Writes a comment on `ticket` (read in `txn`, which holds its row): the
/// comment, its search words, the ticket's `updated_at` and, for a public
/// one, its first response and a mail to the requester in the outbox.
pub(super) async fn write_comment(
    txn: &DatabaseTransaction,
    ticket: &Ticket,
    by: Doer<'_>,
    body: &str,
    internal: bool,
) -> StoreResult<(Comment, Option<OutboxMail>)> {
    let now = Utc::now().trunc_subsecs(6);
    let comment = ticket_comment::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(ticket.tenant_id.clone()),
        ticket_id: Set(ticket.id.clone()),
        author_id: Set(by.activity_id()),
        author_name: Set(by.name.to_owned()),
        body: Set(body.to_owned()),
        internal: Set(internal),
        created_at: Set(now),
        source: Set(CommentSource::Agent.as_str().to_owned()),
    }
    .insert(txn)
    .await?;
    super::index_terms(txn, SearchIndex::Tickets, &ticket.tenant_id, &ticket.id, [body]).await?;
    let mut update = ticket::Entity::update_many()
        .filter(ticket::Column::Id.eq(&ticket.id))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now));
    let mut queued = None;
    if !internal {
        if ticket.first_response_at.is_none() {
            // The first response target is met: the resolution's is next.
            let mut clock = super::tickets::sla_clock(ticket, ticket.solved_at);
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
            .filter(requester::Column::TenantId.eq(&ticket.tenant_id))
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let workspace = tenant::Entity::find_by_id(&ticket.tenant_id)
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let m = mail::reply(
            &comment.id,
            TicketNumber(ticket.number),
            &ticket.subject,
            body,
            by.name,
            outbox::sender_name(&workspace),
        );
        let mail = NewMail {
            kind: MailKind::Reply,
            comment_id: Some(comment.id.clone()),
            to_address: requester.email,
            to_name: requester.name,
            from_name: m.from_name,
            subject: m.subject,
            body: m.body,
            message_id: m.message_id,
            thread: Some(super::threads::thread_of(txn, ticket).await?),
        };
        queued = Some(outbox::queue(txn, &workspace, mail).await?);
    }
    update.exec(txn).await?;
    super::events::queue(
        txn,
        &ticket.tenant_id,
        NewEvent::by(EventKind::CommentAdded, by)
            .ticket(&ticket.id)
            .comment(&comment.id),
    )
    .await?;
    Ok((comment, queued))
}
