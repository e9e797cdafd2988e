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
mod cache;
pub mod compiler;
pub mod engine;
pub mod error;
pub mod javascript;
pub mod limits;
pub mod loaded;
pub mod local;
pub mod manifest;
mod sandbox;
pub mod scaffold;
pub mod slots;
pub mod usage;
pub mod versions;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::hooks::{FaultKind, HookFault, HookKind};

use crate::conversion::hooks::{BuiltinOptions, FaultLog, HookProvider, Hooks};
use crate::store::{PipelineHookRow, Store, StoreError, Tenant, is_uploaded_plugin_ref};
use adapter::Guarded;
pub use adapter::{Gate, PluginHook};
use cache::{DiskCache, MemoryCache};
pub use compiler::{CompileError, CompileSettings, Compiled, Compiler, WorkerCommand};
pub use error::PluginError;
pub use limits::Limits;
pub use loaded::LoadedPlugin;
pub use slots::SlotSettings;
pub use usage::Figures;

/// The built-in plugins, built from `plugins/` by `build.rs`: each hook's
/// default, then the JavaScript runtime (last: it is the slowest to load
/// with a cold cache, and the defaults should be ready first).
pub const BUILTIN: [(&str, &[u8]); 5] = [
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
    (
        javascript::NAME,
        include_bytes!(concat!(env!("OUT_DIR"), "/javascript.wasm")),
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

/// What an upload turned out to be: compiled, linked, with the hooks it
/// exports. Nothing of it is kept until [`PluginHost::installed`].
pub struct Inspected {
    pub sha256: String,
    pub hooks: Vec<HookKind>,
    /// What it says of itself, checked against its exports.
    pub manifest: Option<manifest::Manifest>,
    compiled: Compiled,
    plugin: LoadedPlugin,
}

/// How the plugin host shares the server among workspaces.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Where compiled plugins are kept across restarts; `None` compiles them
    /// again in every new process.
    pub cache_dir: Option<PathBuf>,
    pub slots: SlotSettings,
    pub compile: CompileSettings,
    /// Compiled code of uploaded plugins kept in memory, at most.
    pub memory_cache_bytes: usize,
}

impl HostSettings {
    /// Defaults derived from the machine: a workspace may run half the
    /// cores' worth of calls at once (at least one), the server four calls
    /// a core (at most the engine's pool).
    pub fn defaults(cache_dir: Option<PathBuf>) -> Self {
        let cores = engine::cores();
        Self {
            cache_dir,
            slots: SlotSettings {
                total: (4 * cores).clamp(1, limits::MAX_CONCURRENT_CALLS as usize),
                per_workspace: (cores / 2).max(1),
                queue_timeout: Duration::from_millis(1_000),
            },
            compile: CompileSettings::defaults(),
            memory_cache_bytes: 256 << 20,
        }
    }
}

/// Why an upload is refused or could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Not a usable plugin (422), with the reason.
    #[error("{0}")]
    Unusable(String),
    /// Every compile slot is busy (503).
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

/// A workspace's whole pipeline, as one conversion reads it.
pub type PipelineSettings = Arc<BTreeMap<HookKind, HookSettings>>;

/// Workspaces' pipelines as this node last read them, each with the
/// `pipeline_version` it was read at. A conversion reads the tenant row
/// anyway; when its version matches, the pipeline needs no query. Another
/// node's change bumps the version, so a stale copy is never used.
#[derive(Default)]
struct PipelineCache {
    entries: Mutex<HashMap<String, (i64, PipelineSettings)>>,
}

/// Pipelines kept at most; past that the cache starts over (a refill costs
/// one query a workspace).
const PIPELINES_KEPT: usize = 10_000;

impl PipelineCache {
    async fn get(&self, store: &Store, tenant: &Tenant) -> Result<PipelineSettings, StoreError> {
        if let Some((version, p)) = self.entries.lock().unwrap().get(&tenant.id)
            && *version == tenant.pipeline_version
        {
            return Ok(p.clone());
        }
        // Read after the tenant row: these rows are at least as new as the
        // version they are filed under, so a change is never missed.
        let pipeline = Arc::new(pipeline_settings(store, &tenant.id).await?);
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= PIPELINES_KEPT {
            entries.clear();
        }
        entries.insert(tenant.id.clone(), (tenant.pipeline_version, pipeline.clone()));
        Ok(pipeline)
    }
}

/// Loads plugins (built-in or from the database), keeps them ready, and
/// builds each conversion's hooks. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    store: Store,
    disk: Option<DiskCache>,
    memory: Arc<MemoryCache>,
    compiler: Arc<Compiler>,
    gate: Arc<Gate>,
    pipelines: Arc<PipelineCache>,
}

