//! The plugin host: loads plugins (built-in, or uploaded by a workspace),
//! keeps them ready within their memory bounds, and builds each
//! conversion's hooks from the workspace's pipeline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::adapter::{Gate, Guarded, MAX_BACKGROUND_CALLS, PluginHook};
use super::builtin::{self, BUILTIN};
use super::cache::sha256_hex;
use super::cache::{DiskCache, MemoryCache};
use super::compiler::{CompileError, CompileSettings, Compiled, Compiler};
use super::engine;
use super::error::PluginError;
use super::javascript;
use super::limits;
use super::loaded::LoadedPlugin;
use super::logs::PluginLogs;
use super::manifest;
use super::outbound::{Grant, OutboundSettings};
use super::pipeline::{PipelineCache, builtin_options, is_native_default};
use super::slots::SlotSettings;
use super::usage::Figures;
use crate::conversion::hooks::{FaultLog, HookProvider, Hooks};
use crate::domain::hooks::{FaultKind, HookFault, HookKind};
use crate::store::{Store, StoreError, Tenant, is_uploaded_plugin_ref};

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
    /// Plugins may call hosts on loopback and private addresses
    /// (`--plugins-allow-private`).
    pub outbound_allow_private: bool,
    /// Hosts plugins reach over plain HTTP (`--plugins-http-host`).
    pub outbound_http_hosts: Vec<String>,
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
                // The summary hook's own slots come out of the same pool.
                total: (4 * cores).clamp(1, limits::MAX_CONCURRENT_CALLS as usize - MAX_BACKGROUND_CALLS),
                per_workspace: (cores / 2).max(1),
                queue_timeout: Duration::from_millis(1_000),
            },
            compile: CompileSettings::defaults(),
            memory_cache_bytes: 256 << 20,
            outbound_allow_private: false,
            outbound_http_hosts: Vec::new(),
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

/// Loads plugins (built-in or from the database), keeps them ready, and
/// builds each conversion's hooks. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    store: Store,
    disk: Option<DiskCache>,
    memory: Arc<MemoryCache>,
    compiler: Arc<Compiler>,
    pub(super) gate: Arc<Gate>,
    pipelines: Arc<PipelineCache>,
    outbound: Arc<OutboundSettings>,
}

impl PluginHost {
    pub fn new(store: Store, settings: HostSettings) -> Self {
        Self {
            outbound: Arc::new(OutboundSettings::new(
                settings.outbound_allow_private,
                settings.outbound_http_hosts.clone(),
            )),
            gate: Arc::new(Gate::new(settings.slots, store.meter().clone())),
            store,
            disk: settings.cache_dir.map(DiskCache::new),
            memory: Arc::new(MemoryCache::new(settings.memory_cache_bytes)),
            compiler: Arc::new(Compiler::new(settings.compile)),
            pipelines: Arc::default(),
        }
    }

    /// Checks an upload: a WebAssembly component within the size cap,
    /// compiled within the compile limits, that links against this server's
    /// imports and exports at least one hook, each with its contract's type.
    /// Keeps nothing: a refused upload leaves no trace on disk or in memory.
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
        plugin
            .check_types()
            .await
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
        let cached = builtin::read_disk(self.disk.clone(), info.sha256.clone()).await;
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
    /// The database, for the plugin host's own modules.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) async fn builtin(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        builtin::load(name, self.disk.clone(), Some(&self.compiler)).await
    }

    /// Loads the built-in plugins ahead of the first conversion (from the
    /// disk cache, or compiling them), so no request waits for it, and
    /// prunes the disk cache of plugins that no longer exist.
    ///
    /// Not the JavaScript plugin: its engine would be most of an idle
    /// server's memory, and a workspace that never writes a rule should not
    /// pay for it. Its compiled form is made on disk instead (in a worker
    /// process), so the first rule only maps it.
    pub async fn warm_up(&self) {
        for (name, _) in BUILTIN {
            if name == javascript::NAME {
                if let Some(disk) = &self.disk {
                    builtin::make_on_disk(name, disk, &self.compiler).await;
                }
                continue;
            }
            if let Err(e) = self.load("", name).await {
                tracing::error!(plugin = name, error = %e, "a built-in plugin does not load");
                continue;
            }
            if let Some(disk) = &self.disk {
                builtin::keep_on_disk(name, disk);
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

    /// What calls of a hook allowing `hosts` may reach (nothing without
    /// hosts).
    fn grant(&self, hosts: &[String]) -> Option<Grant> {
        (!hosts.is_empty()).then(|| Grant {
            settings: self.outbound.clone(),
            allowed_hosts: hosts.into(),
        })
    }

    /// The workspaces' plugin logs this node has not written yet.
    pub fn logs(&self) -> &Arc<PluginLogs> {
        &self.gate.logs
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
        self.gate.logs.spawn_flusher(self.store.clone());
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

    /// What a built-in plugin says of itself (see [`builtin::manifest`]).
    pub async fn builtin_manifest(&self, name: &str) -> Option<manifest::Manifest> {
        builtin::manifest(name, self.disk.clone(), Some(&self.compiler)).await
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

    /// Entries and bytes of compiled code of uploaded plugins in memory.
    pub fn memory_cache_size(&self) -> (usize, usize) {
        self.memory.size()
    }

    /// The hooks one conversion (or close) of `tenant` runs, and the log its
    /// faults go to. `tenant` must be freshly read: its `pipeline_version`
    /// decides whether this node's copy of the pipeline is current.
    async fn hooks(&self, tenant: &Tenant, chat_id: &str) -> Result<(Hooks, FaultLog), StoreError> {
        let pipelines = self.pipelines.get(&self.store, tenant).await?;
        let (settings, run) = pipelines.for_chat(chat_id, tenant.pipeline_version);
        let faults = FaultLog::for_run(run);
        let native = Hooks::builtin_with(builtin_options(&settings));
        let mut guarded = HashMap::new();
        for (&hook, s) in settings.iter() {
            if is_native_default(hook, &s.plugin) {
                continue;
            }
            let primary = match self.load(&tenant.id, &s.plugin).await {
                // Observed: the ticket's receipt says what each call cost.
                Ok(plugin) if plugin.exports(hook) => {
                    Ok(
                        PluginHook::new(plugin, tenant.id.clone(), s.limits, s.call_config(), self.gate.clone())
                            .with_outbound(self.grant(&s.allowed_hosts))
                            .observed(),
                    )
                }
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
                    default_plugin: s.plugin == hook.default_plugin(),
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

async fn prune(store: &Store, disk: DiskCache) -> usize {
    let mut keep = match store.plugin_hashes().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list plugins to prune the plugin cache");
            return 0;
        }
    };
    keep.extend(builtin::cache_keys());
    let removed = tokio::task::spawn_blocking(move || disk.prune(&keep))
        .await
        .unwrap_or(0);
    if removed > 0 {
        tracing::info!(removed, "pruned the plugin cache");
    }
    removed
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
