//! Mail received for a workspace: the key its relay posts with, and the
//! one transaction each received mail is written in (its row, once per
//! Message-ID, with the comment or ticket it became). What to make of a
//! mail is decided in `crate::inbound`.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use threadline_migrations::search::SearchIndex;

use super::by_hand::HandTicket;
use super::comments::Comment;
use super::entities::{chat, inbound_mail, tenant, ticket, ticket_comment, ticket_event, visitor};
use super::events::NewEvent;
use super::outbox::{self, MailKind, MailThread, NewMail};
use super::threads::ThreadedBy;
use super::{Store, StoreError, StoreResult, Tenant, Ticket, new_id};
use crate::domain::automation::EventKind;
use crate::domain::inbound::{CommentSource, ParsedMail, thread_root};
use crate::domain::{ChatStatus, MessageKind, TicketNumber, TicketStatus};

pub type InboundMail = inbound_mail::Model;

/// The text of a received mail kept whole at most; longer is cut (the
/// comment holds the reply, which is what agents read).
pub const MAX_ORIGINAL_BYTES: usize = 1024 * 1024;
/// A comment's body at most: a reply longer than this is cut, and the
/// original keeps the rest.
const MAX_COMMENT_BYTES: usize = 64 * 1024;

/// What a received mail became.
#[derive(Debug)]
pub enum Received {
    /// It opened this ticket.
    Opened(Ticket),
    /// It joined this ticket as a comment by its requester.
    Joined(Ticket, Comment),
    /// Nothing, for this reason (an auto-reply, a bounce, a sender over
    /// their limit…); it is kept, and listed for the workspace's admins.
    Ignored(String),
    /// It joined this open chat as its visitor's message (an answer to
    /// an agent's reply mailed to them after they left).
    Chatted(super::Chat, super::Message),
    /// The same Message-ID came before; nothing was written.
    Duplicate,
}

/// How a received mail came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Http,
    Imap,
    /// Left in the widget while nobody was online.
    Widget,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Imap => "imap",
            Self::Widget => "widget",
        }
    }
}

/// A received mail to write.
pub struct Arrival<'a> {
    pub mail: &'a ParsedMail,
    pub size: usize,
    pub via: Via,
}