impl PluginHost {
    pub fn new(store: Store, settings: HostSettings) -> Self {
        Self {
            store,
            disk: settings.cache_dir.map(DiskCache::new),
            memory: Arc::new(MemoryCache::new(settings.memory_cache_bytes)),
            compiler: Arc::new(Compiler::new(settings.compile)),
            gate: Arc::new(Gate::new(settings.slots)),
            pipelines: Arc::default(),
        }
    }

    /// Checks an upload: a WebAssembly component within the size cap,
    /// compiled within the compile limits, that links against this server's
    /// imports and exports at least one hook. Keeps nothing: a refused
    /// upload leaves no trace on disk or in memory.
    pub async fn inspect(&self, tenant_id: &str, wasm: Arc<Vec<u8>>) -> Result<Inspected, UploadError> {
        if wasm.len() > limits::MAX_PLUGIN_BYTES {
            return Err(UploadError::Unusable(format!(
                "the component is {} bytes; the limit is {} MiB",
                wasm.len(),
                limits::MAX_PLUGIN_BYTES >> 20
            )));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(UploadError::Unusable(
                "not a WebAssembly binary (it must start with \\0asm); precompiled code is not accepted".into(),
            ));
        }
        let sha256 = sha256_hex(&wasm);
        let compiled = self.compiler.compile(tenant_id, wasm).await.map_err(|e| match e {
            CompileError::Busy => UploadError::Busy(e.to_string()),
            CompileError::Internal(_) => UploadError::Internal(e.to_string()),
            CompileError::Invalid(_) | CompileError::TooCostly(_) => UploadError::Unusable(e.to_string()),
        })?;
        let plugin = LoadedPlugin::prepare(String::new(), String::new(), &compiled.component)
            .map_err(|e| UploadError::Unusable(e.reason))?;
        let manifest = plugin.describe().await.map_err(|e| UploadError::Unusable(e.reason))?;
        Ok(Inspected {
            sha256,
            manifest,
            hooks: plugin.hooks(),
            compiled,
            plugin,
        })
    }

    /// An inspected upload was stored as `plugin_id`: keep its compiled code
    /// (on disk and in memory), so the first conversion does not compile.
    pub fn installed(&self, tenant_id: &str, plugin_id: &str, name: &str, inspected: Inspected) {
        if let Some(disk) = &self.disk {
            disk.write(&inspected.sha256, &inspected.compiled.serialized);
        }
        // Linked once already, at inspection: only its names were missing.
        let mut plugin = inspected.plugin;
        plugin.key = plugin_id.to_owned();
        plugin.name = name.to_owned();
        plugin.sha256 = inspected.sha256;
        plugin.version = inspected.manifest.map(|m| m.version);
        self.memory.insert(cache_key(tenant_id, plugin_id), Arc::new(plugin));
    }

    /// A plugin by its key (a built-in name or an uploaded id of this
    /// workspace).
    pub async fn load(&self, tenant_id: &str, key: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        if !is_uploaded_plugin_ref(key) {
            return self.builtin(key).await;
        }
        // Uploaded plugins are kept per workspace, so one workspace's plugin
        // can never be found by another.
        let cache_key = cache_key(tenant_id, key);
        if let Some(p) = self.memory.get(&cache_key) {
            return Ok(p);
        }
        let not_found = |e: StoreError| match e {
            StoreError::NotFound => PluginError::load(format!("plugin {key} is not installed in this workspace")),
            e => PluginError::load(format!("cannot read plugin {key}: {e}")),
        };
        let info = self.store.plugin_info(tenant_id, key).await.map_err(not_found)?;
        let cached = read_disk(self.disk.clone(), info.sha256.clone()).await;
        let component = match cached {
            Some(c) => c,
            None => {
                // Another node installed it, or this node's cache lost it:
                // read its bytes and compile it again, with the same bounds
                // as an upload.
                let row = self.store.plugin(tenant_id, key).await.map_err(not_found)?;
                let compiled = self
                    .compiler
                    .compile(tenant_id, Arc::new(row.wasm))
                    .await
                    .map_err(|e| PluginError::load(e.to_string()))?;
                if let Some(disk) = &self.disk {
                    disk.write(&info.sha256, &compiled.serialized);
                }
                compiled.component
            }
        };
        let mut plugin = LoadedPlugin::prepare(key.to_owned(), info.name, &component)?;
        plugin.sha256 = info.sha256;
        plugin.version = info
            .manifest
            .as_deref()
            .and_then(|m| serde_json::from_str::<manifest::Manifest>(m).ok())
            .map(|m| m.version);
        let plugin = Arc::new(plugin);
        self.memory.insert(cache_key, plugin.clone());
        Ok(plugin)
    }

