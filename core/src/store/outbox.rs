//! The mail outbox: every mail the server sends is a row written in the
//! same transaction as what causes it (a public comment, an invitation, a
//! password reset), claimed under a lease by a node's sender (see
//! `crate::mail`) and marked with how each attempt ended.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::{mail_outbox, tenant, ticket, ticket_comment};
use super::lease::Queue;
use super::{Store, StoreResult, new_id};
use crate::domain::inbound;
use crate::domain::{TicketNumber, mail};

pub type OutboxMail = mail_outbox::Model;

/// The states of an outbox row.
pub mod mail_state {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A public ticket comment, to its requester.
    Reply,
    /// An invitation to join a workspace.
    Invitation,
    /// A password reset link.
    PasswordReset,
    /// A ticket's number, mailed to its requester when it is made; its
    /// words are written when it is sent, from the ticket (see
    /// `Store::acknowledgement`), so the conversion that queues it need
    /// not know its number yet.
    Acknowledgement,
    /// An agent's answer in a chat, mailed to a visitor who left.
    ChatReply,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::Acknowledgement => "acknowledgement",
            Self::ChatReply => "chat_reply",
        }
    }
}

/// A mail to queue.
pub struct NewMail {
    pub kind: MailKind,
    /// For a reply, its comment; account mails carry none.
    pub comment_id: Option<String>,
    pub to_address: String,
    pub to_name: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    /// For a ticket's mail: its thread, which also tags the Reply-To.
    pub thread: Option<MailThread>,
}

/// Where a ticket's (or a chat's) mail sits in its thread.
pub struct MailThread {
    /// The ticket, whose number tags the Reply-To.
    pub ticket: Option<(String, TicketNumber)>,
    /// Or the chat, for an answer mailed to a visitor who left.
    pub chat_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// Oldest first.
    pub references: Vec<String>,
}

/// The body an account mail keeps once sent: its link carried a token,
/// which the database need not hold any longer than the sending.
const SENT_ACCOUNT_MAIL_BODY: &str = "(removed once sent: it held a single-use link)";

/// Queues `mail` from `workspace` in `txn`: its sender name and Reply-To are
/// the workspace's (its name when it set none); a ticket's mail answers to
/// the ticket's own reply address.
pub(super) async fn queue(
    txn: &sea_orm::DatabaseTransaction,
    workspace: &tenant::Model,
    mail: NewMail,
) -> StoreResult<OutboxMail> {
    let now = Utc::now().trunc_subsecs(6);
    let id = new_id();
    let number = mail.thread.as_ref().and_then(|t| t.ticket.as_ref()).map(|(_, n)| *n);
    let reply_to = match (&workspace.reply_to, &workspace.mail_secret, number) {
        (Some(base), Some(secret), Some(number)) => Some(inbound::reply_address(base, secret, number)),
        _ => workspace.reply_to.clone(),
    };
    let (ticket_id, chat_id, in_reply_to, references) = match mail.thread {
        Some(t) => (
            t.ticket.map(|(id, _)| id),
            t.chat_id,
            t.in_reply_to,
            Some(t.references.join(" ")),
        ),
        None => (None, None, None, None),
    };
    Ok(mail_outbox::ActiveModel {
        // `comment_id` is unique and not null: an account mail puts its
        // own id there (see migration 17).
        comment_id: Set(mail.comment_id.unwrap_or_else(|| id.clone())),
        id: Set(id),
        tenant_id: Set(workspace.id.clone()),
        to_address: Set(mail.to_address),
        to_name: Set(mail.to_name),
        from_name: Set(mail.from_name),
        subject: Set(mail.subject),
        body: Set(mail.body),
        message_id: Set(mail.message_id),
        state: Set(mail_state::QUEUED.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        sent_at: Set(None),
        created_at: Set(now),
        kind: Set(mail.kind.as_str().to_owned()),
        reply_to: Set(reply_to),
        ticket_id: Set(ticket_id),
        chat_id: Set(chat_id),
        in_reply_to: Set(in_reply_to),
        thread_references: Set(references),
    }
    .insert(txn)
    .await?)
}

/// The name a workspace's mail goes out under.
pub fn sender_name(workspace: &tenant::Model) -> &str {
    workspace.sender_name.as_deref().unwrap_or(&workspace.name)
}

impl Store {
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
        let queue = Queue::<mail_outbox::Entity> {
            id: mail_outbox::Column::Id,
            tenant: mail_outbox::Column::TenantId,
            due: mail_outbox::Column::NextAttemptAt,
            attempts: mail_outbox::Column::Attempts,
            state: Some((mail_outbox::Column::State, mail_state::QUEUED)),
        };
        let ids = self.claim(&queue, now, lease_until, limit).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Id.is_in(ids))
            .order_by_asc(mail_outbox::Column::CreatedAt)
            .all(&self.writer)
            .await?)
    }

    /// Records how an attempt at a claimed mail ended: `sent`, `failed`
    /// for good, or queued again for `retry_at`. Only a queued row moves,
    /// so a late report cannot undo a newer one. An account mail's body
    /// goes once it is sent or given up.
    pub async fn mail_attempted(&self, id: &str, outcome: MailOutcome) -> StoreResult<()> {
        let now = Utc::now().trunc_subsecs(6);
        let update = mail_outbox::Entity::update_many()
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::State.eq(mail_state::QUEUED));
        let scrubbed = Expr::case(
            Expr::col(mail_outbox::Column::Kind).is_in([
                MailKind::Reply.as_str(),
                MailKind::Acknowledgement.as_str(),
                MailKind::ChatReply.as_str(),
            ]),
            Expr::col(mail_outbox::Column::Body),
        )
        .finally(SENT_ACCOUNT_MAIL_BODY);
        let update = match outcome {
            MailOutcome::Sent => update
                .col_expr(mail_outbox::Column::State, Expr::value(mail_state::SENT))
                .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
                .col_expr(mail_outbox::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(mail_outbox::Column::Body, scrubbed.into()),
            MailOutcome::Wait { reason, until } => update
                .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(until))
                .col_expr(
                    mail_outbox::Column::Attempts,
                    Expr::col(mail_outbox::Column::Attempts).sub(1),
                )
                .col_expr(mail_outbox::Column::LastError, Expr::value(reason)),
            MailOutcome::Retry { error, at } => update
                .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(at))
                .col_expr(mail_outbox::Column::LastError, Expr::value(error)),
            MailOutcome::Failed { error } => update
                .col_expr(mail_outbox::Column::State, Expr::value(mail_state::FAILED))
                .col_expr(mail_outbox::Column::LastError, Expr::value(error))
                .col_expr(mail_outbox::Column::Body, scrubbed.into()),
        };
        update.exec(&self.writer).await?;
        Ok(())
    }
}

