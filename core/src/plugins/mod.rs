//! The plugin host: conversion hooks as sandboxed WebAssembly components.
//!
//! A workspace's pipeline names, for each hook, the plugin that runs it (a
//! built-in one embedded in the server, or one the workspace uploaded), its
//! settings, its limits and its failure policy. [`PluginHost::hooks_for`]
//! turns that into the [`Hooks`] one conversion runs. A plugin that fails
//! (a trap, a limit, output the pipeline refuses) is recorded as a fault and
//! then, by policy, either replaced by the native built-in rule (`fallback`)
//! or fails the conversion (`reject`).

mod adapter;
pub mod limits;
pub mod local;
pub mod runtime;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::conversion::hooks::{HookFault, HookKind, Hooks};
use crate::store::{NewFault, PipelineHookRow, Store, StoreError, Tenant, is_uploaded_plugin_ref};
use adapter::Guarded;
pub use adapter::{FaultLog, PluginHook};
pub use limits::Limits;
pub use runtime::LoadedPlugin;

/// The default plugins, built from `plugins/` by `build.rs`.
pub const BUILTIN: [(&str, &[u8]); 4] = [
    (
        "subject-default",
        include_bytes!(concat!(env!("OUT_DIR"), "/subject_default.wasm")),
    ),
    (
        "transcript-plain",
        include_bytes!(concat!(env!("OUT_DIR"), "/transcript_plain.wasm")),
    ),
    (
        "assign-converting-agent",
        include_bytes!(concat!(env!("OUT_DIR"), "/assign_converting_agent.wasm")),
    ),
    (
        "summary-extractive",
        include_bytes!(concat!(env!("OUT_DIR"), "/summary_extractive.wasm")),
    ),
];

/// What a workspace does when a plugin fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Run the built-in native rule instead, and record the fault.
    Fallback,
    /// Fail the conversion with an error naming the plugin; nothing changes.
    Reject,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Fallback => "fallback",
            Policy::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fallback" => Some(Policy::Fallback),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }
}

/// One hook's settings in a workspace's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// A built-in plugin's name or an uploaded plugin's id.
    pub plugin: String,
    pub config: BTreeMap<String, String>,
    pub policy: Policy,
    pub limits: Limits,
}

impl HookSettings {
    pub fn default_for(hook: HookKind) -> Self {
        Self {
            plugin: hook.default_plugin().to_owned(),
            config: BTreeMap::new(),
            policy: Policy::Fallback,
            limits: Limits::DEFAULT,
        }
    }

    pub fn from_row(row: &PipelineHookRow) -> Option<(HookKind, Self)> {
        let hook = HookKind::parse(&row.hook)?;
        Some((
            hook,
            Self {
                plugin: row.plugin.clone(),
                config: serde_json::from_str(&row.config).unwrap_or_default(),
                policy: Policy::parse(&row.policy).unwrap_or(Policy::Fallback),
                limits: Limits {
                    fuel: row.fuel as u64,
                    timeout_ms: row.timeout_ms as u32,
                    memory_bytes: row.memory_bytes as u64,
                },
            },
        ))
    }

    pub fn to_row(&self, tenant_id: &str, hook: HookKind) -> PipelineHookRow {
        PipelineHookRow {
            tenant_id: tenant_id.to_owned(),
            hook: hook.as_str().to_owned(),
            plugin: self.plugin.clone(),
            config: serde_json::to_string(&self.config).expect("strings serialize"),
            policy: self.policy.as_str().to_owned(),
            fuel: self.limits.fuel as i64,
            timeout_ms: self.limits.timeout_ms as i32,
            memory_bytes: self.limits.memory_bytes as i64,
            updated_at: chrono::Utc::now(),
        }
    }
}