    /// A built-in plugin: compiled once per process (from this server's
    /// disk cache when it has one) and never evicted.
    async fn builtin(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        load_builtin(name, self.disk.clone()).await
    }

    /// Loads the built-in plugins ahead of the first conversion (from the
    /// disk cache, or compiling them), so no request waits for it, and
    /// prunes the disk cache of plugins that no longer exist.
    pub async fn warm_up(&self) {
        for (name, wasm) in BUILTIN {
            if let Err(e) = self.load("", name).await {
                tracing::error!(plugin = name, error = %e, "a built-in plugin does not load");
                continue;
            }
            // Another server of this process may have compiled it first:
            // this one's disk cache gets it too, for its next start.
            if let Some(disk) = &self.disk {
                let key = builtin_cache_key(name, wasm);
                if !disk.has(&key) {
                    let component = builtins().lock().unwrap().get(name).map(|(_, c)| c.clone());
                    if let Some(bytes) = component.and_then(|c| c.serialize().ok()) {
                        disk.write(&key, &bytes);
                    }
                }
            }
        }
        self.prune_disk().await;
    }

    /// Removes compiled code on disk that no plugin of any workspace has.
    pub async fn prune_disk(&self) -> usize {
        match &self.disk {
            Some(disk) => prune(&self.store, disk.clone()).await,
            None => 0,
        }
    }

