//! Convert chat to ticket: snapshot → hooks → validate → commit → after.
//!
//! Hooks run on a snapshot outside any database transaction, so a slow hook
//! never holds a lock. The commit re-checks that the chat is unchanged since
//! the snapshot; if it moved on (a new message arrived), the pipeline takes a
//! new snapshot and runs the hooks again.

mod by_hand;
mod by_mail;
pub mod hooks;

pub use by_hand::{Made, NewTicket};

use chrono::{DateTime, Utc};

use crate::domain::hooks::{
    FaultKind, HookAgent, HookCandidate, HookChat, HookFault, HookKind, Receipt, TicketFields, validate,
};
use crate::domain::sla;
use crate::domain::{EmailAddress, InvalidInput, MessageKind, Subject, TicketNumber, transcript::PublicMessage};
use crate::store::{
    Agent, Chat, CommitOutcome, ConversionCommit, ConversionSnapshot, NumberedNotice, Requester, SnapshotMessage,
    Store, StoreError, Tenant, Ticket, Visitor, candidate,
};
use hooks::{FaultLog, HookProvider, Hooks};

/// How often a conversion redoes its snapshot when the chat keeps changing.
/// Each stale attempt means another write landed on the chat, and a chat's
/// writes are bounded by its visitor's message bucket (a burst of 30 by
/// default) and its agents' own messages: a visitor typing in a burst while
/// the agent converts must not make the conversion fail, so the bound sits
/// above one full burst. Five (the old bound) lost to five quick messages.
const MAX_ATTEMPTS: usize = 48;

#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("chat not found")]
    NotFound,
    #[error(transparent)]
    Hook(#[from] HookFault),
    #[error("the chat kept changing while it was being converted; try again")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ConversionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ConversionError::NotFound,
            other => ConversionError::Store(other),
        }
    }
}

/// What the agent typed into the Convert panel.
#[derive(Debug, Clone, Default)]
pub struct ConvertInput {
    pub visitor_email: Option<String>,
    pub subject: Option<String>,
    /// Why the agent converts: the ticket's first internal comment.
    pub reason: Option<String>,
}

/// The Convert panel's pre-filled fields.
#[derive(Debug, Clone)]
pub struct Prefill {
    pub visitor_email: Option<String>,
    pub subject: String,
}

/// What a conversion would write (a dry run), or did write.
#[derive(Debug, Clone)]
pub struct Plan {
    pub subject: String,
    pub transcript: String,
    pub assignee: HookAgent,
    pub requester_email: EmailAddress,
    pub requester_name: String,
    /// A requester with this email already exists in the workspace.
    pub requester_exists: bool,
    pub first_response_at: Option<DateTime<Utc>>,
    /// Priority, tags and custom fields from the fields hook.
    pub fields: TicketFields,
    /// What ran for each hook, and how it went.
    pub receipt: Vec<Receipt>,
    /// Set when the chat was converted already: converting again returns it.
    pub existing_ticket: Option<Ticket>,
}

#[derive(Debug, Clone)]
pub struct Converted {
    pub ticket: Ticket,
    /// False when the chat had been converted before (by this or another
    /// request): the same ticket comes back, never a second one.
    pub created: bool,
    /// When this call created the ticket: its requester and assignee, so
    /// showing the ticket needs no further reads.
    pub parties: Option<(Requester, HookAgent)>,
}

/// Everything the hooks and the commit need, read at one moment.
struct Snapshot {
    tenant: Tenant,
    chat: Chat,
    visitor: Visitor,
    hook_chat: HookChat,
}

/// The conversion pipeline of a server: the store and the hooks it runs.
#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    hooks: std::sync::Arc<dyn HookProvider>,
    /// Mail requesters their new ticket's number (where the workspace has
    /// that on): set when the server sends mail.
    acknowledge: bool,
}

impl Pipeline {
    pub fn new(store: Store, hooks: std::sync::Arc<dyn HookProvider>) -> Self {
        Self {
            store,
            hooks,
            acknowledge: false,
        }
    }

    /// The pipeline, acknowledging new tickets by mail when `on`.
    pub fn acknowledging(mut self, on: bool) -> Self {
        self.acknowledge = on;
        self
    }

