//! Plugins behind the pipeline's hook traits: the WIT records built from a
//! chat snapshot, the call, the checks on what comes back, and the failure
//! policy.

use std::sync::{Arc, Mutex};

use super::Policy;
use super::limits::{self, Limits};
use super::runtime::{CallSettings, LoadedPlugin, wit};
use crate::conversion::hooks::{
    AssignmentHook, HookAgent, HookCandidate, HookChat, HookFault, HookKind, Hooks, SubjectHook, SummaryHook,
    TranscriptHook, validate,
};
use crate::domain::MessageKind;
use crate::domain::transcript::PublicMessage;
use crate::store::NewFault;

/// Faults of one conversion, collected while its hooks run (synchronously,
/// off the async runtime) and written to the database afterwards.
#[derive(Clone, Default)]
pub struct FaultLog(Arc<Mutex<Vec<NewFault>>>);

impl FaultLog {
    fn push(&self, fault: NewFault) {
        self.0.lock().unwrap().push(fault);
    }

    pub fn take(&self) -> Vec<NewFault> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// One plugin bound to one workspace's settings for one hook.
pub struct PluginHook {
    plugin: Arc<LoadedPlugin>,
    tenant_id: String,
    limits: Limits,
    config: Vec<(String, String)>,
}

impl PluginHook {
    pub fn new(plugin: Arc<LoadedPlugin>, tenant_id: String, limits: Limits, config: Vec<(String, String)>) -> Self {
        Self {
            plugin,
            tenant_id,
            limits,
            config,
        }
    }

    fn settings(&self, chat: &HookChat) -> CallSettings {
        CallSettings {
            tenant_id: self.tenant_id.clone(),
            limits: self.limits,
            context: wit::Context {
                config: self.config.clone(),
                time_zone: chat.time_zone.clone(),
                utc_offset_minutes: chat.utc_offset_minutes,
            },
        }
    }

    fn fault(&self, hook: HookKind, reason: impl Into<String>) -> HookFault {
        HookFault {
            hook,
            plugin: self.plugin.name.clone(),
            reason: reason.into(),
        }
    }

    /// Host failures and the plugin's own `err` both become faults; output
    /// over the general cap is refused before any hook-specific check.
    fn settle<T>(&self, hook: HookKind, outcome: Result<Result<T, String>, String>) -> Result<T, HookFault> {
        match outcome {
            Err(host) => Err(self.fault(hook, host)),
            Ok(Err(own)) => {
                let own: String = own.chars().take(500).collect();
                Err(self.fault(hook, format!("it returned an error: {own}")))
            }
            Ok(Ok(v)) => Ok(v),
        }
    }