    /// Forgets a deleted plugin: its loaded form here, and its compiled code
    /// on disk unless another plugin (of any workspace) has the same bytes.
    pub async fn deleted(&self, tenant_id: &str, key: &str, sha256: &str) {
        self.memory.remove(&cache_key(tenant_id, key));
        if let Some(disk) = &self.disk {
            match self.store.plugin_bytes_in_use(sha256).await {
                Ok(false) => disk.remove(sha256),
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "cannot check whether compiled code is still used"),
            }
        }
    }

    pub fn slot_settings(&self) -> SlotSettings {
        self.gate.slots.settings()
    }

    /// This node's plugin calls since it started, per hook.
    pub fn usage_totals(&self) -> Vec<Figures> {
        self.gate.usage.totals()
    }

    /// The workspace's plugin usage on this node over the last hour.
    pub fn usage(&self, tenant_id: &str) -> Vec<Figures> {
        self.gate.usage.last_hour(tenant_id)
    }

    /// Logs finished minutes of usage once a minute and prunes the disk
    /// cache once an hour, until the server's plugin host is dropped.
    pub fn spawn_housekeeping(&self) {
        let gate = Arc::downgrade(&self.gate);
        let (store, disk) = (self.store.clone(), self.disk.clone());
        tokio::spawn(async move {
            let mut logged_up_to = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            for minute in 0u64.. {
                tick.tick().await;
                let Some(gate) = gate.upgrade() else { return };
                gate.usage.log_finished_minutes(&mut logged_up_to);
                if minute % 60 == 59
                    && let Some(disk) = &disk
                {
                    prune(&store, disk.clone()).await;
                }
            }
        });
    }

    /// What a built-in plugin says of itself (asked once per process).
    /// `None` for the native default of the fields hook, or a built-in
    /// without a `describe` export.
    pub async fn builtin_manifest(&self, name: &str) -> Option<manifest::Manifest> {
        if name == javascript::NAME {
            return Some(javascript::manifest());
        }
        static SAID: OnceLock<Mutex<HashMap<String, Option<manifest::Manifest>>>> = OnceLock::new();
        let said = SAID.get_or_init(Default::default);
        if let Some(m) = said.lock().unwrap().get(name) {
            return m.clone();
        }
        let manifest = match self.builtin(name).await {
            Ok(plugin) => plugin.describe().await.unwrap_or_else(|e| {
                tracing::error!(plugin = name, error = %e, "a built-in plugin cannot describe itself");
                None
            }),
            Err(_) => None,
        };
        said.lock().unwrap().insert(name.to_owned(), manifest.clone());
        manifest
    }

    /// What the plugin a hook names says of itself: a built-in's from its
    /// `describe`, an uploaded one's as stored at upload.
    pub async fn manifest(&self, tenant_id: &str, key: &str) -> Result<Option<manifest::Manifest>, StoreError> {
        if !is_uploaded_plugin_ref(key) {
            return Ok(self.builtin_manifest(key).await);
        }
        let info = self.store.plugin_info(tenant_id, key).await?;
        Ok(info.manifest.as_deref().and_then(|m| serde_json::from_str(m).ok()))
    }

    /// One hook of one pipeline on one chat, for a shadow run: the plugin's
    /// own answer or fault (no failure policy, nothing recorded as a
    /// fault), what it cost, and which plugin it was. The call goes through
    /// the workspace's slots like any other.
    pub async fn trial(
        &self,
        tenant_id: &str,
        hook: HookKind,
        s: &HookSettings,
        input: &local::Input,
    ) -> serde_json::Value {
        use serde_json::json;
        if is_native_default(hook, &s.plugin) {
            return json!({"plugin": s.plugin, "output": {"priority": null, "tags": [], "custom": {}},
                          "fault": null, "fuel": null, "elapsed_ms": 0.0});
        }
        let plugin = match self.load(tenant_id, &s.plugin).await {
            Ok(p) if p.exports(hook) => p,
            Ok(p) => {
                return json!({"plugin": p.name, "output": null, "fuel": null, "elapsed_ms": 0.0,
                              "fault": {"kind": "load", "reason": format!("it does not export the {hook} hook")}});
            }
            Err(e) => {
                return json!({"plugin": s.plugin, "output": null, "fuel": null, "elapsed_ms": 0.0,
                              "fault": {"kind": e.kind.as_str(), "reason": e.reason}});
            }
        };
        let name = plugin.name.clone();
        let config = s.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let one = PluginHook::new(plugin, tenant_id.to_owned(), s.limits, config, self.gate.clone()).observed();
        let mut ran = local::call(&one, hook, input).await;
        if let Some(fields) = ran.as_object_mut() {
            fields.remove("hook");
            fields.insert("plugin".into(), json!(s.plugin));
            fields.insert("plugin_name".into(), json!(name));
        }
        ran
    }

    /// Checks a JavaScript rule before it is saved for `hook`: it parses,
    /// its top level runs within `limits`, and it defines the hook's
    /// function. The check runs in the JavaScript plugin, through the
    /// workspace's slots like any call. The error is the operator's to fix,
    /// with the line and column when there is one.
    pub async fn check_rule(
        &self,
        tenant_id: &str,
        hook: HookKind,
        source: &str,
        limits: Limits,
    ) -> Result<(), javascript::Refusal> {
        let refused = |message: String| javascript::Refusal { at: None, message };
        let plugin = self.builtin(javascript::NAME).await.map_err(|e| refused(e.reason))?;
        let slot = self.gate.slots.acquire(tenant_id).await.map_err(|t| {
            refused(format!(
                "the rule could not be checked: every plugin slot of the workspace stayed busy for {:.0} ms",
                t.waited.as_secs_f64() * 1000.0
            ))
        })?;
        let (tenant, source) = (tenant_id.to_owned(), source.to_owned());
        let checked = engine::runtime()
            .spawn(async move {
                let checked = javascript::check(&plugin, &tenant, hook, &source, limits).await;
                drop(slot);
                checked
            })
            .await
            .map_err(|e| refused(format!("the rule could not be checked: {e}")))?;
        match checked {
            Ok(result) => result.map_err(javascript::Refusal::from),
            // A limit or a trap while its top level ran.
            Err(e) => Err(refused(format!("its top level {}", e.reason.trim_start_matches("it ")))),
        }
    }

    /// Entries and bytes of compiled code of uploaded plugins in memory.
    pub fn memory_cache_size(&self) -> (usize, usize) {
        self.memory.size()
    }

    /// The hooks one conversion (or close) of `tenant` runs, and the log its
    /// faults go to. `tenant` must be freshly read: its `pipeline_version`
    /// decides whether this node's copy of the pipeline is current.
    async fn hooks(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), StoreError> {
        let settings = self.pipelines.get(&self.store, tenant).await?;
        let faults = FaultLog::default();
        let native = Hooks::builtin_with(builtin_options(&settings));
        let mut guarded = HashMap::new();
        for (&hook, s) in settings.iter() {
            if is_native_default(hook, &s.plugin) {
                continue;
            }
            let primary = match self.load(&tenant.id, &s.plugin).await {
                // Observed: the ticket's receipt says what each call cost.
                Ok(plugin) if plugin.exports(hook) => Ok(PluginHook::new(
                    plugin,
                    tenant.id.clone(),
                    s.limits,
                    s.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    self.gate.clone(),
                )
                .observed()),
                Ok(plugin) => Err(HookFault {
                    hook,
                    plugin: plugin.name.clone(),
                    kind: FaultKind::Load,
                    reason: format!("it does not export the {hook} hook"),
                }),
                Err(e) => Err(HookFault {
                    hook,
                    plugin: s.plugin.clone(),
                    kind: e.kind,
                    reason: e.reason,
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
                fields: match guarded.get(&HookKind::Fields) {
                    Some(g) => g.clone(),
                    None => native.fields.clone(),
                },
            },
            faults,
        ))
    }
}

