//! The hook boundary of the conversion pipeline.
//!
//! Each step a workspace may customise is one trait. The built-in rules
//! implement them natively here; WebAssembly plugins implement the same traits
//! in the plugin host. Hooks are async (a plugin call waits for a slot and
//! runs on the plugin runtime) and pure over their input: they get a
//! [`HookChat`] (never an internal note, by construction) and return a
//! value the pipeline validates before anything is written. The types they
//! exchange live in `domain::hooks`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, HookFault, Receipt, TicketFields};
use crate::domain::log_text;
use crate::domain::rules::{
    AssignOptions, SubjectOptions, SummaryOptions, TranscriptOptions, assignee_of, subject_of, summary_of,
    transcript_of,
};
use crate::store::{Arm, NewFault, Store, StoreError, Tenant};

#[async_trait::async_trait]
pub trait SubjectHook: Send + Sync {
    /// Names the implementation in faults and logs.
    fn name(&self) -> &str;
    /// The default subject of the ticket (an operator-typed one wins over it).
    async fn subject(&self, chat: &HookChat) -> Result<String, HookFault>;
}

#[async_trait::async_trait]
pub trait TranscriptHook: Send + Sync {
    fn name(&self) -> &str;
    /// The ticket's description.
    async fn transcript(&self, chat: &HookChat) -> Result<String, HookFault>;
}

#[async_trait::async_trait]
pub trait AssignmentHook: Send + Sync {
    fn name(&self) -> &str;
    /// Whether `assignee` reads `candidates` beyond the converting agent.
    /// When it does not, the caller may pass the converting agent alone and
    /// spare reading the workspace's whole team.
    fn needs_candidates(&self) -> bool {
        true
    }
    /// The id of the agent who gets the ticket; one of `candidates`.
    async fn assignee(
        &self,
        chat: &HookChat,
        converting_agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault>;
}

#[async_trait::async_trait]
pub trait SummaryHook: Send + Sync {
    fn name(&self) -> &str;
    /// A summary of the chat at close, or `None` when there is nothing to say.
    async fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault>;
}

#[async_trait::async_trait]
pub trait FieldsHook: Send + Sync {
    fn name(&self) -> &str;
    /// The new ticket's priority, tags and custom fields.
    async fn fields(&self, chat: &HookChat) -> Result<TicketFields, HookFault>;
}

/// Where a conversion's hooks come from. The plugin host implements it
/// with each workspace's plugins. The pipeline knows nothing else of
/// plugins.
#[async_trait::async_trait]
pub trait HookProvider: Send + Sync {
    /// The hooks for one conversion (or close) of `tenant`'s chat, and the
    /// log their faults go to. `tenant` is freshly read.
    async fn hooks_for(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), StoreError>;
}

/// Faults of one conversion, collected while its hooks run (synchronously,
/// off the async runtime) and written to the database afterwards; and the
/// receipts of its hooks (what ran, how it went), kept with the ticket.
#[derive(Clone, Default)]
pub struct FaultLog {
    faults: Arc<Mutex<Vec<NewFault>>>,
    receipts: Arc<Mutex<Vec<Receipt>>>,
    /// Which pipeline the hooks are of, when a plugin host chose it.
    run: Option<PipelineRun>,
    /// Whether any hook faulted (recorded or not yet).
    faulted: Arc<AtomicBool>,
}

/// Which pipeline one conversion (or close) runs: the workspace's version,
/// and during a rollout which of its two pipelines it is.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    pub version: i64,
    pub arm: Arm,
    /// The rollout's id, and the current pipeline as the history stores it
    /// (what an automatic rollback records).
    pub rollout: Option<(String, Arc<String>)>,
}

impl FaultLog {
    pub fn for_run(run: PipelineRun) -> Self {
        Self {
            run: Some(run),
            ..Self::default()
        }
    }

    pub fn run(&self) -> Option<&PipelineRun> {
        self.run.as_ref()
    }

    pub fn push(&self, fault: NewFault) {
        self.faulted.store(true, Ordering::Relaxed);
        self.faults.lock().unwrap().push(fault);
    }

    /// Counts this run for the workspace's rollout, if it ran under one
    /// (conversions and summaries, not previews): the candidate's faults
    /// may give the rollout up, which is logged here and recorded in the
    /// pipeline's history. A failure to count never fails the run.
    pub async fn count_run(&self, store: &Store, tenant_id: &str) {
        let Some(PipelineRun {
            arm,
            rollout: Some((rollout_id, current)),
            ..
        }) = &self.run
        else {
            return;
        };
        let faulted = self.faulted.load(Ordering::Relaxed);
        let current = current.clone();
        match store
            .count_rollout_run(tenant_id, rollout_id, *arm, faulted, move || {
                current.as_str().to_owned()
            })
            .await
        {
            Ok(Some(abandoned)) => tracing::warn!(tenant = tenant_id, rollout = %rollout_id,
                version = abandoned.version, reason = %abandoned.reason, "rollout abandoned by itself"),
            Ok(None) => {}
            Err(e) => tracing::error!(tenant = tenant_id, error = %e, "cannot count a rollout's run"),
        }
    }

    pub fn take(&self) -> Vec<NewFault> {
        std::mem::take(&mut *self.faults.lock().unwrap())
    }

