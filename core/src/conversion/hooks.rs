//! The hook boundary of the conversion pipeline.
//!
//! Each step a workspace may customise is one trait. The built-in rules
//! implement them natively here; WebAssembly plugins implement the same traits
//! in the plugin host. Hooks are synchronous and pure over their input: they
//! get a [`HookChat`] (never an internal note, by construction) and return a
//! value the pipeline validates before anything is written.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::subject::default_subject;
use crate::domain::summary::extractive_summary;
use crate::domain::transcript::{PublicMessage, plain_transcript};

/// What a hook may know about the chat being converted.
#[derive(Debug, Clone)]
pub struct HookChat {
    pub chat_id: String,
    pub subject: Option<String>,
    pub visitor_name: String,
    pub visitor_email: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Oldest first, internal notes removed.
    pub messages: Vec<PublicMessage>,
}

/// An agent, as hooks see one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAgent {
    pub id: String,
    pub name: String,
}

/// A hook that failed or answered something unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {hook} hook ({plugin}) failed: {reason}")]
pub struct HookFault {
    pub hook: &'static str,
    pub plugin: String,
    pub reason: String,
}

pub trait SubjectHook: Send + Sync {
    /// Names the implementation in faults and logs.
    fn name(&self) -> &str;
    /// The default subject of the ticket (an operator-typed one wins over it).
    fn subject(&self, chat: &HookChat) -> Result<String, HookFault>;
}

pub trait TranscriptHook: Send + Sync {
    fn name(&self) -> &str;
    /// The ticket's description.
    fn transcript(&self, chat: &HookChat) -> Result<String, HookFault>;
}

pub trait AssignmentHook: Send + Sync {
    fn name(&self) -> &str;
    /// The id of the agent who gets the ticket; one of `candidates`.
    fn assignee(
        &self,
        chat: &HookChat,
        converting_agent: &HookAgent,
        candidates: &[HookAgent],
    ) -> Result<String, HookFault>;
}

pub trait SummaryHook: Send + Sync {
    fn name(&self) -> &str;
    /// A summary of the chat at close, or `None` when there is nothing to say.
    fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault>;
}

/// The hooks one conversion runs.
#[derive(Clone)]
pub struct Hooks {
    pub subject: Arc<dyn SubjectHook>,
    pub transcript: Arc<dyn TranscriptHook>,
    pub assignment: Arc<dyn AssignmentHook>,
    pub summary: Arc<dyn SummaryHook>,
}

impl Hooks {
    /// The built-in rules of the product spec.
    pub fn builtin() -> Self {
        Self {
            subject: Arc::new(BuiltinSubject),
            transcript: Arc::new(BuiltinTranscript),
            assignment: Arc::new(AssignConvertingAgent),
            summary: Arc::new(BuiltinSummary),
        }
    }
}

/// Chat subject, else "Chat with <visitor name>".
pub struct BuiltinSubject;

impl SubjectHook for BuiltinSubject {
    fn name(&self) -> &str {
        "builtin:subject-default"
    }
    fn subject(&self, chat: &HookChat) -> Result<String, HookFault> {
        Ok(default_subject(chat.subject.as_deref(), &chat.visitor_name))
    }
}

/// Plain text, one line a message, with timestamps and speaker names.
pub struct BuiltinTranscript;

impl TranscriptHook for BuiltinTranscript {
    fn name(&self) -> &str {
        "builtin:transcript-plain"
    }
    fn transcript(&self, chat: &HookChat) -> Result<String, HookFault> {
        Ok(plain_transcript(&chat.messages))
    }
}

/// The agent who converts gets the ticket.
pub struct AssignConvertingAgent;

impl AssignmentHook for AssignConvertingAgent {
    fn name(&self) -> &str {
        "builtin:assign-converting-agent"
    }
    fn assignee(
        &self,
        _chat: &HookChat,
        converting_agent: &HookAgent,
        _candidates: &[HookAgent],
    ) -> Result<String, HookFault> {
        Ok(converting_agent.id.clone())
    }
}

/// First question and last reply, quoted.
pub struct BuiltinSummary;

impl SummaryHook for BuiltinSummary {
    fn name(&self) -> &str {
        "builtin:summary-extractive"
    }
    fn summary(&self, chat: &HookChat) -> Result<Option<String>, HookFault> {
        Ok(extractive_summary(&chat.messages))
    }
}