/// The workspace's settings of the built-in rules: a hook's config when it
/// runs its default plugin (whose native fallback then answers the same
/// way), the defaults otherwise (another plugin's settings are its own).
pub fn builtin_options(settings: &BTreeMap<HookKind, HookSettings>) -> BuiltinOptions {
    let config = |hook: HookKind| -> Vec<(&str, &str)> {
        match settings.get(&hook) {
            Some(s) if s.plugin == hook.default_plugin() => {
                s.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
            }
            _ => Vec::new(),
        }
    };
    BuiltinOptions::from_configs(
        config(HookKind::Subject),
        config(HookKind::Transcript),
        config(HookKind::Assignment),
        config(HookKind::Summary),
    )
}

/// Checks a built-in plugin's settings as its rule reads them (a template's
/// placeholders, a number's range), beyond the kinds its description
/// declares: the error names the key.
pub fn check_builtin_config(
    hook: HookKind,
    plugin: &str,
    config: &BTreeMap<String, String>,
) -> Result<(), (String, String)> {
    use crate::domain::rules::{AssignOptions, SubjectOptions, SummaryOptions, TranscriptOptions};
    if plugin != hook.default_plugin() {
        return Ok(());
    }
    let pairs = config.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let checked = match hook {
        HookKind::Subject => SubjectOptions::from_config(pairs).map(drop),
        HookKind::Transcript => TranscriptOptions::from_config(pairs).map(drop),
        HookKind::Summary => SummaryOptions::from_config(pairs).map(drop),
        HookKind::Assignment => AssignOptions::from_config(pairs).map(drop),
        HookKind::Fields => Ok(()),
    };
    checked.map_err(|b| (b.key, b.reason))
}

/// The fields hook's default sets nothing, so it is no plugin at all:
/// calling one to learn that would cost every conversion a call.
pub fn is_native_default(hook: HookKind, plugin: &str) -> bool {
    hook == HookKind::Fields && plugin == hook.default_plugin()
}

async fn prune(store: &Store, disk: DiskCache) -> usize {
    let mut keep = match store.plugin_hashes().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list plugins to prune the plugin cache");
            return 0;
        }
    };
    keep.extend(BUILTIN.iter().map(|(name, wasm)| builtin_cache_key(name, wasm)));
    let removed = tokio::task::spawn_blocking(move || disk.prune(&keep))
        .await
        .unwrap_or(0);
    if removed > 0 {
        tracing::info!(removed, "pruned the plugin cache");
    }
    removed
}

