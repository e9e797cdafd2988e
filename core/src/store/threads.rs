//! Tickets' mail threads, both ways: the headers a ticket's mail carries so
//! the requester's mail client threads it (and the answer comes back with
//! them), and the ticket a received mail answers. Every lookup reads an
//! index by Message-ID or ticket, never a scan of the workspace's mail.

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{inbound_mail, mail_outbox, requester, tenant, ticket, visitor};
use super::outbox::{self, MailKind, MailThread, NewMail};
use super::{Chat, NewMessage, Store, StoreResult, Tenant, Ticket};
use crate::domain::inbound::{self, ParsedMail};
use crate::domain::mail;
use crate::domain::{EmailAddress, TicketNumber};

/// How a received mail was matched to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadedBy {
    /// Its `In-Reply-To` or `References` name a mail of the ticket.
    Headers,
    /// It was sent to the ticket's reply address.
    ReplyAddress,
    /// Its subject names the ticket, and its requester sent it.
    Subject,
}

impl ThreadedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Headers => "threaded by In-Reply-To/References",
            Self::ReplyAddress => "threaded by the reply address",
            Self::Subject => "threaded by the ticket number in the subject",
        }
    }
}

/// The thread of a new mail of `ticket`: it answers the requester's
/// latest mail (or the thread's root), and refers to the mail that opened
/// the ticket, the root and that latest mail.
pub(super) async fn thread_of(db: &impl ConnectionTrait, ticket: &Ticket) -> StoreResult<MailThread> {
    let root = inbound::thread_root(&ticket.id);
    let received = |newest: bool| {
        let q = inbound_mail::Entity::find()
            .select_only()
            .column(inbound_mail::Column::MessageId)
            .filter(inbound_mail::Column::TenantId.eq(&ticket.tenant_id))
            .filter(inbound_mail::Column::TicketId.eq(&ticket.id));
        let q = if newest {
            q.order_by_desc(inbound_mail::Column::ReceivedAt)
        } else {
            q.order_by_asc(inbound_mail::Column::ReceivedAt)
        };
        q.limit(1).into_tuple::<String>()
    };
    let first = received(false).one(db).await?;
    let last = received(true).one(db).await?;
    let mut references = Vec::with_capacity(3);
    for id in [first, Some(root.clone()), last.clone()].into_iter().flatten() {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    Ok(MailThread {
        ticket: Some((ticket.id.clone(), TicketNumber(ticket.number))),
        chat_id: None,
        in_reply_to: Some(last.unwrap_or(root)),
        references,
    })
}

/// Queues, in `txn`, an agent's answer in `chat` for its visitor, who
/// left: when they gave an address, it goes to them by mail, in the chat's
/// own thread, so their reply comes back to the chat (or its ticket).
pub(super) async fn mail_gone_visitor(
    txn: &DatabaseTransaction,
    chat: &Chat,
    new: &NewMessage,
    message_id: i64,
) -> StoreResult<()> {
    let Some(visitor) = visitor::Entity::find_by_id(&chat.visitor_id)
        .filter(visitor::Column::TenantId.eq(&chat.tenant_id))
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let Some(to) = visitor.email.clone() else {
        return Ok(());
    };
    let Some(workspace) = tenant::Entity::find_by_id(&chat.tenant_id).one(txn).await? else {
        return Ok(());
    };
    let (subject, body, from_name) = mail::chat_reply(
        &new.body,
        &new.author_name,
        outbox::sender_name(&workspace),
        chat.subject.as_deref(),
    );
    let root = inbound::chat_root(&chat.id);
    let mail = NewMail {
        kind: MailKind::ChatReply,
        comment_id: None,
        to_address: to,
        to_name: visitor.name,
        from_name,
        subject,
        body,
        message_id: format!("<chat-{}.{message_id}@threadline.invalid>", chat.id),
        thread: Some(MailThread {
            ticket: None,
            chat_id: Some(chat.id.clone()),
            in_reply_to: Some(root.clone()),
            references: vec![root],
        }),
    };
    outbox::queue(txn, &workspace, mail).await?;
    Ok(())
}

impl Store {
    /// The ticket `mail` answers, if any: by the Message-IDs it refers to
    /// (ours or the requester's earlier mail), then by a reply address it
    /// was sent to, then by the number in its subject when the ticket's
    /// requester sent it (a number alone is easy to type).
    pub async fn ticket_answered(
        &self,
        tenant: &Tenant,
        mail: &ParsedMail,
    ) -> StoreResult<Option<(Ticket, ThreadedBy)>> {
        if let Some(ticket) = self.ticket_by_thread_ids(&tenant.id, &mail.thread_ids).await? {
            return Ok(Some((ticket, ThreadedBy::Headers)));
        }
        if let Some(secret) = &tenant.mail_secret {
            let tagged = mail
                .recipients
                .iter()
                .find_map(|address| inbound::ticket_of_address(address, secret));
            if let Some(number) = tagged
                && let Some(ticket) = self.ticket_by_number_opt(&tenant.id, number).await?
            {
                return Ok(Some((ticket, ThreadedBy::ReplyAddress)));
            }
        }
        if let (Some(number), Some(from)) = (inbound::number_in_subject(&mail.subject), &mail.from)
            && let Some(ticket) = self.ticket_by_number_opt(&tenant.id, number).await?
            && self.is_requester_of(&ticket, from).await?
        {
            return Ok(Some((ticket, ThreadedBy::Subject)));
        }
        Ok(None)
    }

    /// The chat `mail` answers (a visitor's reply to an agent's answer
    /// mailed to them), if any.
    pub async fn chat_answered(&self, tenant_id: &str, mail: &ParsedMail) -> StoreResult<Option<Chat>> {
        for id in &mail.thread_ids {
            if let Some(chat_id) = inbound::chat_of_message_id(id)
                && let Some(chat) = super::entities::chat::Entity::find_by_id(chat_id)
                    .filter(super::entities::chat::Column::TenantId.eq(tenant_id))
                    .one(&self.db)
                    .await?
            {
                return Ok(Some(chat));
            }
        }
        Ok(None)
    }

    /// The ticket of the first of `ids` (in the mail's order: the one it
    /// answers first) that is a mail of one.
    async fn ticket_by_thread_ids(&self, tenant_id: &str, ids: &[String]) -> StoreResult<Option<Ticket>> {
        if ids.is_empty() {
            return Ok(None);
        }
        let sent: Vec<(String, Option<String>)> = mail_outbox::Entity::find()
            .select_only()
            .columns([mail_outbox::Column::MessageId, mail_outbox::Column::TicketId])
            .filter(mail_outbox::Column::TenantId.eq(tenant_id))
            .filter(mail_outbox::Column::MessageId.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(&self.db)
            .await?;
        let received: Vec<(String, Option<String>)> = inbound_mail::Entity::find()
            .select_only()
            .columns([inbound_mail::Column::MessageId, inbound_mail::Column::TicketId])
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(inbound_mail::Column::MessageId.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(&self.db)
            .await?;
        for id in ids {
            let found = inbound::ticket_of_root(id).map(str::to_owned).or_else(|| {
                sent.iter()
                    .chain(&received)
                    .find(|(m, t)| m == id && t.is_some())
                    .and_then(|(_, t)| t.clone())
            });
            if let Some(ticket_id) = found
                && let Some(ticket) = ticket::Entity::find_by_id(&ticket_id)
                    .filter(ticket::Column::TenantId.eq(tenant_id))
                    .one(&self.db)
                    .await?
            {
                return Ok(Some(ticket));
            }
        }
        Ok(None)
    }

    async fn ticket_by_number_opt(&self, tenant_id: &str, number: TicketNumber) -> StoreResult<Option<Ticket>> {
        Ok(ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Number.eq(number.0))
            .one(&self.db)
            .await?)
    }

    async fn is_requester_of(&self, ticket: &Ticket, from: &EmailAddress) -> StoreResult<bool> {
        Ok(requester::Entity::find_by_id(&ticket.requester_id)
            .filter(requester::Column::TenantId.eq(&ticket.tenant_id))
            .one(&self.db)
            .await?
            .is_some_and(|r| r.email_normalized == from.normalized()))
    }
}