    /// The hooks for one conversion of `tenant`'s chat.
    async fn hooks(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), ConversionError> {
        Ok(self.hooks.hooks_for(tenant, chat_id).await?)
    }

    pub async fn prefill(&self, tenant_id: &str, chat_id: &str) -> Result<Prefill, ConversionError> {
        let snap = self.snapshot(tenant_id, chat_id).await?;
        let (hooks, faults) = self.hooks(&snap.tenant, chat_id).await?;
        let subject = subject(&hooks, &snap.hook_chat).await;
        faults.record(&self.store).await;
        Ok(Prefill {
            visitor_email: snap.visitor.email,
            subject: subject?,
        })
    }

    /// A dry run: what `convert` would create now. Commits nothing.
    pub async fn preview(
        &self,
        tenant_id: &str,
        agent: &Agent,
        chat_id: &str,
        input: &ConvertInput,
    ) -> Result<Plan, ConversionError> {
        let (email, typed_subject) = parse_input(input)?;
        let snap = self.snapshot(tenant_id, chat_id).await?;
        let existing = snap.chat.ticket_id.clone();
        let (_, plan) = self.plan(snap, agent, email, typed_subject, false).await;
        let mut plan = plan?;
        plan.requester_exists = self
            .store
            .find_requester(tenant_id, plan.requester_email.normalized())
            .await?
            .is_some();
        if let Some(ticket_id) = &existing {
            plan.existing_ticket = Some(self.store.ticket(tenant_id, ticket_id).await?);
        }
        Ok(plan)
    }

    /// Converts the chat to a ticket, all or nothing. Repeating it (a double
    /// click, a second agent, another server node) returns the same ticket.
    /// `notice`, if any, leaves with the commit (see
    /// `realtime::Bus::numbered_notice`).
    pub async fn convert(
        &self,
        tenant_id: &str,
        agent: &Agent,
        chat_id: &str,
        input: &ConvertInput,
        notice: Option<NumberedNotice>,
    ) -> Result<Converted, ConversionError> {
        self.convert_from(None, tenant_id, agent, chat_id, input, notice).await
    }

    /// [`Pipeline::convert`] on a snapshot read already, with the agent's
    /// token (`Store::authorized_snapshot`): `None` when the agent's
    /// workspace has no such chat. A retry reads its own.
    pub async fn convert_read(
        &self,
        read: Option<ConversionSnapshot>,
        agent: &Agent,
        chat_id: &str,
        input: &ConvertInput,
        notice: Option<NumberedNotice>,
    ) -> Result<Converted, ConversionError> {
        self.convert_from(Some(read), &agent.tenant_id, agent, chat_id, input, notice)
            .await
    }

