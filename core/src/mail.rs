//! The mail sender: takes due rows of the outbox and sends them over SMTP.
//!
//! Every node runs one when `--smtp-url` is set. A row is claimed for a
//! lease before it is sent (see [`Store::claim_due_mail`]) and marked sent
//! as soon as the server accepted it, so a mail goes out once across
//! retries, restarts and nodes. The one window left is a crash between the
//! server's acceptance and that mark: the mail is then sent again after the
//! lease, with the same `Message-ID`, which mail clients use to drop the
//! copy. Without `--smtp-url` nothing is sent: the mail waits in the outbox,
//! and the console says so.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::realtime::{Bus, Event};
use crate::store::{Composed, MailOutcome, OutboxMail, Store};

/// Where and how mail goes.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host:port`, `smtps://user:pass@host` or
    /// `smtp://host?tls=required` (lettre's URL form); `None` keeps mail in
    /// the outbox.
    pub smtp_url: Option<String>,
    /// The address mail is sent from (envelope and From); the display
    /// name is the workspace's (with the agent's, for replies), and a
    /// workspace may set a Reply-To of its own.
    pub from_address: String,
    /// The wait before the first retry; it doubles each time, up to
    /// `max_retry_delay`.
    pub first_retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Attempts before a mail is given up as failed.
    pub max_attempts: i32,
    /// How long a claimed mail is this sender's alone: longer than one
    /// SMTP exchange may take (see `SMTP_TIMEOUT`).
    pub lease: Duration,
    /// How often the outbox is read when nothing woke the sender (mail
    /// written by another node, or retries coming due).
    pub poll_interval: Duration,
    /// Limits on the mail the server receives.
    pub inbound: crate::inbound::InboundSettings,
    /// How workspaces' IMAP mailboxes are polled.
    pub imap: crate::imap::ImapSettings,
}

/// One SMTP exchange (connect, hand over, quit) at most.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from_address: "threadline@localhost".into(),
            first_retry_delay: Duration::from_secs(30),
            max_retry_delay: Duration::from_secs(3600),
            // 30 s, 1, 2, 4 … 60 min: a bit over a day of trying.
            max_attempts: 30,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
            inbound: Default::default(),
            imap: Default::default(),
        }
    }
}

impl MailSettings {
    /// The wait after failed attempt number `attempts` (1 for the first).
    pub fn retry_delay(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        self.first_retry_delay
            .saturating_mul(1 << doublings)
            .min(self.max_retry_delay)
    }
}

/// What the rest of the server sees of the sender: whether mail goes out,
/// and a bell to ring when a mail is queued so it goes at once.
#[derive(Clone, Default)]
pub struct Mailer {
    wake: Option<Arc<Notify>>,
}

impl Mailer {
    /// True when `--smtp-url` is set.
    pub fn configured(&self) -> bool {
        self.wake.is_some()
    }

    /// A mail was queued: send it now rather than at the next poll.
    pub fn wake(&self) {
        if let Some(w) = &self.wake {
            w.notify_one();
        }
    }