/// A workspace's whole pipeline: every hook, defaults filled in.
pub async fn pipeline_settings(store: &Store, tenant_id: &str) -> Result<BTreeMap<HookKind, HookSettings>, StoreError> {
    let mut settings: BTreeMap<HookKind, HookSettings> = HookKind::ALL
        .into_iter()
        .map(|h| (h, HookSettings::default_for(h)))
        .collect();
    for row in store.pipeline(tenant_id).await? {
        if let Some((hook, s)) = HookSettings::from_row(&row) {
            settings.insert(hook, s);
        }
    }
    Ok(settings)
}

/// What an upload turned out to be.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub sha256: String,
    pub hooks: Vec<HookKind>,
}

/// Loads plugins (built-in or from the database), keeps them ready, and
/// builds each conversion's hooks. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    store: Store,
    cache_dir: Option<PathBuf>,
    loaded: Arc<Mutex<HashMap<String, Arc<LoadedPlugin>>>>,
}

impl PluginHost {
    /// `cache_dir` keeps compiled plugins across restarts (none: compile on
    /// every start).
    pub fn new(store: Store, cache_dir: Option<PathBuf>) -> Self {
        Self {
            store,
            cache_dir,
            loaded: Default::default(),
        }
    }

    /// Checks an upload: a WebAssembly component within the size cap that
    /// links against this server's imports and exports at least one hook.
    /// Compiles it (so the first conversion does not have to).
    pub async fn inspect(&self, wasm: Arc<Vec<u8>>) -> Result<Inspected, String> {
        if wasm.len() > limits::MAX_PLUGIN_BYTES {
            return Err(format!(
                "the component is {} bytes; the limit is {} MiB",
                wasm.len(),
                limits::MAX_PLUGIN_BYTES >> 20
            ));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(
                "not a WebAssembly binary (it must start with \\0asm); precompiled code is not accepted".into(),
            );
        }
        let cache_dir = self.cache_dir.clone();
        tokio::task::spawn_blocking(move || {
            let sha256 = sha256_hex(&wasm);
            let (component, _) = runtime::component(&wasm, &sha256, cache_dir.as_deref())?;
            let plugin = LoadedPlugin::prepare(String::new(), String::new(), &component)?;
            Ok(Inspected {
                sha256,
                hooks: plugin.hooks(),
            })
        })
        .await
        .map_err(|e| format!("inspecting the component failed: {e}"))?
    }

    /// A plugin by its key (a built-in name or an uploaded id of this
    /// workspace), loaded once per server.
    pub async fn load(&self, tenant_id: &str, key: &str) -> Result<Arc<LoadedPlugin>, String> {
        // Uploaded plugins are kept per workspace, so one workspace's plugin
        // can never be found by another; built-in ones are shared.
        let cache_key = cache_key(tenant_id, key);
        if let Some(p) = self.loaded.lock().unwrap().get(&cache_key) {
            return Ok(p.clone());
        }
        let (name, wasm): (String, Arc<Vec<u8>>) = if is_uploaded_plugin_ref(key) {
            match self.store.plugin(tenant_id, key).await {
                Ok(row) => (row.name, Arc::new(row.wasm)),
                Err(StoreError::NotFound) => return Err(format!("plugin {key} is not installed in this workspace")),
                Err(e) => return Err(format!("cannot read plugin {key}: {e}")),
            }
        } else {
            let (name, bytes) = BUILTIN
                .iter()
                .find(|(n, _)| *n == key)
                .ok_or_else(|| format!("there is no built-in plugin named {key:?}"))?;
            (format!("builtin:{name}"), Arc::new(bytes.to_vec()))
        };
        let (cache_dir, key_owned) = (self.cache_dir.clone(), key.to_owned());
        let plugin = tokio::task::spawn_blocking(move || {
            let sha256 = sha256_hex(&wasm);
            let (component, how) = runtime::component(&wasm, &sha256, cache_dir.as_deref())?;
            tracing::debug!(plugin = %name, ?how, "plugin loaded");
            LoadedPlugin::prepare(key_owned, name, &component)
        })
        .await
        .map_err(|e| format!("loading the plugin failed: {e}"))??;
        let plugin = Arc::new(plugin);
        self.loaded.lock().unwrap().insert(cache_key, plugin.clone());
        Ok(plugin)
    }