    /// `first`, if given, is what the first attempt's snapshot read found.
    async fn convert_from(
        &self,
        mut first: Option<Option<ConversionSnapshot>>,
        tenant_id: &str,
        agent: &Agent,
        chat_id: &str,
        input: &ConvertInput,
        notice: Option<NumberedNotice>,
    ) -> Result<Converted, ConversionError> {
        let (email, typed_subject) = parse_input(input)?;
        let reason = match input.reason.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => Some(crate::domain::message_body("reason", r)?),
        };
        for _ in 0..MAX_ATTEMPTS {
            let snap = match first.take() {
                Some(Some(read)) => Snapshot::from(read),
                Some(None) => return Err(ConversionError::NotFound),
                None => self.snapshot(tenant_id, chat_id).await?,
            };
            if let Some(ticket_id) = &snap.chat.ticket_id {
                let ticket = self.store.ticket(tenant_id, ticket_id).await?;
                return Ok(Converted {
                    ticket,
                    created: false,
                    parties: None,
                });
            }
            let (snap, plan) = self.plan(snap, agent, email.clone(), typed_subject.clone(), true).await;
            let plan = plan?;
            let assignee = plan.assignee.clone();
            // The request began with the chat: its targets count from there.
            let targets = sla::Targets {
                first_response_minutes: snap.tenant.sla_first_response_minutes,
                resolution_minutes: snap.tenant.sla_resolution_minutes,
            };
            let (first_response_due_at, resolution_due_at) = sla::dues(snap.chat.created_at, targets);
            let due_at = sla::Clock {
                first_response_due_at,
                resolution_due_at,
                first_response_at: plan.first_response_at,
                solved_at: None,
            }
            .next_due(crate::domain::TicketStatus::InProgress);
            let commit = ConversionCommit {
                tenant_id: tenant_id.to_owned(),
                chat_id: chat_id.to_owned(),
                snapshot_version: snap.chat.version,
                chat_was_closed: snap.chat.status == crate::domain::ChatStatus::Closed.as_str(),
                visitor_id: snap.visitor.id.clone(),
                visitor_had_email: snap.visitor.email.is_some(),
                requester_email: plan.requester_email,
                requester_name: plan.requester_name,
                subject: plan.subject,
                description: plan.transcript,
                assignee_id: assignee.id.clone(),
                first_response_at: plan.first_response_at,
                converting_agent_id: agent.id.clone(),
                converting_agent_name: agent.name.clone(),
                reason: reason.clone(),
                fields: plan.fields,
                receipt: serde_json::to_string(&plan.receipt).expect("receipts serialize"),
                first_response_due_at,
                resolution_due_at,
                due_at,
                acknowledge: self.acknowledge && snap.tenant.acknowledge_by_mail,
                listeners: snap.tenant.event_listeners,
                notice: notice.clone(),
            };
            match self.store.commit_conversion(&commit).await? {
                CommitOutcome::Created(ticket, requester) => {
                    tracing::info!(tenant = tenant_id, chat = chat_id, ticket = %TicketNumber(ticket.number), "chat converted");
                    if snap.tenant.summary_on_close {
                        self.after_close(tenant_id, chat_id);
                    }
                    return Ok(Converted {
                        ticket,
                        created: true,
                        parties: Some((requester, assignee)),
                    });
                }
                CommitOutcome::AlreadyConverted(ticket) => {
                    return Ok(Converted {
                        ticket,
                        created: false,
                        parties: None,
                    });
                }
                CommitOutcome::Stale => continue,
            }
        }
        Err(ConversionError::Busy)
    }

    /// What follows a close (conversion included): the summary hook, if the
    /// workspace asked for summaries. It runs in the background, after the
    /// response, so it can never fail or delay the close: a fault is logged
    /// and the chat simply has no summary.
    pub fn after_close(&self, tenant_id: &str, chat_id: &str) {
        let (pipeline, tenant_id, chat_id) = (self.clone(), tenant_id.to_owned(), chat_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = pipeline.summarize(&tenant_id, &chat_id).await {
                tracing::warn!(tenant = %tenant_id, chat = %chat_id, error = %e, "summary at close failed");
            }
        });
    }

    async fn summarize(&self, tenant_id: &str, chat_id: &str) -> Result<(), ConversionError> {
        let snap = self.snapshot(tenant_id, chat_id).await?;
        if !snap.tenant.summary_on_close {
            return Ok(());
        }
        let (hooks, faults) = self.hooks(&snap.tenant, chat_id).await?;
        let hook = &hooks.summary;
        let summary = match hook.summary(&snap.hook_chat).await {
            Ok(raw) => validate::summary(raw).map_err(|reason| fault(HookKind::Summary, hook.name(), &reason)),
            Err(f) => Err(f),
        };
        faults.count_run(&self.store, tenant_id).await;
        faults.record(&self.store).await;
        if let Some(summary) = summary? {
            self.store.set_summary(tenant_id, chat_id, &summary).await?;
        }
        Ok(())
    }

    /// What the hooks get for `agent`'s conversion of the chat now, without
    /// running them: the chat (internal notes removed), the converting agent
    /// and the candidates. Plugin authors replay it with `plugin run`.
    pub async fn hook_input(
        &self,
        tenant_id: &str,
        agent: &Agent,
        chat_id: &str,
    ) -> Result<(HookChat, HookAgent, Vec<HookCandidate>), ConversionError> {
        let snap = self.snapshot(tenant_id, chat_id).await?;
        let candidates = self.store.assignment_candidates(tenant_id).await?;
        let agent = HookAgent {
            id: agent.id.clone(),
            name: agent.name.clone(),
        };
        Ok((snap.hook_chat, agent, candidates))
    }

    /// The chat and everything around it, in one query (see
    /// `Store::conversion_snapshot`).
    async fn snapshot(&self, tenant_id: &str, chat_id: &str) -> Result<Snapshot, ConversionError> {
        Ok(Snapshot::from(
            self.store.conversion_snapshot(tenant_id, chat_id).await?,
        ))
    }

    /// Whom the assignment hook may choose from: the workspace's pool when
    /// the hook reads it (a plugin, a strategy), else the converting agent
    /// alone, so the default rule's conversion does not read the team and
    /// costs the same however many agents the workspace has.
    async fn candidates(
        &self,
        hooks: &Hooks,
        tenant_id: &str,
        agent: &Agent,
    ) -> Result<Vec<HookCandidate>, ConversionError> {
        if hooks.assignment.needs_candidates() {
            Ok(self.store.assignment_candidates(tenant_id).await?)
        } else {
            Ok(vec![candidate(agent.clone())])
        }
    }

    /// Runs the hooks on a snapshot (plugin calls wait for a slot of the
    /// workspace's and run on the plugin runtime, never on the server's
    /// threads) and validates what they return. Faults are recorded
    /// whatever the outcome; a `live` run (a conversion, not a preview)
    /// counts for the workspace's rollout. Hands the snapshot back.
    async fn plan(
        &self,
        snap: Snapshot,
        agent: &Agent,
        email: EmailAddress,
        typed_subject: Option<Subject>,
        live: bool,
    ) -> (Snapshot, Result<Plan, ConversionError>) {
        let (hooks, faults) = match self.hooks(&snap.tenant, &snap.chat.id).await {
            Ok(h) => h,
            Err(e) => return (snap, Err(e)),
        };
        let candidates = match self.candidates(&hooks, &snap.tenant.id, agent).await {
            Ok(c) => c,
            Err(e) => return (snap, Err(e)),
        };
        let agent = HookAgent {
            id: agent.id.clone(),
            name: agent.name.clone(),
        };
        let typed = typed_subject.is_some();
        let plan = plan_with(&hooks, &snap, &agent, &candidates, email, typed_subject)
            .await
            .map(|mut plan| {
                plan.receipt = receipt(&hooks, &faults, typed);
                plan
            });
        if live {
            faults.count_run(&self.store, &snap.tenant.id).await;
        }
        faults.record(&self.store).await;
        (snap, plan)
    }
}

