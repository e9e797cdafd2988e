//! Plugins behind the pipeline's hook traits: the WIT records built from a
//! chat snapshot, the call (through the fair slots, onto the plugin
//! runtime), the checks on what comes back, the usage figures, and the
//! failure policy.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::call::{CallSettings, HookInput, HookOutput};
use super::engine;
use super::limits::{self, Limits};
use super::loaded::LoadedPlugin;
use super::logs::PluginLogs;
use super::outbound::Grant;
use super::pipeline::Policy;
use super::slots::{SlotSettings, Slots};
use super::usage::{CallRecord, Usage};
use crate::conversion::hooks::{AssignmentHook, FaultLog, FieldsHook, Hooks, SubjectHook, SummaryHook, TranscriptHook};
use crate::domain::hooks::{
    FaultKind, HookAgent, HookCandidate, HookChat, HookFault, HookKind, Receipt, TicketFields, validate,
};
use crate::domain::log_text;
use crate::store::{NewFault, NewLogLine, is_uploaded_plugin_ref};

/// What every call of a server passes through: the fair slots and the
/// usage figures.
pub struct Gate {
    pub slots: Slots,
    /// The summary hook's own slots: it runs after a close, off the
    /// conversion's path, and may wait on a model for seconds, which must
    /// not hold a slot a conversion needs.
    pub background: Slots,
    pub usage: Usage,
    /// The cluster's usage counts (calls and fuel per workspace a day).
    pub meter: crate::store::Meter,
    /// The workspaces' plugin logs, waiting to be written.
    pub logs: Arc<PluginLogs>,
}

/// Summary calls running at once on a server, at most (within the
/// engine's pool beside the conversion's slots: see `HostSettings`).
pub const MAX_BACKGROUND_CALLS: usize = 16;

impl Gate {
    pub fn new(slots: SlotSettings, meter: crate::store::Meter) -> Self {
        let background = SlotSettings {
            total: (slots.total / 4).clamp(1, MAX_BACKGROUND_CALLS),
            per_workspace: 1,
            // A summary waits its turn rather than being skipped.
            queue_timeout: Duration::from_secs(60),
        };
        Self {
            slots: Slots::new(slots),
            background: Slots::new(background),
            usage: Usage::default(),
            meter,
            logs: Arc::default(),
        }
    }
}

/// One plugin bound to one workspace's settings for one hook.
pub struct PluginHook {
    plugin: Arc<LoadedPlugin>,
    tenant_id: String,
    limits: Limits,
    config: Vec<(String, String)>,
    gate: Arc<Gate>,
    /// Where a local run keeps each call's costs (the server's calls go to
    /// the usage figures instead).
    observed: Option<Arc<std::sync::Mutex<Option<CallCost>>>>,
    /// The hosts its calls may reach, if any.
    outbound: Option<Grant>,
}

/// What one call cost, as the local runner reports it.
#[derive(Debug, Clone, Copy)]
pub struct CallCost {
    /// `None` after a trap (the count is not reliable then).
    pub fuel: Option<u64>,
    pub wall: Duration,
    pub peak_memory_bytes: usize,
}