    /// Notes what ran for a hook; a later note of the same hook replaces
    /// it (a conversion asks each hook once, a preview may ask again).
    pub fn receipt(&self, receipt: Receipt) {
        let mut receipts = self.receipts.lock().unwrap();
        receipts.retain(|r| r.hook != receipt.hook);
        receipts.push(receipt);
    }

    pub fn receipts(&self) -> Vec<Receipt> {
        self.receipts.lock().unwrap().clone()
    }

    /// Logs and stores the faults collected so far; a failure to store
    /// them is logged and never fails the conversion.
    pub async fn record(&self, store: &Store) {
        let faults = self.take();
        if faults.is_empty() {
            return;
        }
        for f in &faults {
            // The reason and the name are the workspace's words.
            let (plugin, reason) = (log_text(&f.plugin_name), log_text(&f.reason));
            tracing::warn!(tenant = %f.tenant_id, hook = %f.hook, %plugin, outcome = %f.outcome, %reason,
                "plugin fault");
        }
        if let Err(e) = store.record_faults(faults).await {
            tracing::error!(error = %e, "cannot record plugin faults");
        }
    }
}

/// The hooks one conversion runs.
#[derive(Clone)]
pub struct Hooks {
    pub subject: Arc<dyn SubjectHook>,
    pub transcript: Arc<dyn TranscriptHook>,
    pub assignment: Arc<dyn AssignmentHook>,
    pub summary: Arc<dyn SummaryHook>,
    pub fields: Arc<dyn FieldsHook>,
}

impl Hooks {
    /// The built-in rules of the product spec.
    pub fn builtin() -> Self {
        Self::builtin_with(BuiltinOptions::default())
    }

    /// The built-in rules with a workspace's settings for them.
    pub fn builtin_with(options: BuiltinOptions) -> Self {
        Self {
            subject: Arc::new(BuiltinSubject(options.subject)),
            transcript: Arc::new(BuiltinTranscript(options.transcript)),
            assignment: Arc::new(BuiltinAssign(options.assignment)),
            summary: Arc::new(BuiltinSummary(options.summary)),
            fields: Arc::new(NoFields),
        }
    }
}

/// A workspace's settings of the built-in rules, for the hooks that run
/// them (as the default plugin, whose native fallback gets the same).
#[derive(Debug, Clone, Default)]
pub struct BuiltinOptions {
    pub subject: SubjectOptions,
    pub transcript: TranscriptOptions,
    pub assignment: AssignOptions,
    pub summary: SummaryOptions,
}

impl BuiltinOptions {
    /// Settings that do not read fall back to the defaults here: the
    /// fallback must answer, and `PUT /pipeline` refuses them anyway.
    pub fn from_configs<'a>(
        subject: impl IntoIterator<Item = (&'a str, &'a str)>,
        transcript: impl IntoIterator<Item = (&'a str, &'a str)>,
        assignment: impl IntoIterator<Item = (&'a str, &'a str)>,
        summary: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        Self {
            subject: SubjectOptions::from_config(subject).unwrap_or_default(),
            transcript: TranscriptOptions::from_config(transcript).unwrap_or_default(),
            assignment: AssignOptions::from_config(assignment).unwrap_or_default(),
            summary: SummaryOptions::from_config(summary).unwrap_or_default(),
        }
    }
}

/// Chat subject, else "Chat with <visitor name>"; or the workspace's
/// template.
pub struct BuiltinSubject(pub SubjectOptions);

#[async_trait::async_trait]
impl SubjectHook for BuiltinSubject {
    fn name(&self) -> &str {
        "builtin:subject-default"
    }
    async fn subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        Ok(subject_of(chat, &self.0))
    }
}

/// Plain text, one line a message, with timestamps and speaker names; or
/// as the workspace's settings say.
pub struct BuiltinTranscript(pub TranscriptOptions);

#[async_trait::async_trait]
impl TranscriptHook for BuiltinTranscript {
    fn name(&self) -> &str {
        "builtin:transcript-plain"
    }
    async fn transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        Ok(transcript_of(chat, &self.0))
    }
}

/// The agent who converts gets the ticket; or the workspace's strategy.
pub struct BuiltinAssign(pub AssignOptions);

#[async_trait::async_trait]
impl AssignmentHook for BuiltinAssign {
    fn name(&self) -> &str {
        "builtin:assign-converting-agent"
    }
    fn needs_candidates(&self) -> bool {
        self.0.reads_candidates()
    }
    async fn assignee(
        &self,
        chat: &HookChat,
        converting_agent: &HookAgent,
        candidates: &[HookCandidate],
    ) -> Result<String, HookFault> {
        Ok(assignee_of(chat, converting_agent, candidates, &self.0))
    }
}

/// First question and last reply, quoted.
pub struct BuiltinSummary(pub SummaryOptions);

#[async_trait::async_trait]
impl SummaryHook for BuiltinSummary {
    fn name(&self) -> &str {
        "builtin:summary-extractive"
    }
    async fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        Ok(summary_of(chat, &self.0))
    }
}

/// Sets no field: the ticket keeps the defaults (normal priority, no tags,
/// no custom fields).
pub struct NoFields;

#[async_trait::async_trait]
impl FieldsHook for NoFields {
    fn name(&self) -> &str {
        "builtin:fields-none"
    }
    async fn fields(&self, _chat: &HookChat) -> Result<TicketFields, HookFault> {
        Ok(TicketFields::default())
    }
}
