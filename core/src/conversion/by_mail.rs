//! A ticket opened by a mail: the workspace's subject, assignment and
//! fields hooks decide it as they decide a conversion, seeing the mail as a
//! chat of one message from its sender, so operators' rules and plugins
//! apply to every channel. Nobody converts it: the assignment hook gets no
//! converting agent (an empty id), and naming nobody leaves the ticket
//! unassigned. A mail is never lost to a faulty hook: the ticket is opened
//! with the defaults and the fault is recorded, as a conversion records it.

use chrono::{SubsecRound, Utc};

use super::{ConversionError, Hooks, Pipeline, receipt, subject, utc_offset_minutes};
use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, HookKind, TicketFields, validate};
use crate::domain::inbound::ParsedMail;
use crate::domain::{EmailAddress, MessageKind, TicketNumber, sla, transcript::PublicMessage};
use crate::store::{Arrival, HandTicket, MailTicket, Received, new_id};

/// A ticket's description from a mail at most (the received mail keeps
/// up to `store::MAX_ORIGINAL_BYTES` of it).
const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// What the hooks see of a mail's body at most.
const MAX_HOOK_BODY_BYTES: usize = 32 * 1024;

impl Pipeline {
    /// Opens a ticket for `arrival` from `from`, following up the closed
    /// ticket `follows` if it answered one.
    pub async fn ticket_from_mail(
        &self,
        tenant_id: &str,
        from: &EmailAddress,
        arrival: &Arrival<'_>,
        follows: Option<TicketNumber>,
    ) -> Result<Received, ConversionError> {
        let mail: &ParsedMail = arrival.mail;
        let tenant = self.store.tenant(tenant_id).await?;
        let now = Utc::now().trunc_subsecs(6);
        let id = new_id();
        let name = if mail.from_name.is_empty() {
            from.as_str().split('@').next().unwrap_or_default().to_owned()
        } else {
            mail.from_name.clone()
        };
        let body = match mail.text.trim() {
            "" => "(the mail had no text)".to_owned(),
            text if text.len() > MAX_DESCRIPTION_BYTES => {
                let mut end = MAX_DESCRIPTION_BYTES;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                format!(
                    "{}\n\n[cut here: the whole mail is under the ticket's received mail]",
                    &text[..end]
                )
            }
            text => text.to_owned(),
        };
        let mut shown = body.as_str();
        if shown.len() > MAX_HOOK_BODY_BYTES {
            let mut end = MAX_HOOK_BODY_BYTES;
            while !shown.is_char_boundary(end) {
                end -= 1;
            }
            shown = &shown[..end];
        }
        let message = PublicMessage::new(MessageKind::Visitor, name.clone(), shown.to_owned(), now)
            .expect("a visitor's message is public");
        let chat = HookChat {
            chat_id: id.clone(),
            subject: Some(mail.subject.clone()).filter(|s| !s.is_empty()),
            visitor_name: name.clone(),
            visitor_email: Some(from.as_str().to_owned()),
            started_at: now,
            time_zone: tenant.time_zone.clone(),
            utc_offset_minutes: utc_offset_minutes(&tenant.time_zone, now),
            messages: vec![message].into(),
        };
        let (hooks, faults) = self.hooks(&tenant, &id).await?;
        let subject = match chat.subject.clone() {
            Some(s) => s,
            None => subject(&hooks, &chat)
                .await
                .unwrap_or_else(|_| "(no subject)".to_owned()),
        };
        // A mail has no converting agent: the default rule names nobody,
        // and only a rule that reads the team needs it read.
        let candidates = if hooks.assignment.needs_candidates() {
            self.store.assignment_candidates(tenant_id).await?
        } else {
            Vec::new()
        };
        let assignee_id = assignee(&hooks, &chat, &candidates).await.unwrap_or(None);
        let fields = fields(&hooks, &chat).await.unwrap_or_default();
        let receipt: Vec<_> = receipt(&hooks, &faults, chat.subject.is_some())
            .into_iter()
            .filter(|r| r.hook != HookKind::Transcript.as_str())
            .collect();
        faults.record(&self.store).await;
        let (first_response_due_at, resolution_due_at) = sla::dues(
            now,
            sla::Targets {
                first_response_minutes: tenant.sla_first_response_minutes,
                resolution_minutes: tenant.sla_resolution_minutes,
            },
        );
        let ticket = MailTicket {
            ticket: HandTicket {
                id,
                tenant_id: tenant_id.to_owned(),
                subject,
                body,
                requester_email: from.clone(),
                requester_name: name,
                assignee_id,
                fields,
                receipt: serde_json::to_string(&receipt).expect("receipts serialize"),
                first_response_due_at,
                resolution_due_at,
                notify: false,
            },
            follows,
            acknowledge: self.acknowledge && tenant.acknowledge_by_mail,
        };
        Ok(self.store.ticket_from_mail(&ticket, arrival).await?)
    }
}

/// The agent the assignment hook names, or nobody (it named the converting
/// agent, of whom a mail has none).
async fn assignee(
    hooks: &Hooks,
    chat: &HookChat,
    candidates: &[HookCandidate],
) -> Result<Option<String>, ConversionError> {
    let hook = &hooks.assignment;
    let nobody = HookAgent {
        id: String::new(),
        name: String::new(),
    };
    let id = hook.assignee(chat, &nobody, candidates).await?;
    if id.is_empty() {
        return Ok(None);
    }
    let found = validate::assignee(&id, candidates)
        .map_err(|reason| super::fault(HookKind::Assignment, hook.name(), &reason))?;
    Ok(Some(found.id.clone()))
}

async fn fields(hooks: &Hooks, chat: &HookChat) -> Result<TicketFields, ConversionError> {
    let hook = &hooks.fields;
    Ok(validate::fields(hook.fields(chat).await?)
        .map_err(|reason| super::fault(HookKind::Fields, hook.name(), &reason))?)
}
