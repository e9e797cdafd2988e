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
    let plugin = super::load_builtin(javascript::NAME, cache_dir.map(super::cache::DiskCache::new)).await?;
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

/// One hook's answer on `input`, as JSON, from whichever implementation.
async fn answer(
    subject: &dyn SubjectHook,
    transcript: &dyn TranscriptHook,
    assignment: &dyn AssignmentHook,
    summary: &dyn SummaryHook,
    fields: &dyn FieldsHook,
    hook: HookKind,
    input: &Input,
) -> Result<Value, HookFault> {
    let (chat, agent, candidates) = (&input.chat, &input.agent, &input.candidates[..]);
    Ok(match hook {
        HookKind::Subject => json!(subject.subject(chat).await?),
        HookKind::Transcript => json!(transcript.transcript(chat).await?),
        HookKind::Assignment => json!(assignment.assignee(chat, agent, candidates).await?),
        HookKind::Summary => json!(summary.summary(chat).await?),
        HookKind::Fields => {
            let f = fields.fields(chat).await?;
            let custom: serde_json::Map<String, Value> =
                f.custom.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            json!({
                "priority": f.priority.map(|p| p.as_str()),
                "tags": f.tags,
                "custom": custom,
            })
        }
    })
}

/// Runs one hook of `plugin` on `input` beside the built-in rule, with the
/// server's limits and output checks, and reports what an author needs:
/// the answer or the fault, the built-in rule's answer, fuel, peak memory
/// and time.
pub async fn run(plugin: &PluginHook, hook: HookKind, input: &Input) -> Value {
    let mut report = call(plugin, hook, input).await;
    let native = Hooks::builtin();
    // The built-in rules do not fail on a chat the runner accepted.
    let builtin = answer(
        &*native.subject,
        &*native.transcript,
        &*native.assignment,
        &*native.summary,
        &*native.fields,
        hook,
        input,
    )
    .await;
    report["builtin_output"] = builtin.unwrap_or(Value::Null);
    report
}

/// One hook of `plugin` on `input`, with the server's limits and output
/// checks: its answer or fault, fuel, peak memory and time (what a shadow
/// run shows for each side).
pub async fn call(plugin: &PluginHook, hook: HookKind, input: &Input) -> Value {
    plugin.take_last_cost();
    let started = std::time::Instant::now();
    let output = answer(plugin, plugin, plugin, plugin, plugin, hook, input).await;
    let elapsed = started.elapsed();
    let cost = plugin.take_last_cost();
    let (output, fault) = match output {
        Ok(v) => (v, Value::Null),
        Err(f) => (Value::Null, json!({"kind": f.kind.as_str(), "reason": f.reason})),
    };
    json!({
        "hook": hook.as_str(),
        "output": output,
        "fault": fault,
        "fuel": cost.and_then(|c| c.fuel),
        "peak_memory_bytes": cost.map(|c| c.peak_memory_bytes),
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
    })
}

/// Runs `hooks` of `plugin` on every chat file (`*.json`) of `dir`, in name
/// order, and reports each run (its fault, or an answer other than the
/// file's `expect`) and the totals: what `plugin test` prints.
pub async fn test(plugin: &PluginHook, hooks: &[HookKind], dir: &std::path::Path) -> anyhow::Result<Value> {
    use anyhow::Context;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no chat files (*.json) in {}", dir.display());
    }
    let (mut runs, mut failed) = (Vec::new(), 0usize);
    let (mut max_fuel, mut max_ms, mut total_ms, mut timed) = (0u64, 0f64, 0f64, 0usize);
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = ChatFile::read(file).map_err(|e| format!("{e:#}")).and_then(|chat| {
            let expect = chat.expect.clone().unwrap_or_default();
            chat.into_input().map(|input| (expect, input))
        });
        let (expect, input) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                failed += 1;
                runs.push(json!({"chat": name, "ok": false, "problem": format!("not a usable chat file: {reason}")}));
                continue;
            }
        };
        for &hook in hooks {
            let result = run(plugin, hook, &input).await;
            let problem = match (result["fault"]["reason"].as_str(), expect.get(hook.as_str())) {
                (Some(reason), _) => Some(format!("the plugin failed: {reason}")),
                (None, Some(expected)) if *expected != result["output"] => {
                    Some(format!("expected {expected}, got {}", result["output"]))
                }
                _ => None,
            };
            let fuel = result["fuel"].as_u64();
            let ms = result["elapsed_ms"].as_f64().unwrap_or(0.0);
            max_fuel = max_fuel.max(fuel.unwrap_or(0));
            max_ms = max_ms.max(ms);
            total_ms += ms;
            timed += 1;
            failed += usize::from(problem.is_some());
            runs.push(json!({
                "chat": name,
                "hook": hook.as_str(),
                "ok": problem.is_none(),
                "problem": problem,
                "fuel": fuel,
                "peak_memory_bytes": result["peak_memory_bytes"],
                "elapsed_ms": ms,
            }));
        }
    }
    Ok(json!({
        "chats": files.len(),
        "passed": runs.len() - failed,
        "failed": failed,
        "max_fuel": max_fuel,
        "max_elapsed_ms": max_ms,
        "mean_elapsed_ms": if timed > 0 { total_ms / timed as f64 } else { 0.0 },
        "runs": runs,
    }))
}

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds the plugin crate in `dir` for [`TARGET`] in release mode
/// (installing the target with rustup when it is missing), and says where
/// the component is, how big, and which hooks it exports: what
/// `plugin build` prints. Cargo's own messages go to standard error.
pub fn build(dir: &std::path::Path) -> anyhow::Result<Value> {
    use anyhow::Context;
    use std::process::{Command, Stdio};
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("no Cargo.toml in {}", dir.display()))?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET));
    if !installed {
        eprintln!("installing the {TARGET} target with rustup");
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .current_dir(dir)
            .status()
            .context("the plugin needs the wasm32-wasip2 target, and rustup is not there to install it")?;
        anyhow::ensure!(status.success(), "`rustup target add {TARGET}` failed");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    anyhow::ensure!(output.status.success(), "the build failed (see cargo's messages above)");
    // Cargo says which files each crate of the build made; ours is the
    // `.wasm` of the crate whose manifest is `dir`'s.
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().map(std::path::Path::new) == Some(manifest.as_path()))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(std::path::PathBuf::from))
        .find(|f| f.extension().is_some_and(|x| x == "wasm"))
        .with_context(|| {
            format!(
                "the build made no .wasm for {}: is it a library with crate-type = [\"cdylib\"]?",
                manifest.display()
            )
        })?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let hooks = exports(&bytes).map_err(|e| anyhow::anyhow!("it built, but the server would refuse it: {e}"))?;
    Ok(json!({
        "wasm": wasm,
        "size_bytes": bytes.len(),
        "hooks": hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
    }))
}