/// A built-in plugin, loaded once per process (from `disk` when it has it)
/// and never evicted.
async fn load_builtin(name: &str, disk: Option<DiskCache>) -> Result<Arc<LoadedPlugin>, PluginError> {
    let (name, wasm) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .copied()
        .ok_or_else(|| PluginError::load(format!("there is no built-in plugin named {name:?}")))?;
    if let Some((p, _)) = builtins().lock().unwrap().get(name) {
        return Ok(p.clone());
    }
    // One load of each at a time: two requests (or two servers of a
    // process) wanting the JavaScript plugin with a cold cache would
    // otherwise both spend seconds of CPU making the same thing. Per
    // plugin, so a default plugin never waits behind that.
    static LOADING: [tokio::sync::Mutex<()>; BUILTIN.len()] =
        [const { tokio::sync::Mutex::const_new(()) }; BUILTIN.len()];
    let index = BUILTIN.iter().position(|(n, _)| *n == name).expect("found above");
    let _loading = LOADING[index].lock().await;
    if let Some((p, _)) = builtins().lock().unwrap().get(name) {
        return Ok(p.clone());
    }
    let component = compiled_builtin(name, wasm, disk).await?;
    let mut plugin = LoadedPlugin::prepare(name.to_owned(), format!("builtin:{name}"), &component)?;
    plugin.sha256 = sha256_hex(wasm);
    plugin.version = plugin.describe().await.ok().flatten().map(|m| m.version);
    let plugin = Arc::new(plugin);
    builtins().lock().unwrap().insert(name, (plugin.clone(), component));
    Ok(plugin)
}

/// Loads every built-in plugin into this process from the plugin cache in
/// `dir` (making, and writing there, what it lacks), and prunes `dir` of
/// anything else. For tests and benchmarks, which start many servers: the
/// JavaScript plugin costs seconds of CPU to make, and a cache kept between
/// runs makes it once.
pub async fn cache_builtins(dir: &std::path::Path) -> Result<(), PluginError> {
    let disk = DiskCache::new(dir.to_owned());
    for (name, wasm) in BUILTIN {
        load_builtin(name, Some(disk.clone())).await?;
        let key = builtin_cache_key(name, wasm);
        if !disk.has(&key) {
            // Made by this process before, without this cache.
            let component = builtins().lock().unwrap().get(name).map(|(_, c)| c.clone());
            let bytes = component
                .expect("loaded above")
                .serialize()
                .map_err(|e| PluginError::load(format!("cannot serialize {name}: {e}")))?;
            disk.write(&key, &bytes);
        }
    }
    let keep = BUILTIN
        .iter()
        .map(|(name, wasm)| builtin_cache_key(name, wasm))
        .collect();
    disk.prune(&keep);
    Ok(())
}

/// A built-in plugin's compiled code: from the disk cache when it has it,
/// else made (the JavaScript plugin pre-initialised first) and cached.
pub(crate) async fn compiled_builtin(
    name: &'static str,
    wasm: &'static [u8],
    disk: Option<DiskCache>,
) -> Result<wasmtime::component::Component, PluginError> {
    let key = builtin_cache_key(name, wasm);
    let cached = read_disk(disk.clone(), key.clone()).await;
    let component = match cached {
        Some(c) => c,
        None => {
            let code: std::borrow::Cow<'static, [u8]> = if name == javascript::NAME {
                let started = std::time::Instant::now();
                // Seconds of CPU (two compiles and the engine's start): on a
                // thread of its own, never on the plugin runtime, whose few
                // threads must keep ticking other calls' deadlines.
                let (tx, rx) = tokio::sync::oneshot::channel();
                std::thread::Builder::new()
                    .name("plugin-preinit".into())
                    .spawn(move || {
                        let made = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                            .map_err(|e| e.to_string())
                            .and_then(|rt| rt.block_on(javascript::preinitialize(wasm)));
                        let _ = tx.send(made);
                    })
                    .map_err(|e| PluginError::load(format!("cannot start pre-initialising the plugin: {e}")))?;
                let snapshot = rx
                    .await
                    .map_err(|e| PluginError::load(format!("pre-initialising the plugin failed: {e}")))?
                    .map_err(|e| PluginError::load(format!("the plugin could not be pre-initialised: {e}")))?;
                tracing::info!(
                    plugin = name,
                    ms = started.elapsed().as_millis() as u64,
                    bytes = snapshot.len(),
                    "pre-initialised a built-in plugin"
                );
                snapshot.into()
            } else {
                wasm.into()
            };
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let c = compiler::compile_in_process(&code).map_err(|e| PluginError::load(e.to_string()))?;
                tracing::info!(
                    plugin = name,
                    ms = started.elapsed().as_millis() as u64,
                    "compiled a built-in plugin"
                );
                if let (Some(disk), Ok(bytes)) = (&disk, c.serialize()) {
                    disk.write(&key, &bytes);
                }
                Ok::<_, PluginError>(c)
            })
            .await
            .map_err(|e| PluginError::load(format!("loading the plugin failed: {e}")))??
        }
    };
    Ok(component)
}