    /// The mailer, and its sender to run if mail is configured. The URL is
    /// checked here, so a bad one stops the server at start rather than
    /// failing every mail later.
    pub fn new(store: Store, bus: Bus, settings: MailSettings) -> anyhow::Result<(Self, Option<Sender>)> {
        let Some(url) = settings.smtp_url.clone() else {
            return Ok((Self::default(), None));
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| anyhow::anyhow!("--smtp-url is not a usable SMTP URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from: lettre::Address = settings
            .from_address
            .parse()
            .map_err(|e| anyhow::anyhow!("--smtp-from {:?} is not an e-mail address: {e}", settings.from_address))?;
        let wake = Arc::new(Notify::new());
        let sender = Sender {
            store,
            bus,
            transport,
            from,
            settings,
            wake: wake.clone(),
        };
        Ok((Self { wake: Some(wake) }, Some(sender)))
    }
}

/// Sends due mail until dropped with its task (see [`Sender::run`]).
pub struct Sender {
    store: Store,
    /// Each attempt at a reply is news for its ticket's page.
    bus: Bus,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::Address,
    settings: MailSettings,
    wake: Arc<Notify>,
}

/// Mails claimed at once.
const BATCH: u64 = 20;

impl Sender {
    /// Sends due mail, forever: the server runs it as a task and aborts it
    /// at shutdown (a mail cut off mid-send is retried after its lease).
    pub async fn run(self) {
        loop {
            let now = Utc::now();
            let lease = chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::minutes(2));
            let claimed = match self.store.claim_due_mail(now, now + lease, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the mail outbox");
                    Vec::new()
                }
            };
            let full = claimed.len() as u64 == BATCH;
            for mail in claimed {
                let outcome = match self.over_quota(&mail).await {
                    Some(waiting) => waiting,
                    None => self.send(&mail).await,
                };
                if matches!(outcome, MailOutcome::Sent) {
                    self.store.meter().count(&mail.tenant_id, |u| u.mails_sent += 1);
                }
                if let Err(e) = self.store.mail_attempted(&mail.id, outcome).await {
                    // The lease runs out and the mail is tried again.
                    tracing::warn!(error = %e, mail = %mail.id, "cannot record a mail attempt");
                    continue;
                }
                // The ticket's page shows the reply's delivery as it goes.
                if let Ok(Some(number)) = self.store.mail_ticket(&mail).await {
                    let number = crate::domain::TicketNumber(number).to_string();
                    self.bus.publish(Event::ticket_updated(&mail.tenant_id, &number)).await;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }

    /// A mail whose workspace has sent its `mails_per_day` today waits in
    /// the outbox until midnight UTC, its attempt not counted: it is held
    /// back, not failed. (Counted per mail as it is sent: two nodes sending
    /// at the same moment may pass the quota by a mail or two.)
    async fn over_quota(&self, mail: &OutboxMail) -> Option<MailOutcome> {
        let workspace = self.store.tenant(&mail.tenant_id).await.ok()?;
        let limit = self.store.quotas_of(&workspace).mails_per_day?;
        let sent = match self.store.mails_sent_today(&mail.tenant_id, limit).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the mail sent today; sending");
                return None;
            }
        };
        if sent < limit {
            return None;
        }
        let midnight = crate::domain::hosting::day_start(Utc::now()) + chrono::Duration::days(1);
        tracing::info!(mail = %mail.id, tenant = %mail.tenant_id, limit, "mail waits for the daily quota");
        Some(MailOutcome::Wait {
            reason: format!("waiting for tomorrow: the workspace's quota mails_per_day ({limit}) is reached"),
            until: midnight,
        })
    }

    async fn send(&self, mail: &OutboxMail) -> MailOutcome {
        // An erased person's placeholder (an agent replying on their old
        // ticket): `.invalid` never resolves, so say why here instead.
        if crate::domain::erasure::is_placeholder_email(&mail.to_address) {
            return MailOutcome::Failed {
                error: "the requester was erased: there is no address to mail".to_owned(),
            };
        }
        let composed = match self.store.compose(mail).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return MailOutcome::Failed {
                    error: "its ticket is gone".to_owned(),
                };
            }
            Err(e) => {
                return MailOutcome::Retry {
                    error: format!("cannot read the mail's ticket: {e}"),
                    at: Utc::now() + chrono::Duration::from_std(self.settings.first_retry_delay).unwrap_or_default(),
                };
            }
        };
        let message = match self.message(mail, composed) {
            Ok(m) => m,
            // Nothing about this mail will change: do not retry it.
            Err(error) => return MailOutcome::Failed { error },
        };
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(mail = %mail.id, tenant = %mail.tenant_id, attempts = mail.attempts, "mail sent");
                MailOutcome::Sent
            }
            Err(e) if e.is_permanent() || mail.attempts >= self.settings.max_attempts => {
                tracing::warn!(mail = %mail.id, error = %e, attempts = mail.attempts, "mail failed for good");
                MailOutcome::Failed { error: e.to_string() }
            }
            Err(e) => {
                let delay = self.settings.retry_delay(mail.attempts);
                tracing::info!(mail = %mail.id, error = %e, retry_in = ?delay, "mail not sent; will retry");
                MailOutcome::Retry {
                    error: e.to_string(),
                    at: Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)),
                }
            }
        }
    }

    fn message(&self, mail: &OutboxMail, composed: Composed) -> Result<Message, String> {
        let to_address: lettre::Address = mail
            .to_address
            .parse()
            .map_err(|e| format!("the requester's address {:?} cannot be mailed: {e}", mail.to_address))?;
        let to_name = Some(mail.to_name.clone()).filter(|n| !n.is_empty());
        let mut builder = Message::builder()
            .from(Mailbox::new(Some(composed.from_name.clone()), self.from.clone()))
            .to(Mailbox::new(to_name, to_address));
        // The workspace's own address for answers (a ticket's carries the
        // ticket, see `domain::inbound::reply_address`); `--smtp-from`
        // stays the sender (the envelope and From), which the relay
        // vouches for.
        if let Some(reply_to) = &composed.reply_to {
            let address: lettre::Address = reply_to
                .parse()
                .map_err(|e| format!("the workspace's Reply-To {reply_to:?} cannot be used: {e}"))?;
            builder = builder.reply_to(Mailbox::new(Some(composed.from_name.clone()), address));
        }
        // The thread, so the requester's client groups the ticket's mail
        // and their answer names it.
        if let Some(parent) = &mail.in_reply_to {
            builder = builder.in_reply_to(parent.clone());
        }
        if let Some(references) = mail.thread_references.as_ref().filter(|r| !r.is_empty()) {
            builder = builder.references(references.clone());
        }
        builder
            .subject(composed.subject)
            .message_id(Some(mail.message_id.clone()))
            .date(mail.created_at.into())
            .header(ContentType::TEXT_PLAIN)
            .body(composed.body)
            .map_err(|e| format!("cannot build the mail: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let s = MailSettings::default();
        assert_eq!(s.retry_delay(1), Duration::from_secs(30));
        assert_eq!(s.retry_delay(2), Duration::from_secs(60));
        assert_eq!(s.retry_delay(5), Duration::from_secs(480));
        assert_eq!(s.retry_delay(8), Duration::from_secs(3600));
        assert_eq!(s.retry_delay(400), Duration::from_secs(3600));
    }
}
