//! A ticket made by hand: no chat, but the workspace's assignment and
//! fields hooks still decide who gets it and how it is filed. The hooks see
//! it as a chat of one message from the requester (the body), so a rule
//! written for conversions (skills, keywords, load) applies unchanged.

use chrono::{SubsecRound, Utc};

use super::{ConversionError, FaultLog, Hooks, Pipeline, fault, receipt, utc_offset_minutes};
use crate::domain::hooks::{HookAgent, HookChat, HookKind, Priority, TicketFields, validate};
use crate::domain::{EmailAddress, InvalidInput, MessageKind, Subject, sla, transcript::PublicMessage};
use crate::store::{Agent, Comment, HandTicket, OutboxMail, Requester, StoreError, Ticket, new_id};

/// What the agent typed into the New ticket form, checked.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub requester_email: EmailAddress,
    pub requester_name: Option<String>,
    pub subject: Subject,
    pub body: String,
    /// Wins over the fields hook's.
    pub priority: Option<Priority>,
    /// Wins over the assignment hook (which does not run then).
    pub assignee_id: Option<String>,
    pub notify: bool,
}

/// The ticket made, its requester, and the reply mailed (if asked for).
pub struct Made {
    pub ticket: Ticket,
    pub requester: Requester,
    pub reply: Option<(Comment, Option<OutboxMail>)>,
}

impl Pipeline {
    /// Makes a ticket by hand as `agent`: runs the assignment hook (unless
    /// an assignee is given) and the fields hook, then writes it all in one
    /// transaction. A hook's fault fails it as it fails a conversion.
    pub async fn create_ticket(&self, tenant_id: &str, agent: &Agent, new: NewTicket) -> Result<Made, ConversionError> {
        let tenant = self.store.tenant(tenant_id).await?;
        // An unknown agent is the caller's mistake (422); a database that
        // cannot answer is not.
        let assignable = match &new.assignee_id {
            None => true,
            Some(id) => match self.store.agent(tenant_id, id).await {
                Ok(a) => a.active,
                Err(StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            },
        };
        if !assignable {
            return Err(
                InvalidInput::new("assignee_id", "assignee_id must be an active agent of this workspace").into(),
            );
        }
        let now = Utc::now().trunc_subsecs(6);
        let id = new_id();
        let name = new.requester_name.clone().unwrap_or_else(|| {
            new.requester_email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        let message = PublicMessage::new(MessageKind::Visitor, name.clone(), new.body.clone(), now)
            .expect("a visitor's message is public");
        let chat = HookChat {
            chat_id: id.clone(),
            subject: Some(new.subject.as_str().to_owned()),
            visitor_name: name.clone(),
            visitor_email: Some(new.requester_email.as_str().to_owned()),
            started_at: now,
            time_zone: tenant.time_zone.clone(),
            utc_offset_minutes: utc_offset_minutes(&tenant.time_zone, now),
            messages: vec![message].into(),
        };
        let (hooks, faults) = self.hooks(&tenant, &id).await?;
        // The agent's own choice needs no pool; the hook's may (see
        // `Pipeline::candidates`).
        let candidates = match new.assignee_id {
            Some(_) => Vec::new(),
            None => self.candidates(&hooks, tenant_id, agent).await?,
        };
        let decided = decide(&hooks, &chat, agent, &candidates, &new).await;
        let receipt = receipt_for(&hooks, &faults, new.assignee_id.is_some());
        faults.record(&self.store).await;
        let (assignee_id, mut fields) = decided?;
        if let Some(p) = new.priority {
            fields.priority = Some(p);
        }
        let (first_response_due_at, resolution_due_at) = sla::dues(
            now,
            sla::Targets {
                first_response_minutes: tenant.sla_first_response_minutes,
                resolution_minutes: tenant.sla_resolution_minutes,
            },
        );
        let hand = HandTicket {
            id,
            tenant_id: tenant_id.to_owned(),
            subject: new.subject.into_string(),
            body: new.body,
            requester_email: new.requester_email,
            requester_name: name,
            assignee_id: Some(assignee_id),
            fields,
            receipt: serde_json::to_string(&receipt).expect("receipts serialize"),
            first_response_due_at,
            resolution_due_at,
            notify: new.notify,
        };
        let (ticket, requester, reply) = self.store.create_ticket_by_hand(&hand, agent).await?;
        Ok(Made {
            ticket,
            requester,
            reply,
        })
    }
}

/// The assignee (the agent's choice, or the hook's) and the fields.
async fn decide(
    hooks: &Hooks,
    chat: &HookChat,
    agent: &Agent,
    candidates: &[crate::domain::hooks::HookCandidate],
    new: &NewTicket,
) -> Result<(String, TicketFields), ConversionError> {
    let assignee_id = match &new.assignee_id {
        Some(id) => id.clone(),
        None => {
            let hook = &hooks.assignment;
            let me = HookAgent {
                id: agent.id.clone(),
                name: agent.name.clone(),
            };
            let id = hook.assignee(chat, &me, candidates).await?;
            validate::assignee(&id, candidates)
                .map_err(|reason| fault(HookKind::Assignment, hook.name(), &reason))?
                .id
                .clone()
        }
    };
    let hook = &hooks.fields;
    let fields =
        validate::fields(hook.fields(chat).await?).map_err(|reason| fault(HookKind::Fields, hook.name(), &reason))?;
    Ok((assignee_id, fields))
}

/// The receipt of the two hooks that ran (or, for assignment, the agent's
/// own choice).
fn receipt_for(hooks: &Hooks, log: &FaultLog, typed_assignee: bool) -> Vec<crate::domain::hooks::Receipt> {
    receipt(hooks, log, false)
        .into_iter()
        .filter(|r| r.hook == HookKind::Assignment.as_str() || r.hook == HookKind::Fields.as_str())
        .map(|mut r| {
            if typed_assignee && r.hook == HookKind::Assignment.as_str() {
                r.outcome = "typed".to_owned();
                (r.version, r.sha256, r.reason, r.fuel, r.elapsed_ms) = (None, None, None, None, None);
            }
            r
        })
        .collect()
}