/// A ticket a mail opens, its hooks already run.
pub struct MailTicket {
    pub ticket: HandTicket,
    /// The closed ticket a mail answered, which this one follows up.
    pub follows: Option<TicketNumber>,
    /// Mail the requester the ticket's number.
    pub acknowledge: bool,
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Store {
    /// The workspace whose inbound URL carries `key`.
    pub async fn workspace_by_inbound_key(&self, key: &str) -> StoreResult<Tenant> {
        tenant::Entity::find()
            .filter(tenant::Column::InboundKey.eq(key))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// A new inbound key for the workspace: the old URL stops working.
    pub async fn rotate_inbound_key(&self, tenant_id: &str) -> StoreResult<Tenant> {
        self.update_tenant(tenant_id, |t| {
            t.inbound_key = Set(Some(super::tenants::new_inbound_key()));
        })
        .await
    }

    /// Whether a mail with `message_id` was received before.
    pub async fn mail_received(&self, tenant_id: &str, message_id: &str) -> StoreResult<bool> {
        Ok(inbound_mail::Entity::find()
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(inbound_mail::Column::MessageId.eq(message_id))
            .count(&self.db)
            .await?
            > 0)
    }

    /// The mail `from` sent since `since`, counted up to `limit` (an index
    /// range, cut at the limit).
    pub async fn mails_from(&self, tenant_id: &str, from: &str, since: DateTime<Utc>, limit: u64) -> StoreResult<u64> {
        let ids: Vec<String> = inbound_mail::Entity::find()
            .select_only()
            .column(inbound_mail::Column::Id)
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(inbound_mail::Column::FromAddress.eq(from))
            .filter(inbound_mail::Column::ReceivedAt.gte(since))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.len() as u64)
    }

    /// The workspace's received mail, newest first.
    pub async fn received_mail(
        &self,
        tenant_id: &str,
        before: Option<DateTime<Utc>>,
        limit: u64,
    ) -> StoreResult<Vec<InboundMail>> {
        let mut q = inbound_mail::Entity::find().filter(inbound_mail::Column::TenantId.eq(tenant_id));
        if let Some(before) = before {
            q = q.filter(inbound_mail::Column::ReceivedAt.lt(before));
        }
        Ok(q.order_by_desc(inbound_mail::Column::ReceivedAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// One received mail of the workspace.
    pub async fn received_mail_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<InboundMail> {
        inbound_mail::Entity::find_by_id(id)
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The mail a ticket received, oldest first (its newest `limit`).
    pub async fn ticket_mail(&self, tenant_id: &str, ticket_id: &str, limit: u64) -> StoreResult<Vec<InboundMail>> {
        let mut mail = inbound_mail::Entity::find()
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(inbound_mail::Column::TicketId.eq(ticket_id))
            .order_by_desc(inbound_mail::Column::ReceivedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        mail.reverse();
        Ok(mail)
    }

    /// Keeps a mail that becomes nothing, and why.
    pub async fn ignore_mail(&self, tenant_id: &str, arrival: &Arrival<'_>, reason: &str) -> StoreResult<Received> {
        let txn = self.write_txn().await?;
        let row = inbound_row(tenant_id, arrival, "ignored", Some(reason), None, None);
        if !insert_once(&txn, row).await? {
            return Ok(Received::Duplicate);
        }
        txn.commit().await?;
        self.count_stored(tenant_id, arrival);
        Ok(Received::Ignored(reason.to_owned()))
    }

    /// Adds a mail to ticket `number` as its requester's comment, and
    /// reopens the ticket if it was solved or pending. `Ok(None)` when the
    /// ticket is closed (it takes no more comments: the caller opens a
    /// follow-up), with nothing written.
    pub async fn comment_from_mail(
        &self,
        tenant_id: &str,
        number: i64,
        arrival: &Arrival<'_>,
        how: ThreadedBy,
        reply: &str,
    ) -> StoreResult<Option<Received>> {
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        let ticket = self.ticket_for_update(&txn, tenant_id, number).await?;
        let status: TicketStatus = ticket
            .status
            .parse()
            .map_err(|e: String| StoreError::Db(DbErr::Custom(e)))?;
        if status == TicketStatus::Closed {
            txn.rollback().await?;
            return Ok(None);
        }
        let requester = super::entities::requester::Entity::find_by_id(&ticket.requester_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sender = arrival.mail.from.as_ref().map(|f| f.as_str()).unwrap_or_default();
        // The requester, or whoever else answered the thread (a colleague
        // in copy): named as the mail names them.
        let (author_id, author_name) =
            if arrival.mail.from.as_ref().map(|f| f.normalized()) == Some(requester.email_normalized.as_str()) {
                (requester.id.clone(), requester.name.clone())
            } else if arrival.mail.from_name.is_empty() {
                (String::new(), sender.to_owned())
            } else {
                (String::new(), arrival.mail.from_name.clone())
            };
        let comment = ticket_comment::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            ticket_id: Set(ticket.id.clone()),
            author_id: Set(author_id.clone()),
            author_name: Set(author_name.clone()),
            body: Set(cut(reply, MAX_COMMENT_BYTES).to_owned()),
            internal: Set(false),
            created_at: Set(now),
            source: Set(CommentSource::Email.as_str().to_owned()),
        };
        let row = inbound_row(
            tenant_id,
            arrival,
            "comment",
            Some(how.as_str()),
            Some(&ticket.id),
            Some(comment.id.as_ref()),
        );
        if !insert_once(&txn, row).await? {
            return Ok(Some(Received::Duplicate));
        }
        let comment = comment.insert(&txn).await?;
        super::index_terms(&txn, SearchIndex::Tickets, tenant_id, &ticket.id, [reply]).await?;
        let mut update = ticket::Entity::update_many()
            .filter(ticket::Column::Id.eq(&ticket.id))
            .col_expr(ticket::Column::UpdatedAt, Expr::value(now));
        // The requester answered: the ticket is theirs to wait on again.
        if matches!(status, TicketStatus::Solved | TicketStatus::Pending) {
            let next = TicketStatus::Open;
            let clock = super::tickets::sla_clock(&ticket, None);
            update = update
                .col_expr(ticket::Column::Status, Expr::value(next.as_str()))
                .col_expr(ticket::Column::SolvedAt, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(ticket::Column::DueAt, Expr::value(clock.next_due(next)));
            ticket_event::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(tenant_id.to_owned()),
                ticket_id: Set(ticket.id.clone()),
                agent_id: Set(author_id),
                agent_name: Set(format!("{author_name} (by e-mail)")),
                field: Set("status".to_owned()),
                old_value: Set(Some(status.to_string())),
                new_value: Set(Some(next.to_string())),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
            super::events::queue(
                &txn,
                tenant_id,
                NewEvent {
                    changes: Some(serde_json::json!({"status": {"from": status.as_str(), "to": next.as_str()}})),
                    ..NewEvent::new(EventKind::TicketUpdated, "email").ticket(&ticket.id)
                },
            )
            .await?;
        }
        update.exec(&txn).await?;
        super::events::queue(
            &txn,
            tenant_id,
            NewEvent::new(EventKind::CommentAdded, "email")
                .ticket(&ticket.id)
                .comment(&comment.id),
        )
        .await?;
        let ticket = ticket::Entity::find_by_id(&ticket.id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        self.count_stored(tenant_id, arrival);
        Ok(Some(Received::Joined(ticket, comment)))
    }

    /// Adds a mail to open chat `chat_id` as its visitor's message, in one
    /// transaction with the mail's row. `Ok(None)` when the chat is closed
    /// (nothing written: the caller opens a ticket).
    pub async fn message_from_mail(
        &self,
        tenant_id: &str,
        chat_id: &str,
        arrival: &Arrival<'_>,
        reply: &str,
    ) -> StoreResult<Option<Received>> {
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        let claimed = chat::Entity::update_many()
            .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
            .col_expr(chat::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                chat::Column::LastMessageKind,
                Expr::value(MessageKind::Visitor.to_string()),
            )
            .filter(chat::Column::Id.eq(chat_id))
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::Status.eq(ChatStatus::Open.as_str()))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let chat = chat::Entity::find_by_id(chat_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut row = inbound_row(
            tenant_id,
            arrival,
            "chat",
            Some("threaded by In-Reply-To/References"),
            None,
            None,
        );
        row.chat_id = Set(Some(chat_id.to_owned()));
        if !insert_once(&txn, row).await? {
            return Ok(Some(Received::Duplicate));
        }
        let visitor = visitor::Entity::find_by_id(&chat.visitor_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let new = super::NewMessage {
            kind: MessageKind::Visitor,
            author_name: visitor.name,
            agent_id: None,
            body: cut(reply, MAX_COMMENT_BYTES).to_owned(),
        };
        let message = super::chats::insert_message(&txn, &chat, &new, now).await?;
        txn.commit().await?;
        self.count_stored(tenant_id, arrival);
        Ok(Some(Received::Chatted(chat, message)))
    }

    /// Writes the ticket a mail opens, in one transaction with the mail's
    /// row: the requester (found by address or created), the next number,
    /// the ticket (open, channel `email`), its search words, a note of the
    /// closed ticket it follows up, and the acknowledgement to its
    /// requester, if asked.
    pub async fn ticket_from_mail(&self, t: &MailTicket, arrival: &Arrival<'_>) -> StoreResult<Received> {
        let h = &t.ticket;
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        let row = inbound_row(&h.tenant_id, arrival, "ticket", None, Some(&h.id), None);
        if !insert_once(&txn, row).await? {
            return Ok(Received::Duplicate);
        }
        let channel = match arrival.via {
            Via::Widget => "widget",
            Via::Http | Via::Imap => "email",
        };
        let (ticket, requester) = super::by_hand::write_open_ticket(&txn, h, channel, now).await?;
        super::events::queue(
            &txn,
            &h.tenant_id,
            NewEvent::new(EventKind::TicketCreated, channel).ticket(&ticket.id),
        )
        .await?;
        if let Some(closed) = t.follows {
            ticket_event::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(h.tenant_id.clone()),
                ticket_id: Set(h.id.clone()),
                agent_id: Set(requester.id.clone()),
                agent_name: Set(format!("{} (by e-mail)", requester.name)),
                field: Set("follows".to_owned()),
                old_value: Set(None),
                new_value: Set(Some(closed.to_string())),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        if t.acknowledge {
            let workspace = tenant::Entity::find_by_id(&h.tenant_id)
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let mail = acknowledgement(&ticket, &requester, Some(arrival.mail.message_id.clone()));
            outbox::queue(&txn, &workspace, mail).await?;
        }
        txn.commit().await?;
        self.count_stored(&h.tenant_id, arrival);
        Ok(Received::Opened(ticket))
    }

    fn count_stored(&self, tenant_id: &str, arrival: &Arrival<'_>) {
        let kept = arrival.mail.text.len().min(MAX_ORIGINAL_BYTES) * 2;
        self.meter.count(tenant_id, |u| u.stored_bytes += kept as i64);
    }
}

/// The acknowledgement of a new ticket, its words left to the sender (see
/// [`MailKind::Acknowledgement`]): the root of the ticket's thread,
/// answering the mail that opened it, if one did.
pub(super) fn acknowledgement(ticket: &Ticket, requester: &super::Requester, answers: Option<String>) -> NewMail {
    let root = thread_root(&ticket.id);
    NewMail {
        kind: MailKind::Acknowledgement,
        comment_id: None,
        to_address: requester.email.clone(),
        to_name: requester.name.clone(),
        from_name: String::new(),
        subject: String::new(),
        body: String::new(),
        message_id: root.clone(),
        thread: Some(MailThread {
            ticket: Some((ticket.id.clone(), TicketNumber(ticket.number))),
            chat_id: None,
            in_reply_to: answers.clone(),
            references: answers.into_iter().collect(),
        }),
    }
}

fn inbound_row(
    tenant_id: &str,
    arrival: &Arrival<'_>,
    outcome: &str,
    reason: Option<&str>,
    ticket_id: Option<&str>,
    comment_id: Option<&str>,
) -> inbound_mail::ActiveModel {
    let mail = arrival.mail;
    inbound_mail::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant_id.to_owned()),
        message_id: Set(mail.message_id.clone()),
        from_address: Set(mail
            .from
            .as_ref()
            .map(|f| f.normalized().to_owned())
            .unwrap_or_default()),
        from_name: Set(mail.from_name.clone()),
        subject: Set(mail.subject.clone()),
        received_at: Set(Utc::now().trunc_subsecs(6)),
        outcome: Set(outcome.to_owned()),
        reason: Set(reason.map(str::to_owned)),
        ticket_id: Set(ticket_id.map(str::to_owned)),
        comment_id: Set(comment_id.map(str::to_owned)),
        chat_id: Set(None),
        original: Set(cut(&mail.text, MAX_ORIGINAL_BYTES).to_owned()),
        attachments: Set(serde_json::to_string(&mail.attachments).expect("attachments serialize")),
        size_bytes: Set(arrival.size as i64),
        via: Set(arrival.via.as_str().to_owned()),
    }
}

/// Inserts a mail's row unless its Message-ID is there: false when it is
/// (the unique index decides, so two deliveries at once write one).
async fn insert_once(txn: &DatabaseTransaction, row: inbound_mail::ActiveModel) -> StoreResult<bool> {
    match inbound_mail::Entity::insert(row).exec_without_returning(txn).await {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