/// Compiled code from the disk cache, read off the async threads.
async fn read_disk(disk: Option<DiskCache>, key: String) -> Option<wasmtime::component::Component> {
    let disk = disk?;
    tokio::task::spawn_blocking(move || disk.read(&key))
        .await
        .ok()
        .flatten()
}

/// Where a built-in plugin's compiled code is kept on disk: its bytes' hash,
/// marked for the JavaScript plugin, whose cached code is of its
/// pre-initialised form.
fn builtin_cache_key(name: &str, wasm: &[u8]) -> String {
    let sha256 = sha256_hex(wasm);
    if name == javascript::NAME {
        format!("{sha256}-preinitialised")
    } else {
        sha256
    }
}

/// The built-in plugins loaded in this process, with their components.
type Builtins = Mutex<HashMap<&'static str, (Arc<LoadedPlugin>, wasmtime::component::Component)>>;

fn builtins() -> &'static Builtins {
    static LOADED: OnceLock<Builtins> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

#[async_trait::async_trait]
impl HookProvider for PluginHost {
    async fn hooks_for(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), StoreError> {
        self.hooks(tenant, chat_id).await
    }
}

fn cache_key(tenant_id: &str, key: &str) -> String {
    format!("{tenant_id}/{key}")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::conversion::hooks::{AssignmentHook, SubjectHook, SummaryHook, TranscriptHook};
    use crate::domain::MessageKind;
    use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, validate};
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
    #[tokio::test]
    async fn builtin_plugins_agree_with_the_native_rules() {
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
            last_assigned_at: None,
        }];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in 0..300 {
            let chat = chat(&mut rng);
            let expected = native.subject.subject(&chat).await.and_then(|s| {
                validate::subject(&s).map_err(|reason| HookFault {
                    hook: HookKind::Subject,
                    plugin: String::new(),
                    kind: FaultKind::Output,
                    reason,
                })
            });
            assert_eq!(subject.subject(&chat).await.ok(), expected.ok(), "subject of chat {i}");
            assert_eq!(
                transcript.transcript(&chat).await.unwrap(),
                native.transcript.transcript(&chat).await.unwrap(),
                "transcript of chat {i}"
            );
            assert_eq!(
                assignment.assignee(&chat, &agent, &candidates).await.unwrap(),
                native.assignment.assignee(&chat, &agent, &candidates).await.unwrap()
            );
            assert_eq!(
                summary.summary(&chat).await.unwrap(),
                native.summary.summary(&chat).await.unwrap(),
                "summary of chat {i}"
            );
        }
    }

    /// The JavaScript plugin's manifest, known without loading it, is what
    /// its `describe` says; and its pre-initialised form still links and
    /// exports every hook.
    #[tokio::test]
    async fn the_javascript_plugin_is_described_as_the_host_says() {
        let (name, wasm) = BUILTIN[4];
        assert_eq!(name, javascript::NAME);
        let component = compiled_builtin(name, wasm, None).await.unwrap();
        let plugin = LoadedPlugin::prepare(name.into(), name.into(), &component).unwrap();
        assert_eq!(plugin.hooks(), HookKind::ALL.to_vec());
        assert_eq!(plugin.describe().await.unwrap(), Some(javascript::manifest()));
    }

    #[test]
    fn the_disk_cache_is_used_a_damaged_entry_is_dropped_and_pruning_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::new(dir.path().to_owned());
        let (_, wasm) = BUILTIN[0];
        let component = compiler::compile_in_process(wasm).unwrap();
        assert!(disk.read("kept").is_none());
        disk.write("kept", &component.serialize().unwrap());
        disk.write("gone", &component.serialize().unwrap());
        assert!(disk.read("kept").is_some());

        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("gone-"))
            .unwrap()
            .path();
        std::fs::write(&entry, b"not compiled code").unwrap();
        assert!(disk.read("gone").is_none(), "a damaged entry does not load");
        assert!(!entry.exists(), "and is removed");

        disk.write("gone", &component.serialize().unwrap());
        std::fs::write(dir.path().join("x.cwasm.tmp42"), b"half").unwrap();
        let removed = disk.prune(&["kept".to_owned()].into_iter().collect());
        assert_eq!(removed, 2);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 1);
        assert!(left[0].starts_with("kept-"));
    }
}
