//! What the conversion's hooks exchange: which step a hook is, what it may
//! know about the chat, the agents it may pick, how it can fail, and the
//! checks every answer passes. Pure: the pipeline (`conversion`), the
//! plugin host (`plugins`) and the store all speak these types, and none of
//! them needs another to do so.

use chrono::{DateTime, Utc};

use super::transcript::PublicMessage;

/// The steps of the pipeline a workspace may customise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookKind {
    Subject,
    Transcript,
    Assignment,
    Summary,
    /// The new ticket's priority, tags and custom fields (contract 0.2.0).
    Fields,
}

impl HookKind {
    pub const ALL: [HookKind; 5] = [
        Self::Subject,
        Self::Transcript,
        Self::Assignment,
        Self::Summary,
        Self::Fields,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Transcript => "transcript",
            Self::Assignment => "assignment",
            Self::Summary => "summary",
            Self::Fields => "fields",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The default plugin of this hook, embedded in the server.
    pub fn default_plugin(self) -> &'static str {
        match self {
            Self::Subject => "subject-default",
            Self::Transcript => "transcript-plain",
            Self::Assignment => "assign-converting-agent",
            Self::Summary => "summary-extractive",
            Self::Fields => "fields-none",
        }
    }
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a hook may know about the chat being converted.
#[derive(Debug, Clone)]
pub struct HookChat {
    pub chat_id: String,
    pub subject: Option<String>,
    pub visitor_name: String,
    pub visitor_email: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Oldest first, internal notes removed. Shared, so that handing the
    /// chat to a plugin call copies no message.
    pub messages: std::sync::Arc<[PublicMessage]>,
    /// The workspace's IANA time zone and its offset when the chat started.
    pub time_zone: String,
    pub utc_offset_minutes: i32,
}

/// An agent, as hooks see one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookAgent {
    pub id: String,
    pub name: String,
}

/// An agent of the workspace who can take the ticket, with what assignment
/// rules weigh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCandidate {
    pub id: String,
    pub name: String,
    /// Used the API in the last five minutes.
    pub online: bool,
    /// Assigned tickets that are not solved or closed.
    pub open_tickets: u32,
    pub skills: Vec<String>,
    /// When they were last given a ticket.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What the fields hook sets on a new ticket beyond subject, description
/// and assignee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketFields {
    /// `None` keeps the default (normal).
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub custom: Vec<(String, String)>,
}

/// What ran for one hook of a conversion, kept with the ticket.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub hook: String,
    /// As the pipeline names it: a built-in's name or an upload's id.
    pub plugin: String,
    pub plugin_name: String,
    /// What the plugin's `describe` gave as its version, if it has one.
    pub version: Option<String>,
    /// SHA-256 of the component's bytes (none for a native rule).
    pub sha256: Option<String>,
    /// `ok`, `fell_back` (the plugin failed; the built-in rule answered),
    /// `native` (the hook's default is no plugin) or `typed` (the agent
    /// typed the subject).
    pub outcome: String,
    /// Why it fell back.
    pub reason: Option<String>,
    /// Fuel the plugin used, when it ran to its end.
    pub fuel: Option<u64>,
    pub elapsed_ms: Option<f64>,
    /// The workspace's pipeline version the conversion ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_version: Option<i64>,
    /// `current`, or `candidate` when a rollout sent the chat to its
    /// candidate pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
}

/// A hook that failed or answered something unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {hook} hook ({plugin}) failed: {reason}")]
pub struct HookFault {
    pub hook: HookKind,
    pub plugin: String,
    pub kind: FaultKind,
    pub reason: String,
}

/// What stopped a hook: the figures an operator sees per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// It used up its instruction budget.
    Fuel,
    /// It ran (or waited on the host) past its wall-clock deadline.
    Deadline,
    /// It tried to grow its memory past its limit.
    Memory,
    /// It trapped: a panic, an abort, a stack overflow, a bad access.
    Trap,
    /// It answered something the pipeline refuses (too long, not a
    /// candidate, not one line...).
    Output,
    /// It returned an error of its own.
    Error,
    /// No plugin slot came free in time (its workspace had too many calls
    /// running).
    Queue,
    /// It could not be loaded (not installed, does not export the hook).
    Load,
    /// The chat was too big to hand to a plugin.
    Input,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fuel => "fuel",
            Self::Deadline => "deadline",
            Self::Memory => "memory",
            Self::Trap => "trap",
            Self::Output => "output",
            Self::Error => "error",
            Self::Queue => "queue",
            Self::Load => "load",
            Self::Input => "input",
        }
    }
}

