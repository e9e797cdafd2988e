//! Receiving mail: what a workspace's received mail becomes. Both ways in
//! (a relay posting to `/api/v1/inbound/{key}`, and the IMAP poller) hand
//! the raw message here; it is read, checked (machines, loops, a sender's
//! hourly limit, a Message-ID seen before) and then joins the ticket it
//! answers or opens one through the workspace's hooks. Each mail is one
//! transaction, with its own row, so it is imported once however often it
//! is delivered.

use chrono::Utc;

use crate::conversion::{ConversionError, Pipeline};
use crate::domain::inbound::{self, NotAMessage, ParsedMail};
use crate::domain::{EmailAddress, TicketNumber};
use crate::mail::Mailer;
use crate::realtime::{Bus, Event, EventKind};
use crate::store::{Arrival, Received, Store, StoreError, Tenant, ThreadedBy, Via};

/// Limits on received mail.
#[derive(Debug, Clone)]
pub struct InboundSettings {
    /// A message larger than this is refused (413 over HTTP; left unread
    /// and logged by the poller).
    pub max_bytes: usize,
    /// Mail one sender may send a workspace in an hour; more is kept but
    /// opens nothing (an auto-responder that ignores `Auto-Submitted`, a
    /// flood).
    pub per_sender_per_hour: u64,
}

/// 25 MiB: what most providers accept in a message.
pub const DEFAULT_MAX_BYTES: usize = 25 * 1024 * 1024;

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            per_sender_per_hour: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    NotAMessage(#[from] NotAMessage),
    #[error("the message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ConversionError> for ReceiveError {
    fn from(e: ConversionError) -> Self {
        match e {
            ConversionError::Store(e) => Self::Store(e),
            ConversionError::NotFound => Self::Store(StoreError::NotFound),
            // Hooks' faults are handled where the ticket is made (a mail
            // opens its ticket with the defaults); nothing else is left.
            other => Self::Store(StoreError::Conflict(other.to_string())),
        }
    }
}

/// Turns received mail into tickets and comments.
#[derive(Clone)]
pub struct Receiver {
    store: Store,
    pipeline: Pipeline,
    bus: Bus,
    mailer: Mailer,
    settings: InboundSettings,
    /// The server's own sending address (`--smtp-from`), lowercased: mail
    /// from it is our own come back.
    own_address: String,
}

impl Receiver {
    pub fn new(
        store: Store,
        pipeline: Pipeline,
        bus: Bus,
        mailer: Mailer,
        settings: InboundSettings,
        own_address: &str,
    ) -> Self {
        Self {
            store,
            pipeline,
            bus,
            mailer,
            settings,
            own_address: own_address.to_ascii_lowercase(),
        }
    }

    pub fn settings(&self) -> &InboundSettings {
        &self.settings
    }

    /// Receives `raw` for `workspace`.
    pub async fn receive(&self, workspace: &Tenant, raw: &[u8], via: Via) -> Result<Received, ReceiveError> {
        if raw.len() > self.settings.max_bytes {
            return Err(ReceiveError::TooLarge {
                size: raw.len(),
                limit: self.settings.max_bytes,
            });
        }
        let mail = inbound::parse(raw)?;
        self.accept(workspace, &mail, raw.len(), via).await
    }

    /// A message a visitor left in the widget while nobody was online: it
    /// goes the way of a mail from them (the same checks, threading and
    /// hooks), and they are answered by e-mail.
    pub async fn leave_message(
        &self,
        workspace: &Tenant,
        from: &EmailAddress,
        name: &str,
        subject: Option<&str>,
        body: &str,
    ) -> Result<Received, ReceiveError> {
        let mail = ParsedMail {
            message_id: format!("<widget-{}@threadline.invalid>", crate::store::new_id()),
            from: Some(from.clone()),
            from_name: name.to_owned(),
            recipients: Vec::new(),
            subject: subject.unwrap_or_default().to_owned(),
            text: body.to_owned(),
            thread_ids: Vec::new(),
            automatic: None,
            attachments: Vec::new(),
        };
        self.accept(workspace, &mail, body.len(), Via::Widget).await
    }

