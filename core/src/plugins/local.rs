//! Plugins outside the server: the local runner (`threadline plugin run`)
//! and benchmarks. The same host, limits and output checks as production,
//! fed from a chat described in JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::adapter::{Gate, PluginHook};
use super::call::HookOutput;
use super::compiler::compile_in_process;
use super::error::PluginError;
use super::limits::{self, Limits};
use super::loaded::LoadedPlugin;
use super::slots::SlotSettings;
use super::trial::{Trial, TrialFault};
use crate::conversion::hooks::{AssignmentHook, FieldsHook, Hooks, SubjectHook, SummaryHook, TranscriptHook};
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
    Ok(PluginHook::new(Arc::new(plugin), "local".into(), limits, config, local_gate()).observed())
}

/// What a local run may call: the hosts the author names, over plain HTTP
/// or on loopback too (their own machine, their own mock); nothing without
/// them.
pub fn grant(hosts: &[String]) -> Result<Option<super::outbound::Grant>, String> {
    if hosts.is_empty() {
        return Ok(None);
    }
    super::outbound::check_allowed_hosts(hosts)?;
    Ok(Some(super::outbound::Grant {
        settings: Arc::new(super::outbound::OutboundSettings::new(true, hosts.to_vec())),
        allowed_hosts: hosts.into(),
    }))
}

/// The built-in JavaScript plugin running `source` for `hook`, as the
/// server runs it, after the check the server makes before saving a rule
/// (an error names the line and column). Its compiled code is kept in
/// `cache_dir`: pre-initialising and compiling it takes seconds, loading it
/// milliseconds.
pub async fn load_javascript(
    source: String,
    hook: HookKind,
    limits: Limits,
    cache_dir: Option<std::path::PathBuf>,
) -> Result<PluginHook, PluginError> {
    use super::javascript;
    limits.check().map_err(|e| PluginError::load(e.message))?;
    if source.len() > javascript::MAX_SOURCE_BYTES {
        return Err(PluginError::load(format!(
            "the rule is {} bytes; the limit is {} KiB",
            source.len(),
            javascript::MAX_SOURCE_BYTES >> 10
        )));
    }
    let plugin = super::builtin::load(javascript::NAME, cache_dir.map(super::cache::DiskCache::new), None).await?;
    if let Err(e) = javascript::check(&plugin, "local", hook, &source, limits).await? {
        return Err(PluginError::load(javascript::Refusal::from(e).located()));
    }
    let config = vec![(javascript::SOURCE.to_owned(), source)];
    Ok(PluginHook::new(plugin, "local".into(), limits, config, local_gate()).observed())
}

/// Slots for local runs: as many as the engine has, no queueing to speak of.
fn local_gate() -> Arc<Gate> {
    static GATE: OnceLock<Arc<Gate>> = OnceLock::new();
    GATE.get_or_init(|| {
        let total = limits::MAX_CONCURRENT_CALLS as usize;
        Arc::new(Gate::new(
            SlotSettings {
                total,
                per_workspace: total,
                queue_timeout: Duration::from_secs(60),
            },
            crate::store::Meter::default(),
        ))
    })
    .clone()
}

/// The hooks `plugin` exports, checked as an upload is (each with its
/// contract version's types), so an author hears of a refusal before the
/// server gives it.
pub async fn exports(wasm: &[u8]) -> Result<Vec<HookKind>, PluginError> {
    let component = compile_in_process(wasm).map_err(|e| PluginError::load(e.to_string()))?;
    let plugin = LoadedPlugin::prepare(String::new(), String::new(), &component)?;
    plugin.check_types().await?;
    Ok(plugin.hooks())
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
    /// What `plugin test` expects a hook to answer, by hook name (for
    /// example `{"subject": "Refund for order 4521"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<std::collections::BTreeMap<String, Value>>,
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
    /// When they were last given a ticket (round robin weighs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<DateTime<Utc>>,
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
    /// The chat file at `path`.
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a chat file", path.display()))
    }

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
                        last_assigned_at: c.last_assigned_at,
                    })
                    .collect()
            }),
            expect: None,
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
                    last_assigned_at: c.last_assigned_at,
                })
                .collect(),
            None => vec![HookCandidate {
                id: agent.id.clone(),
                name: agent.name.clone(),
                online: true,
                open_tickets: 0,
                skills: Vec::new(),
                last_assigned_at: None,
            }],
        };
        Ok(Input {
            chat: HookChat {
                chat_id: self.id,
                subject: self.subject,
                visitor_name: self.visitor.name,
                visitor_email: self.visitor.email,
                started_at,
                messages: messages.into(),
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

/// One hook's answer on `input`, from whichever implementation.
async fn answer(
    subject: &dyn SubjectHook,
    transcript: &dyn TranscriptHook,
    assignment: &dyn AssignmentHook,
    summary: &dyn SummaryHook,
    fields: &dyn FieldsHook,
    hook: HookKind,
    input: &Input,
) -> Result<HookOutput, HookFault> {
    let (chat, agent, candidates) = (&input.chat, &input.agent, &input.candidates[..]);
    Ok(match hook {
        HookKind::Subject => HookOutput::Text(subject.subject(chat).await?),
        HookKind::Transcript => HookOutput::Text(transcript.transcript(chat).await?),
        HookKind::Assignment => HookOutput::Text(assignment.assignee(chat, agent, candidates).await?),
        HookKind::Summary => HookOutput::Summary(summary.summary(chat).await?),
        HookKind::Fields => HookOutput::Fields(fields.fields(chat).await?),
    })
}

/// What the built-in rule answers for `hook` on `input`, beside which the
/// local runner shows a plugin's answer.
pub async fn builtin_answer(hook: HookKind, input: &Input) -> Option<HookOutput> {
    let native = Hooks::builtin();
    // The built-in rules do not fail on a chat the runner accepted.
    answer(
        &*native.subject,
        &*native.transcript,
        &*native.assignment,
        &*native.summary,
        &*native.fields,
        hook,
        input,
    )
    .await
    .ok()
}

/// One hook of `plugin` on `input`, with the server's limits and output
/// checks: its answer or fault, fuel, peak memory and time (what a shadow
/// run shows for each side, and the local runner prints).
pub async fn call(plugin: &PluginHook, hook: HookKind, input: &Input) -> Trial {
    plugin.take_last_cost();
    let started = std::time::Instant::now();
    let output = answer(plugin, plugin, plugin, plugin, plugin, hook, input).await;
    let elapsed = started.elapsed();
    let cost = plugin.take_last_cost();
    let (output, fault) = match output {
        Ok(v) => (Some(v), None),
        Err(f) => (
            None,
            Some(TrialFault {
                kind: f.kind,
                reason: f.reason,
            }),
        ),
    };
    Trial {
        plugin: plugin.plugin_name().to_owned(),
        plugin_name: Some(plugin.plugin_name().to_owned()),
        output,
        fault,
        fuel: cost.and_then(|c| c.fuel),
        peak_memory_bytes: cost.map(|c| c.peak_memory_bytes),
        elapsed,
    }
}