    /// Loads the built-in plugins ahead of the first conversion (from the
    /// disk cache, or compiling them), so no request waits for it.
    pub async fn warm_up(&self) {
        for (name, _) in BUILTIN {
            if let Err(e) = self.load("", name).await {
                tracing::error!(plugin = name, error = %e, "a built-in plugin does not load");
            }
        }
    }

    /// Forgets a deleted plugin.
    pub fn unload(&self, tenant_id: &str, key: &str) {
        self.loaded.lock().unwrap().remove(&cache_key(tenant_id, key));
    }

    /// The hooks one conversion (or close) of `tenant` runs, and the log its
    /// faults go to.
    pub async fn hooks_for(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), StoreError> {
        let settings = pipeline_settings(&self.store, &tenant.id).await?;
        let faults = FaultLog::default();
        let native = Hooks::builtin();
        let mut guarded = HashMap::new();
        for (hook, s) in settings {
            let primary = match self.load(&tenant.id, &s.plugin).await {
                Ok(plugin) if plugin.exports(hook) => Ok(PluginHook::new(
                    plugin,
                    tenant.id.clone(),
                    s.limits,
                    s.config.into_iter().collect(),
                )),
                Ok(plugin) => Err(HookFault {
                    hook,
                    plugin: plugin.name.clone(),
                    reason: format!("it does not export the {hook} hook"),
                }),
                Err(reason) => Err(HookFault {
                    hook,
                    plugin: s.plugin.clone(),
                    reason,
                }),
            };
            guarded.insert(
                hook,
                Arc::new(Guarded {
                    hook,
                    policy: s.policy,
                    primary,
                    native: native.clone(),
                    faults: faults.clone(),
                    tenant_id: tenant.id.clone(),
                    chat_id: chat_id.to_owned(),
                }),
            );
        }
        let take = |h: HookKind| guarded.get(&h).expect("every hook has settings").clone();
        Ok((
            Hooks {
                subject: take(HookKind::Subject),
                transcript: take(HookKind::Transcript),
                assignment: take(HookKind::Assignment),
                summary: take(HookKind::Summary),
            },
            faults,
        ))
    }
}

