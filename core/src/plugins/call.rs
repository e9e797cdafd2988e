//! What one hook call carries in and out, in the host's own terms. Each
//! contract version (`versions/`) turns these into its WIT values and back.

use std::sync::Arc;

use super::limits::Limits;
use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, HookKind, TicketFields};

/// What a hook is handed. Each contract version turns it into its own WIT
/// values (0.1.0 copies records in; 0.2.0 lends the chat as a resource).
pub enum HookInput {
    Subject(Arc<HookChat>),
    Transcript(Arc<HookChat>),
    Assignment {
        chat: Arc<HookChat>,
        agent: HookAgent,
        candidates: Vec<HookCandidate>,
    },
    Summary(Arc<HookChat>),
    Fields(Arc<HookChat>),
}

impl HookInput {
    pub fn hook(&self) -> HookKind {
        match self {
            Self::Subject(_) => HookKind::Subject,
            Self::Transcript(_) => HookKind::Transcript,
            Self::Assignment { .. } => HookKind::Assignment,
            Self::Summary(_) => HookKind::Summary,
            Self::Fields(_) => HookKind::Fields,
        }
    }

    pub fn chat(&self) -> &Arc<HookChat> {
        match self {
            Self::Subject(c) | Self::Transcript(c) | Self::Summary(c) | Self::Fields(c) => c,
            Self::Assignment { chat, .. } => chat,
        }
    }
}

/// What a hook answered: text (subject, transcript, assignee id), a
/// summary that may be absent, or ticket fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    Text(String),
    Summary(Option<String>),
    Fields(TicketFields),
}

/// What one call carries in: who it runs for, its limits, and the
/// workspace's settings for the plugin on this hook.
pub struct CallSettings {
    pub tenant_id: String,
    pub limits: Limits,
    pub config: Vec<(String, String)>,
    /// The hosts it may call, if any (contract 0.4.0).
    pub outbound: Option<super::outbound::Grant>,
}

/// An answer as the chat-file format writes it (a test's `expect`, the
/// local runner's and a shadow run's `output`): the text, the summary or
/// null, or `{priority, tags, custom}`.
impl serde::Serialize for HookOutput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Text(text) => s.serialize_str(text),
            Self::Summary(summary) => summary.serialize(s),
            Self::Fields(f) => {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("priority", &f.priority.map(|p| p.as_str()))?;
                map.serialize_entry("tags", &f.tags)?;
                let custom: std::collections::BTreeMap<&str, &str> =
                    f.custom.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                map.serialize_entry("custom", &custom)?;
                map.end()
            }
        }
    }
}