/// Checks of hook output, applied to every hook (plugins and the built-in
/// rules alike) before anything is written. Each returns the usable value or
/// the reason it is refused.
pub mod validate {
    use super::HookCandidate;
    use crate::domain::Subject;

    /// A transcript over this becomes a fault, not a ticket.
    pub const MAX_TRANSCRIPT_BYTES: usize = 1 << 20;
    pub const MAX_SUMMARY_CHARS: usize = 10_000;

    pub fn subject(raw: &str) -> Result<String, String> {
        Subject::parse("subject", raw)
            .map(Subject::into_string)
            .map_err(|e| format!("returned an unusable subject ({})", e.message))
    }

    pub fn transcript(raw: String) -> Result<String, String> {
        if raw.len() > MAX_TRANSCRIPT_BYTES {
            return Err(format!(
                "returned a transcript of {} bytes, over the 1 MiB limit",
                raw.len()
            ));
        }
        if raw.contains('\0') {
            return Err("returned a transcript with NUL characters".into());
        }
        Ok(raw)
    }

    pub fn assignee<'a>(id: &str, candidates: &'a [HookCandidate]) -> Result<&'a HookCandidate, String> {
        candidates.iter().find(|c| c.id == id).ok_or_else(|| {
            let shown: String = id.chars().take(64).collect();
            format!("named {shown:?}, who is not an agent of this workspace who can take tickets")
        })
    }

    /// Tags and custom fields a ticket may carry, and their sizes.
    pub const MAX_TAGS: usize = 20;
    pub const MAX_TAG_CHARS: usize = 40;
    pub const MAX_CUSTOM_FIELDS: usize = 20;
    pub const MAX_CUSTOM_VALUE_CHARS: usize = 500;

    /// A tag or a custom field's key: 1 to 40 letters, digits, `-`, `_`,
    /// `:` or `.`, lowercased.
    fn label(what: &str, raw: &str) -> Result<String, String> {
        let ok = !raw.is_empty()
            && raw.chars().count() <= MAX_TAG_CHARS
            && raw
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
        if !ok {
            let shown: String = raw.chars().take(64).collect();
            return Err(format!(
                "returned the {what} {shown:?} (1 to {MAX_TAG_CHARS} letters, digits, '-', '_', ':' or '.')"
            ));
        }
        Ok(raw.to_lowercase())
    }

    /// Lowercases tags and keys and drops repeated tags; a key given twice
    /// is refused, since which value was meant cannot be known.
    pub fn fields(raw: super::TicketFields) -> Result<super::TicketFields, String> {
        if raw.tags.len() > MAX_TAGS {
            return Err(format!("returned {} tags, over the {MAX_TAGS} allowed", raw.tags.len()));
        }
        if raw.custom.len() > MAX_CUSTOM_FIELDS {
            return Err(format!(
                "returned {} custom fields, over the {MAX_CUSTOM_FIELDS} allowed",
                raw.custom.len()
            ));
        }
        let mut tags: Vec<String> = Vec::with_capacity(raw.tags.len());
        for t in &raw.tags {
            let t = label("tag", t)?;
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let mut custom: Vec<(String, String)> = Vec::with_capacity(raw.custom.len());
        for (k, v) in raw.custom {
            let k = label("custom field key", &k)?;
            if custom.iter().any(|(seen, _)| *seen == k) {
                return Err(format!("returned the custom field {k:?} twice"));
            }
            if v.chars().count() > MAX_CUSTOM_VALUE_CHARS || v.chars().any(char::is_control) {
                return Err(format!(
                    "returned a value for {k:?} that is not one line of at most {MAX_CUSTOM_VALUE_CHARS} characters"
                ));
            }
            custom.push((k, v));
        }
        Ok(super::TicketFields {
            priority: raw.priority,
            tags,
            custom,
        })
    }

    pub fn summary(raw: Option<String>) -> Result<Option<String>, String> {
        match raw {
            Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => Err(format!(
                "returned a summary of {} characters, over the 10,000 limit",
                s.chars().count()
            )),
            Some(s) if s.contains('\0') => Err("returned a summary with NUL characters".into()),
            Some(s) if s.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    }
}