impl PluginHook {
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        tenant_id: String,
        limits: Limits,
        config: Vec<(String, String)>,
        gate: Arc<Gate>,
    ) -> Self {
        Self {
            plugin,
            tenant_id,
            limits,
            config,
            gate,
            observed: None,
            outbound: None,
        }
    }

    /// Lets its calls make requests to the grant's hosts.
    pub fn with_outbound(mut self, grant: Option<Grant>) -> Self {
        self.outbound = grant;
        self
    }

    /// Keeps the cost of this hook's last call, for [`PluginHook::take_last_cost`].
    pub fn observed(mut self) -> Self {
        self.observed = Some(Default::default());
        self
    }

    /// Whether the plugin exports `hook`.
    pub fn exports(&self, hook: HookKind) -> bool {
        self.plugin.exports(hook)
    }

    /// The plugin's name, as faults and logs show it.
    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }

    /// What the last call cost since this was last asked (observed hooks
    /// only; none when the call was refused before it ran).
    pub fn take_last_cost(&self) -> Option<CallCost> {
        self.observed.as_ref().and_then(|o| o.lock().unwrap().take())
    }

    fn settings(&self) -> CallSettings {
        CallSettings {
            tenant_id: self.tenant_id.clone(),
            limits: self.limits,
            config: self.config.clone(),
            outbound: self.outbound.clone(),
        }
    }

    fn fault(&self, hook: HookKind, kind: FaultKind, reason: impl Into<String>) -> HookFault {
        HookFault {
            hook,
            plugin: self.plugin.name.clone(),
            kind,
            reason: reason.into(),
        }
    }

    /// Waits for a slot of the workspace's, runs the call on the plugin
    /// runtime, records what it cost, and checks the output against the
    /// general cap. The call holds its slot until it ends, even if the
    /// request that wanted it is gone.
    async fn call(&self, input: HookInput) -> Result<HookOutput, HookFault> {
        let hook = input.hook();
        let chat_id = input.chat().chat_id.clone();
        let mut log = Vec::new();
        let mut record = CallRecord {
            hook,
            plugin: self.plugin.key.clone(),
            plugin_name: self.plugin.name.clone(),
            fuel: None,
            wall: Duration::ZERO,
            waited: Duration::ZERO,
            fault: None,
        };
        let slots = match hook {
            HookKind::Summary => &self.gate.background,
            _ => &self.gate.slots,
        };
        let outcome = match slots.acquire(&self.tenant_id).await {
            Err(timeout) => {
                record.waited = timeout.waited;
                Err(self.fault(
                    hook,
                    FaultKind::Queue,
                    format!(
                        "it waited {:.0} ms for a plugin slot and was not run (a workspace runs at most {} plugin \
                         calls at once)",
                        timeout.waited.as_secs_f64() * 1000.0,
                        timeout.per_workspace
                    ),
                ))
            }
            Ok(slot) => {
                record.waited = slot.waited;
                let (plugin, settings) = (self.plugin.clone(), self.settings());
                let mut call = Box::pin(async move {
                    let finished = plugin.run(&settings, input).await;
                    drop(slot);
                    finished
                });
                // Most calls end within their first slice (tens of
                // microseconds): run that slice here, and hand the call to
                // the plugin runtime only when it yields (after about a
                // millisecond of work, or to wait on the host). A hop to
                // another thread costs more than a whole short call.
                let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
                let finished = match first {
                    Poll::Ready(finished) => Ok(finished),
                    Poll::Pending => engine::runtime().spawn(call).await,
                };
                match finished {
                    Ok(mut finished) => {
                        log = std::mem::take(&mut finished.log);
                        record.fuel = finished.fuel;
                        record.wall = finished.wall;
                        if let Some(observed) = &self.observed {
                            *observed.lock().unwrap() = Some(CallCost {
                                fuel: finished.fuel,
                                wall: finished.wall,
                                peak_memory_bytes: finished.peak_memory_bytes,
                            });
                        }
                        finished.output.map_err(|e| self.fault(hook, e.kind, e.reason))
                    }
                    Err(e) => Err(self.fault(hook, FaultKind::Trap, format!("the call failed on the host: {e}"))),
                }
            }
        };
        let outcome = outcome.and_then(|out| {
            let text = match &out {
                HookOutput::Text(t) | HookOutput::Summary(Some(t)) => t.as_str(),
                HookOutput::Summary(None) | HookOutput::Fields(_) => "",
            };
            if text.len() > limits::MAX_OUTPUT_BYTES {
                return Err(self.fault(
                    hook,
                    FaultKind::Output,
                    format!(
                        "it returned {} bytes, over the {} MiB output limit",
                        text.len(),
                        limits::MAX_OUTPUT_BYTES >> 20
                    ),
                ));
            }
            Ok(out)
        });
        record.fault = outcome.as_ref().err().map(|f| f.kind);
        self.log_call(&chat_id, log, &record, outcome.as_ref().err());
        self.gate.usage.record(&self.tenant_id, &record);
        self.gate.meter.count(&self.tenant_id, |u| {
            u.plugin_calls += 1;
            u.plugin_fuel += i64::try_from(record.fuel.unwrap_or(0)).unwrap_or(i64::MAX);
        });
        outcome
    }

    /// Hands the call's lines and its outcome to the workspace's plugin log:
    /// every call of the workspace's own code (an upload, a JavaScript
    /// rule), and of a built-in one when it wrote or failed.
    fn log_call(
        &self,
        chat_id: &str,
        lines: Vec<(tracing::Level, String)>,
        record: &CallRecord,
        fault: Option<&HookFault>,
    ) {
        // A built-in default rule that said nothing and did not fail is no
        // news: a workspace on the defaults writes no log at all.
        let own_code = is_uploaded_plugin_ref(&self.plugin.key) || self.plugin.key == super::javascript::NAME;
        if self.tenant_id.is_empty() || (!own_code && lines.is_empty() && fault.is_none()) {
            return;
        }
        let now = chrono::Utc::now();
        let line = |level: &str, message: String| NewLogLine {
            tenant_id: self.tenant_id.clone(),
            at: now,
            plugin: self.plugin.key.clone(),
            plugin_name: self.plugin.name.clone(),
            hook: record.hook.as_str().to_owned(),
            level: level.to_owned(),
            message,
            chat_id: (!chat_id.is_empty()).then(|| chat_id.to_owned()),
            outcome: None,
            fuel: None,
            elapsed_ms: None,
        };
        let mut out: Vec<NewLogLine> = lines
            .into_iter()
            .map(|(level, text)| line(&level.as_str().to_ascii_lowercase(), text))
            .collect();
        let mut call = line(
            "call",
            match fault {
                None => "ok".to_owned(),
                Some(f) => log_text(&f.reason).into_owned(),
            },
        );
        call.outcome = Some(fault.map_or("ok", |f| f.kind.as_str()).to_owned());
        call.fuel = record.fuel.and_then(|f| i64::try_from(f).ok());
        call.elapsed_ms = Some(record.wall.as_secs_f64() * 1000.0);
        out.push(call);
        self.gate.logs.push(out);
    }

    fn check_input(&self, hook: HookKind, chat: &HookChat, whole: bool) -> Result<(), HookFault> {
        let size = input_bytes(chat, whole);
        if size > limits::MAX_INPUT_BYTES {
            return Err(self.fault(
                hook,
                FaultKind::Input,
                format!(
                    "the chat is {size} bytes, over the {} MiB a plugin may be given",
                    limits::MAX_INPUT_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    fn text(&self, hook: HookKind, out: HookOutput) -> Result<String, HookFault> {
        match out {
            HookOutput::Text(t) => Ok(t),
            _ => Err(self.fault(hook, FaultKind::Output, "it answered for another hook")),
        }
    }

    async fn run_subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        let hook = HookKind::Subject;
        self.check_input(hook, chat, false)?;
        let out = self.call(HookInput::Subject(Arc::new(chat.clone()))).await?;
        let out = self.text(hook, out)?;
        validate::subject(&out).map_err(|r| self.fault(hook, FaultKind::Output, r))
    }

    async fn run_transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        let hook = HookKind::Transcript;
        self.check_input(hook, chat, true)?;
        let out = self.call(HookInput::Transcript(Arc::new(chat.clone()))).await?;
        let out = self.text(hook, out)?;
        validate::transcript(out).map_err(|r| self.fault(hook, FaultKind::Output, r))
    }

    async fn run_assignment(
        &self,
        chat: &HookChat,
        agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault> {
        let hook = HookKind::Assignment;
        self.check_input(hook, chat, false)?;
        let input = HookInput::Assignment {
            chat: Arc::new(chat.clone()),
            agent: agent.clone(),
            candidates: candidates.to_vec(),
        };
        let out = self.call(input).await?;
        let out = self.text(hook, out)?;
        validate::assignee(&out, candidates)
            .map(|c| c.id.clone())
            .map_err(|r| self.fault(hook, FaultKind::Output, r))
    }

    async fn run_summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        let hook = HookKind::Summary;
        self.check_input(hook, chat, true)?;
        let out = match self.call(HookInput::Summary(Arc::new(chat.clone()))).await? {
            HookOutput::Summary(s) => s,
            _ => return Err(self.fault(hook, FaultKind::Output, "it answered for another hook")),
        };
        validate::summary(out).map_err(|r| self.fault(hook, FaultKind::Output, r))
    }

    async fn run_fields(&self, chat: &HookChat) -> Result<TicketFields, HookFault> {
        let hook = HookKind::Fields;
        self.check_input(hook, chat, true)?;
        let out = match self.call(HookInput::Fields(Arc::new(chat.clone()))).await? {
            HookOutput::Fields(f) => f,
            _ => return Err(self.fault(hook, FaultKind::Output, "it answered for another hook")),
        };
        validate::fields(out).map_err(|r| self.fault(hook, FaultKind::Output, r))
    }
}

// A plugin on its own, without a policy (the local runner, benchmarks).
#[async_trait::async_trait]
impl AssignmentHook for PluginHook {
    fn name(&self) -> &str {
        &self.plugin.name
    }
    async fn assignee(
        &self,
        chat: &HookChat,
        agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault> {
        self.run_assignment(chat, agent, candidates).await
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
    /// The plugin is the hook's built-in default, which runs the same rule
    /// (the `threadline-rules` crate) as its native fallback.
    pub default_plugin: bool,
    pub faults: FaultLog,
    pub tenant_id: String,
    pub chat_id: String,
}

impl Guarded {
    /// Runs the plugin and settles its outcome by the failure policy: its
    /// answer, or (recording the fault) the native rule's or the fault
    /// itself.
    async fn settle<R, P, N>(&self, plugin: P, native: N) -> Result<R, HookFault>
    where
        P: Future<Output = Result<R, HookFault>>,
        N: Future<Output = Result<R, HookFault>>,
    {
        let fault = match plugin.await {
            Ok(r) => {
                self.faults.receipt(self.receipt("ok", None));
                return Ok(r);
            }
            Err(f) => f,
        };
        if self.policy == Policy::Fallback {
            self.faults
                .receipt(self.receipt("fell_back", Some(fault.reason.clone())));
        }
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
            Policy::Fallback => native.await,
            Policy::Reject => Err(fault),
        }
    }

    /// What ran for this hook, with the cost of its last call.
    fn receipt(&self, outcome: &str, reason: Option<String>) -> Receipt {
        let (plugin, name, version, sha256, cost) = match &self.primary {
            Ok(p) => (
                p.plugin.key.clone(),
                p.plugin.name.clone(),
                p.plugin.version.clone(),
                Some(p.plugin.sha256.clone()).filter(|s| !s.is_empty()),
                p.take_last_cost(),
            ),
            Err(f) => (f.plugin.clone(), f.plugin.clone(), None, None, None),
        };
        Receipt {
            hook: self.hook.as_str().to_owned(),
            plugin,
            plugin_name: name,
            version,
            sha256,
            outcome: outcome.to_owned(),
            reason,
            fuel: cost.and_then(|c| c.fuel),
            elapsed_ms: cost.map(|c| c.wall.as_secs_f64() * 1000.0),
            pipeline_version: None,
            pipeline: None,
        }
    }

    fn plugin(&self) -> Result<&PluginHook, HookFault> {
        self.primary.as_ref().map_err(Clone::clone)
    }

    fn plugin_name(&self) -> &str {
        match &self.primary {
            Ok(p) => &p.plugin.name,
            Err(f) => &f.plugin,
        }
    }
}

#[async_trait::async_trait]
impl AssignmentHook for Guarded {
    fn name(&self) -> &str {
        self.plugin_name()
    }
    /// The default plugin reads candidates exactly when its native twin,
    /// with the same settings, does; anyone else's plugin may read them all.
    fn needs_candidates(&self) -> bool {
        !self.default_plugin || self.native.assignment.needs_candidates()
    }
    async fn assignee(
        &self,
        chat: &HookChat,
        agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault> {
        let plugin = async { self.plugin()?.run_assignment(chat, agent, candidates).await };
        self.settle(plugin, self.native.assignment.assignee(chat, agent, candidates))
            .await
    }
}

/// The hooks that take the chat alone, implemented alike for a plugin on
/// its own (the local runner, benchmarks: no policy) and for a guarded one
/// (its fault settled by the policy, the native rule as the fallback).
macro_rules! chat_hooks {
    ($($hook:ident :: $method:ident -> $out:ty = $run:ident, $native:ident;)+) => { $(
        #[async_trait::async_trait]
        impl $hook for PluginHook {
            fn name(&self) -> &str {
                &self.plugin.name
            }
            async fn $method(&self, chat: &HookChat) -> Result<$out, HookFault> {
                self.$run(chat).await
            }
        }

        #[async_trait::async_trait]
        impl $hook for Guarded {
            fn name(&self) -> &str {
                self.plugin_name()
            }
            async fn $method(&self, chat: &HookChat) -> Result<$out, HookFault> {
                let plugin = async { self.plugin()?.$run(chat).await };
                self.settle(plugin, self.native.$native.$method(chat)).await
            }
        }
    )+ };
}

chat_hooks! {
    SubjectHook::subject -> String = run_subject, subject;
    TranscriptHook::transcript -> String = run_transcript, transcript;
    SummaryHook::summary -> Option<String> = run_summary, summary;
    FieldsHook::fields -> TicketFields = run_fields, fields;
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