async fn plan_with(
    hooks: &Hooks,
    snap: &Snapshot,
    agent: &HookAgent,
    candidates: &[HookCandidate],
    email: EmailAddress,
    typed_subject: Option<Subject>,
) -> Result<Plan, ConversionError> {
    let subject = match typed_subject {
        Some(s) => s.into_string(),
        None => subject(hooks, &snap.hook_chat).await?,
    };

    let transcript_hook = &hooks.transcript;
    let transcript = validate::transcript(transcript_hook.transcript(&snap.hook_chat).await?)
        .map_err(|reason| fault(HookKind::Transcript, transcript_hook.name(), &reason))?;

    let assignment_hook = &hooks.assignment;
    let assignee_id = assignment_hook.assignee(&snap.hook_chat, agent, candidates).await?;
    let assignee = validate::assignee(&assignee_id, candidates)
        .map_err(|reason| fault(HookKind::Assignment, assignment_hook.name(), &reason))?;

    let fields_hook = &hooks.fields;
    let fields = validate::fields(fields_hook.fields(&snap.hook_chat).await?)
        .map_err(|reason| fault(HookKind::Fields, fields_hook.name(), &reason))?;

    Ok(Plan {
        subject,
        transcript,
        assignee: HookAgent {
            id: assignee.id.clone(),
            name: assignee.name.clone(),
        },
        requester_email: email,
        requester_name: snap.visitor.name.clone(),
        requester_exists: false,
        first_response_at: snap.chat.first_response_at,
        fields,
        receipt: Vec::new(),
        existing_ticket: None,
    })
}