    fn check_output(&self, hook: HookKind, out: &str) -> Result<(), HookFault> {
        if out.len() > limits::MAX_OUTPUT_BYTES {
            return Err(self.fault(
                hook,
                format!(
                    "it returned {} bytes, over the {} MiB output limit",
                    out.len(),
                    limits::MAX_OUTPUT_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    fn check_input(&self, hook: HookKind, chat: &HookChat, whole: bool) -> Result<(), HookFault> {
        let size = input_bytes(chat, whole);
        if size > limits::MAX_INPUT_BYTES {
            return Err(self.fault(
                hook,
                format!(
                    "the chat is {size} bytes, over the {} MiB a plugin may be given",
                    limits::MAX_INPUT_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    fn run_subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        let hook = HookKind::Subject;
        self.check_input(hook, chat, false)?;
        let out = self.settle(hook, self.plugin.call_subject(&self.settings(chat), &header(chat)))?;
        self.check_output(hook, &out)?;
        validate::subject(&out).map_err(|r| self.fault(hook, r))
    }

    fn run_transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        let hook = HookKind::Transcript;
        self.check_input(hook, chat, true)?;
        let out = self.settle(hook, self.plugin.call_transcript(&self.settings(chat), &whole(chat)))?;
        self.check_output(hook, &out)?;
        validate::transcript(out).map_err(|r| self.fault(hook, r))
    }

    fn run_assignment(
        &self,
        chat: &HookChat,
        agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault> {
        let hook = HookKind::Assignment;
        self.check_input(hook, chat, false)?;
        let agent = wit::Agent {
            id: agent.id.clone(),
            name: agent.name.clone(),
        };
        let listed: Vec<wit::Candidate> = candidates
            .iter()
            .map(|c| wit::Candidate {
                id: c.id.clone(),
                name: c.name.clone(),
                online: c.online,
                open_tickets: c.open_tickets,
                skills: c.skills.clone(),
            })
            .collect();
        let out = self.settle(
            hook,
            self.plugin
                .call_assignment(&self.settings(chat), &header(chat), &agent, &listed),
        )?;
        self.check_output(hook, &out)?;
        validate::assignee(&out, candidates)
            .map(|c| c.id.clone())
            .map_err(|r| self.fault(hook, r))
    }

    fn run_summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        let hook = HookKind::Summary;
        self.check_input(hook, chat, true)?;
        let out = self.settle(hook, self.plugin.call_summary(&self.settings(chat), &whole(chat)))?;
        if let Some(s) = &out {
            self.check_output(hook, s)?;
        }
        validate::summary(out).map_err(|r| self.fault(hook, r))
    }
}

// A plugin on its own, without a policy (the local runner, benchmarks).
impl SubjectHook for PluginHook {
    fn name(&self) -> &str {
        &self.plugin.name
    }
    fn subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        self.run_subject(chat)
    }
}

impl TranscriptHook for PluginHook {
    fn name(&self) -> &str {
        &self.plugin.name
    }
    fn transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        self.run_transcript(chat)
    }
}

impl AssignmentHook for PluginHook {
    fn name(&self) -> &str {
        &self.plugin.name
    }
    fn assignee(&self, chat: &HookChat, agent: &HookAgent, candidates: &[HookCandidate]) -> Result<String, HookFault> {
        self.run_assignment(chat, agent, candidates)
    }
}

impl SummaryHook for PluginHook {
    fn name(&self) -> &str {
        &self.plugin.name
    }
    fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        self.run_summary(chat)
    }
}

/// A hook as the pipeline runs it: the workspace's plugin, and what happens
/// when it fails.
pub struct Guarded {
    pub hook: HookKind,
    pub policy: Policy,
    /// The plugin, or why it could not be loaded (that is a fault too).
    pub primary: Result<PluginHook, HookFault>,
    pub native: Hooks,
    pub faults: FaultLog,
    pub tenant_id: String,
    pub chat_id: String,
}

impl Guarded {
    fn run<R>(
        &self,
        plugin: impl FnOnce(&PluginHook) -> Result<R, HookFault>,
        native: impl FnOnce() -> Result<R, HookFault>,
    ) -> Result<R, HookFault> {
        let fault = match &self.primary {
            Ok(p) => match plugin(p) {
                Ok(r) => return Ok(r),
                Err(f) => f,
            },
            Err(f) => f.clone(),
        };
        let outcome = match self.policy {
            Policy::Fallback => "fell_back",
            Policy::Reject => "rejected",
        };
        self.faults.push(NewFault {
            tenant_id: self.tenant_id.clone(),
            hook: self.hook.as_str().to_owned(),
            plugin: match &self.primary {
                Ok(p) => p.plugin.key.clone(),
                Err(_) => String::new(),
            },
            plugin_name: fault.plugin.clone(),
            chat_id: (!self.chat_id.is_empty()).then(|| self.chat_id.clone()),
            reason: fault.reason.clone(),
            outcome: outcome.to_owned(),
        });
        match self.policy {
            Policy::Fallback => native(),
            Policy::Reject => Err(fault),
        }
    }

    fn plugin_name(&self) -> &str {
        match &self.primary {
            Ok(p) => &p.plugin.name,
            Err(f) => &f.plugin,
        }
    }
}

impl SubjectHook for Guarded {
    fn name(&self) -> &str {
        self.plugin_name()
    }
    fn subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        self.run(|p| p.run_subject(chat), || self.native.subject.subject(chat))
    }
}

impl TranscriptHook for Guarded {
    fn name(&self) -> &str {
        self.plugin_name()
    }
    fn transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        self.run(|p| p.run_transcript(chat), || self.native.transcript.transcript(chat))
    }
}

impl AssignmentHook for Guarded {
    fn name(&self) -> &str {
        self.plugin_name()
    }
    fn assignee(&self, chat: &HookChat, agent: &HookAgent, candidates: &[HookCandidate]) -> Result<String, HookFault> {
        self.run(
            |p| p.run_assignment(chat, agent, candidates),
            || self.native.assignment.assignee(chat, agent, candidates),
        )
    }
}

impl SummaryHook for Guarded {
    fn name(&self) -> &str {
        self.plugin_name()
    }
    fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        self.run(|p| p.run_summary(chat), || self.native.summary.summary(chat))
    }
}

fn message(m: &PublicMessage) -> wit::Message {
    wit::Message {
        author: match m.kind() {
            MessageKind::Visitor => wit::Author::Visitor,
            MessageKind::Agent => wit::Author::Agent,
            MessageKind::System => wit::Author::System,
            // A PublicMessage cannot be built from an internal note.
            MessageKind::InternalNote => unreachable!("internal notes never become public messages"),
        },
        author_name: m.author_name.clone(),
        body: m.body.clone(),
        sent_at: m.created_at.timestamp_millis(),
    }
}

fn header(chat: &HookChat) -> wit::ChatHeader {
    wit::ChatHeader {
        id: chat.chat_id.clone(),
        subject: chat.subject.clone(),
        visitor: wit::Visitor {
            name: chat.visitor_name.clone(),
            email: chat.visitor_email.clone(),
        },
        started_at: chat.started_at.timestamp_millis(),
        first_visitor_message: chat
            .messages
            .iter()
            .find(|m| m.kind() == MessageKind::Visitor)
            .map(message),
        message_count: chat.messages.len().try_into().unwrap_or(u32::MAX),
    }
}

fn whole(chat: &HookChat) -> wit::Chat {
    wit::Chat {
        header: header(chat),
        messages: chat.messages.iter().map(message).collect(),
    }
}

/// The text a call hands over, roughly what it costs to copy in.
fn input_bytes(chat: &HookChat, whole: bool) -> usize {
    let head = chat.subject.as_deref().map_or(0, str::len) + chat.visitor_name.len();
    let first = chat.messages.first().map_or(0, |m| m.body.len() + m.author_name.len());
    if !whole {
        return head + first;
    }
    head + chat
        .messages
        .iter()
        .map(|m| m.body.len() + m.author_name.len() + 16)
        .sum::<usize>()
}
