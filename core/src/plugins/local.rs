//! Plugins outside the server: the local runner (`threadline plugin run`)
//! and benchmarks. The same host, limits and output checks as production,
//! fed from a chat described in JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::adapter::{Gate, PluginHook};
use super::compiler::compile_in_process;
use super::error::PluginError;
use super::limits::{self, Limits};
use super::loaded::LoadedPlugin;
use super::slots::SlotSettings;
use crate::conversion::hooks::{AssignmentHook, Hooks, SubjectHook, SummaryHook, TranscriptHook};
use crate::conversion::utc_offset_minutes;
use crate::domain::MessageKind;
use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, HookFault, HookKind};
use crate::domain::transcript::PublicMessage;

/// Loads a component as a standalone hook implementation, compiled in this
/// process (the local runner runs the author's own code).
pub fn load(wasm: &[u8], name: &str, config: Vec<(String, String)>, limits: Limits) -> Result<PluginHook, PluginError> {
    limits.check().map_err(|e| PluginError::load(e.message))?;
    let component = compile_in_process(wasm).map_err(|e| PluginError::load(e.to_string()))?;
    let plugin = LoadedPlugin::prepare(name.to_owned(), name.to_owned(), &component)?;
    Ok(PluginHook::new(
        Arc::new(plugin),
        "local".into(),
        limits,
        config,
        local_gate(),
    ))
}

/// Slots for local runs: as many as the engine has, no queueing to speak of.
fn local_gate() -> Arc<Gate> {
    static GATE: OnceLock<Arc<Gate>> = OnceLock::new();
    GATE.get_or_init(|| {
        let total = limits::MAX_CONCURRENT_CALLS as usize;
        Arc::new(Gate::new(SlotSettings {
            total,
            per_workspace: total,
            queue_timeout: Duration::from_secs(60),
        }))
    })
    .clone()
}

/// The hooks `plugin` exports.
pub fn exports(wasm: &[u8]) -> Result<Vec<HookKind>, PluginError> {
    let component = compile_in_process(wasm).map_err(|e| PluginError::load(e.to_string()))?;
    Ok(LoadedPlugin::prepare(String::new(), String::new(), &component)?.hooks())
}

/// A chat as the local runner reads it from JSON.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatFile {
    #[serde(default = "default_id")]
    pub id: String,
    pub subject: Option<String>,
    pub visitor: VisitorFile,
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default = "default_zone")]
    pub time_zone: String,
    #[serde(default)]
    pub messages: Vec<MessageFile>,
    /// Who converts (the assignment hook's `converting-agent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converting_agent: Option<AgentFile>,
    /// The workspace's agents (the assignment hook's `candidates`);
    /// by default the converting agent alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<CandidateFile>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorFile {
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFile {
    /// `visitor`, `agent`, `system` or `internal_note` (dropped, as the
    /// server drops them, before the plugin sees the chat).
    pub author: String,
    pub author_name: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateFile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub online: bool,
    #[serde(default)]
    pub open_tickets: u32,
    #[serde(default)]
    pub skills: Vec<String>,
}

fn default_id() -> String {
    "local-chat".into()
}

fn default_zone() -> String {
    "UTC".into()
}

/// What the hooks get from a chat file.
pub struct Input {
    pub chat: HookChat,
    pub agent: HookAgent,
    pub candidates: Vec<HookCandidate>,
}

impl ChatFile {
    /// What `hook` gets (or would get) for a chat of the server, in this
    /// format: an author replays production with `plugin run --chat`.
    /// Internal notes are not in `chat`, so they are not here either; the
    /// agents come along only for the assignment hook, which gets them.
    pub fn exported(hook: HookKind, chat: &HookChat, agent: &HookAgent, candidates: &[HookCandidate]) -> Self {
        let assignment = hook == HookKind::Assignment;
        Self {
            id: chat.chat_id.clone(),
            subject: chat.subject.clone(),
            visitor: VisitorFile {
                name: chat.visitor_name.clone(),
                email: chat.visitor_email.clone(),
            },
            started_at: Some(chat.started_at),
            time_zone: chat.time_zone.clone(),
            messages: chat
                .messages
                .iter()
                .map(|m| MessageFile {
                    author: m.kind().as_str().to_owned(),
                    author_name: m.author_name.clone(),
                    body: m.body.clone(),
                    sent_at: m.created_at,
                })
                .collect(),
            converting_agent: assignment.then(|| AgentFile {
                id: agent.id.clone(),
                name: agent.name.clone(),
            }),
            candidates: assignment.then(|| {
                candidates
                    .iter()
                    .map(|c| CandidateFile {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        online: c.online,
                        open_tickets: c.open_tickets,
                        skills: c.skills.clone(),
                    })
                    .collect()
            }),
        }
    }

    pub fn into_input(self) -> Result<Input, String> {
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!("time_zone {:?} is not an IANA time zone name", self.time_zone));
        }
        let mut messages = Vec::new();
        for m in self.messages {
            let kind: MessageKind = m
                .author
                .parse()
                .map_err(|_| format!("unknown author {:?}: visitor, agent, system or internal_note", m.author))?;
            messages.extend(PublicMessage::new(kind, m.author_name, m.body, m.sent_at));
        }
        let started_at = self
            .started_at
            .or_else(|| messages.first().map(|m| m.created_at))
            .unwrap_or_else(Utc::now);
        let agent = self.converting_agent.unwrap_or(AgentFile {
            id: "agent-1".into(),
            name: "Local Agent".into(),
        });
        let candidates = match self.candidates {
            Some(list) => list
                .into_iter()
                .map(|c| HookCandidate {
                    id: c.id,
                    name: c.name,
                    online: c.online,
                    open_tickets: c.open_tickets,
                    skills: c.skills,
                })
                .collect(),
            None => vec![HookCandidate {
                id: agent.id.clone(),
                name: agent.name.clone(),
                online: true,
                open_tickets: 0,
                skills: Vec::new(),
            }],
        };
        Ok(Input {
            chat: HookChat {
                chat_id: self.id,
                subject: self.subject,
                visitor_name: self.visitor.name,
                visitor_email: self.visitor.email,
                started_at,
                messages,
                utc_offset_minutes: utc_offset_minutes(&self.time_zone, started_at),
                time_zone: self.time_zone,
            },
            agent: HookAgent {
                id: agent.id,
                name: agent.name,
            },
            candidates,
        })
    }
}

/// Runs one hook of `plugin` on `input`, next to what the built-in rule
/// gives, as JSON.
pub async fn run(plugin: &PluginHook, hook: HookKind, input: &Input) -> Result<Value, HookFault> {
    let native = Hooks::builtin();
    let (chat, agent, candidates) = (&input.chat, &input.agent, &input.candidates[..]);
    let started = std::time::Instant::now();
    let (output, builtin) = match hook {
        HookKind::Subject => (
            json!(plugin.subject(chat).await?),
            json!(native.subject.subject(chat).await?),
        ),
        HookKind::Transcript => (
            json!(plugin.transcript(chat).await?),
            json!(native.transcript.transcript(chat).await?),
        ),
        HookKind::Assignment => (
            json!(plugin.assignee(chat, agent, candidates).await?),
            json!(native.assignment.assignee(chat, agent, candidates).await?),
        ),
        HookKind::Summary => (
            json!(plugin.summary(chat).await?),
            json!(native.summary.summary(chat).await?),
        ),
    };
    Ok(json!({
        "hook": hook.as_str(),
        "output": output,
        "builtin_output": builtin,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
    }))
}