    async fn accept(
        &self,
        workspace: &Tenant,
        mail: &ParsedMail,
        size: usize,
        via: Via,
    ) -> Result<Received, ReceiveError> {
        let arrival = Arrival { mail, size, via };
        let tenant_id = workspace.id.as_str();
        if self.store.mail_received(tenant_id, &mail.message_id).await? {
            return Ok(Received::Duplicate);
        }
        let arrival = &arrival;
        let ignore = |reason: String| async move { self.store.ignore_mail(tenant_id, arrival, &reason).await };
        if let Some(why) = mail.automatic {
            return Ok(ignore(format!("not answered: {why}")).await?);
        }
        let Some(from) = mail.from.clone() else {
            return Ok(ignore("no sender address to answer".to_owned()).await?);
        };
        let own = [Some(self.own_address.as_str()), workspace.reply_to.as_deref()];
        if own.iter().flatten().any(|a| a.eq_ignore_ascii_case(from.as_str())) {
            return Ok(ignore("our own mail came back (a loop)".to_owned()).await?);
        }
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        let limit = self.settings.per_sender_per_hour;
        if self
            .store
            .mails_from(tenant_id, from.normalized(), hour_ago, limit)
            .await?
            >= limit
        {
            return Ok(ignore(format!("{} sent over {limit} mails in an hour", from.as_str())).await?);
        }
        let reply = inbound::reply_part(&mail.text);
        let reply = if reply.is_empty() {
            "(the mail had no text)"
        } else {
            reply
        };
        let mut follows = None;
        // A visitor's answer to an agent's reply mailed after they left
        // goes back to the chat, or to the ticket it became.
        let mut answered = self.store.ticket_answered(workspace, mail).await?;
        if let Some(chat) = self.store.chat_answered(tenant_id, mail).await? {
            match &chat.ticket_id {
                Some(ticket_id) => {
                    answered = Some((self.store.ticket(tenant_id, ticket_id).await?, ThreadedBy::Headers));
                }
                None => {
                    if let Some(received) = self
                        .store
                        .message_from_mail(tenant_id, &chat.id, arrival, reply)
                        .await?
                    {
                        return Ok(self.announce(tenant_id, received).await);
                    }
                }
            }
        }
        if let Some((ticket, how)) = answered {
            match self
                .store
                .comment_from_mail(tenant_id, ticket.number, arrival, how, reply)
                .await?
            {
                Some(received) => return Ok(self.announce(tenant_id, received).await),
                // Closed: a new ticket follows it up.
                None => follows = Some(TicketNumber(ticket.number)),
            }
        }
        let received = self
            .pipeline
            .ticket_from_mail(tenant_id, &from, arrival, follows)
            .await?;
        Ok(self.announce(tenant_id, received).await)
    }

    /// Tells the consoles, and the sender when an acknowledgement waits.
    async fn announce(&self, tenant_id: &str, received: Received) -> Received {
        let ticket = match &received {
            Received::Opened(t) => {
                self.mailer.wake();
                tracing::info!(tenant = tenant_id, ticket = %TicketNumber(t.number), "mail opened a ticket");
                t
            }
            Received::Joined(t, _) => {
                tracing::info!(tenant = tenant_id, ticket = %TicketNumber(t.number), "mail joined a ticket");
                t
            }
            Received::Chatted(chat, message) => {
                tracing::info!(tenant = tenant_id, chat = %chat.id, "mail joined a chat");
                let mut event = Event::new(tenant_id, EventKind::MessageCreated, &chat.id);
                event.message_id = Some(message.id);
                self.bus.publish(event).await;
                return received;
            }
            _ => return received,
        };
        let number = TicketNumber(ticket.number).to_string();
        self.bus.publish(Event::ticket_updated(tenant_id, &number)).await;
        received
    }
}