/// The conversion's receipt, one entry a hook in pipeline order: what the
/// plugin host noted, the agent's own subject, or the native rule that ran
/// where no plugin did.
pub(super) fn receipt(hooks: &Hooks, log: &FaultLog, typed_subject: bool) -> Vec<Receipt> {
    let noted = log.receipts();
    let steps = [
        (HookKind::Subject, hooks.subject.name()),
        (HookKind::Transcript, hooks.transcript.name()),
        (HookKind::Assignment, hooks.assignment.name()),
        (HookKind::Fields, hooks.fields.name()),
    ];
    steps
        .into_iter()
        .map(|(hook, name)| {
            let bare = |outcome: &str| Receipt {
                hook: hook.as_str().to_owned(),
                plugin: name.trim_start_matches("builtin:").to_owned(),
                plugin_name: name.to_owned(),
                version: None,
                sha256: None,
                outcome: outcome.to_owned(),
                reason: None,
                fuel: None,
                elapsed_ms: None,
                pipeline_version: None,
                pipeline: None,
            };
            let mut receipt = if hook == HookKind::Subject && typed_subject {
                bare("typed")
            } else {
                noted
                    .iter()
                    .find(|r| r.hook == hook.as_str())
                    .cloned()
                    .unwrap_or_else(|| bare("native"))
            };
            if let Some(run) = log.run() {
                receipt.pipeline_version = Some(run.version);
                receipt.pipeline = Some(run.arm.as_str().to_owned());
            }
            receipt
        })
        .collect()
}

async fn subject(hooks: &Hooks, chat: &HookChat) -> Result<String, ConversionError> {
    let hook = &hooks.subject;
    let raw = hook.subject(chat).await?;
    validate::subject(&raw).map_err(|reason| fault(HookKind::Subject, hook.name(), &reason).into())
}

fn parse_input(input: &ConvertInput) -> Result<(EmailAddress, Option<Subject>), InvalidInput> {
    let email = EmailAddress::parse("visitor_email", input.visitor_email.as_deref().unwrap_or(""))?;
    let subject = Subject::parse_optional("subject", input.subject.as_deref())?;
    Ok((email, subject))
}

pub(super) fn fault(hook: HookKind, plugin: &str, reason: &str) -> HookFault {
    HookFault {
        hook,
        plugin: plugin.to_owned(),
        kind: FaultKind::Output,
        reason: reason.to_owned(),
    }
}

impl From<ConversionSnapshot> for Snapshot {
    fn from(s: ConversionSnapshot) -> Self {
        Snapshot {
            hook_chat: hook_chat(&s.tenant, &s.chat, &s.visitor, s.messages),
            tenant: s.tenant,
            chat: s.chat,
            visitor: s.visitor,
        }
    }
}

/// The hooks' view of a chat. This is where internal notes are dropped:
/// `PublicMessage::new` refuses them.
fn hook_chat(tenant: &Tenant, chat: &Chat, visitor: &Visitor, messages: Vec<SnapshotMessage>) -> HookChat {
    let messages: Vec<PublicMessage> = messages
        .into_iter()
        .filter_map(|m| {
            let kind: MessageKind = m.kind.parse().ok()?;
            PublicMessage::new(kind, m.author_name, m.body, m.created_at)
        })
        .collect();
    HookChat {
        messages: messages.into(),
        chat_id: chat.id.clone(),
        subject: chat.subject.clone(),
        visitor_name: visitor.name.clone(),
        visitor_email: visitor.email.clone(),
        started_at: chat.created_at,
        time_zone: tenant.time_zone.clone(),
        utc_offset_minutes: utc_offset_minutes(&tenant.time_zone, chat.created_at),
    }
}

/// The zone's offset from UTC at `at`, in minutes (0 for an unknown zone,
/// which the settings API does not let in).
pub fn utc_offset_minutes(zone: &str, at: DateTime<Utc>) -> i32 {
    use chrono::{Offset, TimeZone};
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc() / 60,
        Err(_) => 0,
    }
}