fn cache_key(tenant_id: &str, key: &str) -> String {
    if is_uploaded_plugin_ref(key) {
        format!("{tenant_id}/{key}")
    } else {
        key.to_owned()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The faults of one conversion, written once its hooks have run.
pub async fn record(store: &Store, faults: &FaultLog) {
    let faults: Vec<NewFault> = faults.take();
    if faults.is_empty() {
        return;
    }
    for f in &faults {
        tracing::warn!(tenant = %f.tenant_id, hook = %f.hook, plugin = %f.plugin_name, outcome = %f.outcome,
            reason = %f.reason, "plugin fault");
    }
    if let Err(e) = store.record_faults(faults).await {
        tracing::error!(error = %e, "cannot record plugin faults");
    }
}

/// The hook calls of this process may not outnumber the engine's instance
/// pool; more wait here.
pub fn call_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(limits::MAX_CONCURRENT_CALLS as usize))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::conversion::hooks::{
        AssignmentHook, HookAgent, HookCandidate, HookChat, SubjectHook, SummaryHook, TranscriptHook, validate,
    };
    use crate::domain::MessageKind;
    use crate::domain::transcript::PublicMessage;

    /// xorshift64*: reproducible chats without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// Text mixing ASCII, accents, emoji, and (when `multiline`) runs of
        /// spaces, tabs and line breaks, sometimes long enough to be cut.
        fn text(&mut self, multiline: bool) -> String {
            const PIECES: [&str; 12] = [
                "order", "Zoë", "😀", "refund", "  ", "日本", "x", "é", "42", "ok?", "—", "a",
            ];
            const BREAKS: [&str; 4] = ["\n", "\t", "\r\n", "   "];
            let len = if self.below(10) == 0 { 120 } else { self.below(12) };
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
                if multiline && self.below(4) == 0 {
                    s.push_str(BREAKS[self.below(BREAKS.len() as u64) as usize]);
                } else {
                    s.push(' ');
                }
            }
            s
        }
    }

    fn chat(rng: &mut Rng) -> HookChat {
        // 1900 to 2200, either side of the epoch, with milliseconds.
        let mut at = -2_208_988_800_000 + (rng.below(9_467_280_000_000) as i64);
        let kinds = [MessageKind::Visitor, MessageKind::Agent, MessageKind::System];
        let messages = (0..rng.below(15))
            .map(|_| {
                at += rng.below(3_600_000) as i64;
                let kind = kinds[rng.below(3) as usize];
                let name = rng.text(false);
                PublicMessage::new(kind, name, rng.text(true), DateTime::from_timestamp_millis(at).unwrap()).unwrap()
            })
            .collect();
        HookChat {
            chat_id: "chat".into(),
            subject: (rng.below(2) == 0).then(|| rng.text(false)),
            visitor_name: rng.text(false),
            visitor_email: None,
            started_at: DateTime::from_timestamp_millis(at).unwrap(),
            messages,
            time_zone: "UTC".into(),
            utc_offset_minutes: 0,
        }
    }

    /// The default plugins and the native rules they stand in for agree on
    /// every chat, edge cases included (cut subjects, folded whitespace,
    /// dates before 1970, multi-byte text).
    #[test]
    fn builtin_plugins_agree_with_the_native_rules() {
        let plugin = |name: &str| {
            let (_, wasm) = BUILTIN.iter().find(|(n, _)| *n == name).unwrap();
            local::load(wasm, name, Vec::new(), Limits::DEFAULT).unwrap()
        };
        let (subject, transcript) = (plugin("subject-default"), plugin("transcript-plain"));
        let (assignment, summary) = (plugin("assign-converting-agent"), plugin("summary-extractive"));
        let native = Hooks::builtin();
        let agent = HookAgent {
            id: "a1".into(),
            name: "Bob".into(),
        };
        let candidates = vec![HookCandidate {
            id: "a1".into(),
            name: "Bob".into(),
            online: true,
            open_tickets: 0,
            skills: vec![],
        }];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..300 {
            let chat = chat(&mut rng);
            let expected = native.subject.subject(&chat).and_then(|s| {
                validate::subject(&s).map_err(|reason| HookFault {
                    hook: HookKind::Subject,
                    plugin: String::new(),
                    reason,
                })
            });
            assert_eq!(subject.subject(&chat).ok(), expected.ok(), "subject of chat {i}");
            assert_eq!(
                transcript.transcript(&chat).unwrap(),
                native.transcript.transcript(&chat).unwrap(),
                "transcript of chat {i}"
            );
            assert_eq!(
                assignment.assignee(&chat, &agent, &candidates).unwrap(),
                native.assignment.assignee(&chat, &agent, &candidates).unwrap()
            );
            assert_eq!(
                summary.summary(&chat).unwrap(),
                native.summary.summary(&chat).unwrap(),
                "summary of chat {i}"
            );
        }
    }

    #[test]
    fn the_disk_cache_is_used_and_a_damaged_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let (_, wasm) = BUILTIN[0];
        // Not the real hash: keeps this test's entry out of the process-wide
        // in-memory cache other tests fill.
        let key = "test-disk-cache";
        let (_, how) = runtime::compile_cached(wasm, key, Some(dir.path())).unwrap();
        assert_eq!(how, runtime::Compiled::Compiled);
        let (_, how) = runtime::compile_cached(wasm, key, Some(dir.path())).unwrap();
        assert_eq!(how, runtime::Compiled::FromDiskCache);

        let entry = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        std::fs::write(&entry, b"not compiled code").unwrap();
        let (_, how) = runtime::compile_cached(wasm, key, Some(dir.path())).unwrap();
        assert_eq!(how, runtime::Compiled::Compiled);
        let (_, how) = runtime::compile_cached(wasm, key, Some(dir.path())).unwrap();
        assert_eq!(how, runtime::Compiled::FromDiskCache);
    }
}