impl Store {
    /// The number of the ticket a mail belongs to (`None` for an account
    /// mail): lookups by primary key.
    pub async fn mail_ticket(&self, mail: &OutboxMail) -> StoreResult<Option<i64>> {
        let ticket_id = match &mail.ticket_id {
            Some(id) => id.clone(),
            None if mail.kind == MailKind::Reply.as_str() => {
                let Some(comment) = ticket_comment::Entity::find_by_id(&mail.comment_id)
                    .filter(ticket_comment::Column::TenantId.eq(&mail.tenant_id))
                    .one(&self.db)
                    .await?
                else {
                    return Ok(None);
                };
                comment.ticket_id
            }
            None => return Ok(None),
        };
        Ok(ticket::Entity::find_by_id(&ticket_id)
            .filter(ticket::Column::TenantId.eq(&mail.tenant_id))
            .one(&self.db)
            .await?
            .map(|t| t.number))
    }
}

/// A mail's words as they go out.
pub struct Composed {
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub reply_to: Option<String>,
}

impl Store {
    /// What `mail` says: as queued, or, for an acknowledgement, written now
    /// from its ticket and workspace (`None` when the ticket is gone: the
    /// mail has nothing left to say).
    pub async fn compose(&self, mail: &OutboxMail) -> StoreResult<Option<Composed>> {
        if mail.kind != MailKind::Acknowledgement.as_str() {
            return Ok(Some(Composed {
                from_name: mail.from_name.clone(),
                subject: mail.subject.clone(),
                body: mail.body.clone(),
                reply_to: mail.reply_to.clone(),
            }));
        }
        let Some(ticket_id) = &mail.ticket_id else {
            return Ok(None);
        };
        let Some(ticket) = ticket::Entity::find_by_id(ticket_id)
            .filter(ticket::Column::TenantId.eq(&mail.tenant_id))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let workspace = self.tenant(&mail.tenant_id).await?;
        let number = TicketNumber(ticket.number);
        // A chat's transcript is what the requester said with us; a mail's
        // ticket holds only what they sent.
        let transcript = (ticket.channel == "chat").then_some(ticket.description.as_str());
        let name = sender_name(&workspace).to_owned();
        let (subject, body) = mail::acknowledgement(number, &ticket.subject, &mail.to_name, transcript, &name);
        let reply_to = match (&workspace.reply_to, &workspace.mail_secret) {
            (Some(base), Some(secret)) => Some(inbound::reply_address(base, secret, number)),
            _ => None,
        };
        Ok(Some(Composed {
            from_name: name,
            subject,
            body,
            reply_to,
        }))
    }
}

/// How one attempt at a mail ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent,
    /// Not tried: held back until `until` (a quota), the attempt not counted.
    Wait {
        reason: String,
        until: DateTime<Utc>,
    },
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    Failed {
        error: String,
    },
}
