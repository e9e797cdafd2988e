//! The commit step of a conversion: one transaction that either writes
//! everything (ticket, requester, chat link and close, system message) or
//! nothing.
//!
//! Races are settled by the database, not by checks in code:
//! - The first statement claims the chat with a conditional `UPDATE … WHERE
//!   ticket_id IS NULL AND version = <snapshot>`. Exactly one transaction can
//!   match; on PostgreSQL the others wait on the row lock, then re-read the row
//!   and match nothing. A chat that changed since the snapshot matches nothing
//!   either, and the caller redoes the snapshot.
//! - `tickets.origin_chat_id` is unique, as a second line of defence.
//! - Ticket numbers come from a per-tenant counter bumped inside the same
//!   transaction: the row lock serializes allocation, and a rollback gives the
//!   number back, so numbers have no gaps.
//! - Requesters are found-or-created with `INSERT … ON CONFLICT DO NOTHING`
//!   on `(tenant_id, email_normalized)`, then read back.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::chats::{NewMessage, insert_message};
use super::entities::{chat, requester, tenant, ticket, visitor};
use super::{Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::{ChatStatus, EmailAddress, TicketNumber, TicketStatus};

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
    pub converting_agent_name: String,
}

#[derive(Debug)]
pub enum CommitOutcome {
    Created(Ticket),
    /// Someone converted this chat first: here is their ticket.
    AlreadyConverted(Ticket),
    /// The chat changed after the snapshot; snapshot again and retry.
    Stale,
}

impl Store {
    pub async fn commit_conversion(&self, c: &ConversionCommit) -> StoreResult<CommitOutcome> {
        let now = Utc::now();
        let ticket_id = new_id();
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

        // 2. The next ticket number of this workspace.
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::NextTicketNumber,
                Expr::col(tenant::Column::NextTicketNumber).add(1),
            )
            .filter(tenant::Column::Id.eq(&c.tenant_id))
            .exec(&txn)
            .await?;
        let counter = tenant::Entity::find_by_id(&c.tenant_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?
            .next_ticket_number;
        let number = counter - 1;

        // 3. Find or create the requester.
        let email = &c.requester_email;
        requester::Entity::insert(requester::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(c.tenant_id.clone()),
            email: Set(email.as_str().to_owned()),
            email_normalized: Set(email.normalized().to_owned()),
            name: Set(c.requester_name.clone()),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([requester::Column::TenantId, requester::Column::EmailNormalized])
        .exec_without_returning(&txn)
        .await?;
        let requester = requester::Entity::find()
            .filter(requester::Column::TenantId.eq(&c.tenant_id))
            .filter(requester::Column::EmailNormalized.eq(email.normalized()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;

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

        // 4. The ticket.
        let ticket = ticket::ActiveModel {
            id: Set(ticket_id),
            tenant_id: Set(c.tenant_id.clone()),
            number: Set(number),
            subject: Set(c.subject.clone()),
            description: Set(c.description.clone()),
            status: Set(TicketStatus::InProgress.to_string()),
            assignee_id: Set(Some(c.assignee_id.clone())),
            requester_id: Set(requester.id),
            first_response_at: Set(c.first_response_at),
            origin_chat_id: Set(Some(c.chat_id.clone())),
            summary: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await;
        let ticket = match ticket {
            Ok(t) => t,
            Err(e) if e.sql_err().is_some() => {
                txn.rollback().await?;
                return self.why_not_claimed(&c.tenant_id, &c.chat_id).await;
            }
            Err(e) => return Err(e.into()),
        };

        // 5. Log it in the chat thread.
        let chat = chat::Entity::find_by_id(&c.chat_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let log = format!(
            "{} converted this chat to ticket {} and closed the chat.",
            c.converting_agent_name,
            TicketNumber(number)
        );
        insert_message(&txn, &chat, &NewMessage::system(log), now).await?;

        txn.commit().await?;
        Ok(CommitOutcome::Created(ticket))
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
