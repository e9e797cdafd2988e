//! A workspace's pipeline: which plugin runs each hook, with what settings,
//! limits and failure policy; this node's copy of it; and the stored form
//! of its history ([`PipelineRecord`]), kept apart from any API shape so
//! the API can grow without breaking a rollback.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::javascript;
use super::limits::Limits;
use crate::conversion::hooks::BuiltinOptions;
use crate::conversion::hooks::PipelineRun;
use crate::domain::hooks::HookKind;
use crate::store::{Arm, PipelineHookRow, Store, StoreError, Tenant};

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
    /// The hosts the plugin may call (`host` or `host:port`); none by
    /// default.
    pub allowed_hosts: Vec<String>,
    /// Settings the plugin gets beside `config` that the API never shows.
    pub secrets: BTreeMap<String, String>,
}

impl HookSettings {
    pub fn default_for(hook: HookKind) -> Self {
        Self {
            plugin: hook.default_plugin().to_owned(),
            config: BTreeMap::new(),
            policy: Policy::Fallback,
            limits: Limits::DEFAULT,
            allowed_hosts: Vec::new(),
            secrets: BTreeMap::new(),
        }
    }

    /// What the plugin is given: its settings and its secrets.
    pub fn call_config(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .chain(&self.secrets)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
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
                allowed_hosts: serde_json::from_str(&row.allowed_hosts).unwrap_or_default(),
                secrets: serde_json::from_str(&row.secrets).unwrap_or_default(),
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
            allowed_hosts: serde_json::to_string(&self.allowed_hosts).expect("strings serialize"),
            secrets: serde_json::to_string(&self.secrets).expect("strings serialize"),
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

/// A workspace's whole pipeline, as one conversion reads it.
pub type PipelineSettings = Arc<BTreeMap<HookKind, HookSettings>>;

/// A workspace's pipelines as a node holds them: the current one and, during
/// a rollout, the candidate and the share of chats it runs.
pub struct Pipelines {
    pub current: PipelineSettings,
    pub rollout: Option<LiveRollout>,
}

pub struct LiveRollout {
    pub id: String,
    pub percent: i32,
    pub candidate: PipelineSettings,
    /// The current pipeline as the history stores it: what an automatic
    /// rollback's history entry records.
    pub current_stored: Arc<String>,
}

impl Pipelines {
    /// The pipeline chat `chat_id` runs, and which it is.
    pub fn for_chat(&self, chat_id: &str, version: i64) -> (PipelineSettings, PipelineRun) {
        let Some(r) = &self.rollout else {
            let run = PipelineRun {
                version,
                arm: Arm::Current,
                rollout: None,
            };
            return (self.current.clone(), run);
        };
        let candidate = crate::domain::rollout::runs_candidate(&r.id, chat_id, r.percent);
        let (settings, arm) = if candidate {
            (r.candidate.clone(), Arm::Candidate)
        } else {
            (self.current.clone(), Arm::Current)
        };
        let run = PipelineRun {
            version,
            arm,
            rollout: Some((r.id.clone(), r.current_stored.clone())),
        };
        (settings, run)
    }
}

/// Workspaces' pipelines as this node last read them, each with the
/// `pipeline_version` it was read at. A conversion reads the tenant row
/// anyway; when its version matches, the pipeline needs no query. Another
/// node's change (a rollout's start and end included) bumps the version,
/// so a stale copy is never used.
#[derive(Default)]
pub(super) struct PipelineCache {
    entries: Mutex<HashMap<String, (i64, Arc<Pipelines>)>>,
}

/// Pipelines kept at most; past that the cache starts over (a refill costs
/// a query a workspace, two during a rollout).
const PIPELINES_KEPT: usize = 10_000;

impl PipelineCache {
    pub(super) async fn get(&self, store: &Store, tenant: &Tenant) -> Result<Arc<Pipelines>, StoreError> {
        if let Some((version, p)) = self.entries.lock().unwrap().get(&tenant.id)
            && *version == tenant.pipeline_version
        {
            return Ok(p.clone());
        }
        // Read after the tenant row: these rows are at least as new as the
        // version they are filed under, so a change is never missed.
        let current = pipeline_settings(store, &tenant.id).await?;
        // Only a workspace whose row names a rollout has one to read: the
        // usual reload stays one query.
        let row = match &tenant.rollout_id {
            Some(_) => store.rollout(&tenant.id).await?,
            None => None,
        };
        let rollout = row.and_then(|row| {
            let candidate = PipelineRecord::from_stored(&row.hooks)
                .map_err(|e| tracing::error!(tenant = %tenant.id, error = %e, "a rollout's candidate does not read"))
                .ok()?;
            Some(LiveRollout {
                id: row.id,
                percent: row.percent,
                candidate: Arc::new(candidate.hooks),
                current_stored: Arc::new(PipelineRecord::new(current.clone()).to_stored()),
            })
        });
        let pipelines = Arc::new(Pipelines {
            current: Arc::new(current),
            rollout,
        });
        let mut entries = self.entries.lock().unwrap();
        if entries.len() >= PIPELINES_KEPT {
            entries.clear();
        }
        entries.insert(tenant.id.clone(), (tenant.pipeline_version, pipelines.clone()));
        Ok(pipelines)
    }
}

/// One version of a pipeline as its history stores it (`pipeline_versions.
/// hooks`). Its own type, not an API view read back: fields it does not
/// know are ignored, so a version written by a newer server, or before a
/// field was added to the API, still rolls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRecord {
    pub hooks: BTreeMap<HookKind, HookSettings>,
}

/// The record's format as written now. Format 1 is the rows written before
/// records had a number: the hooks' map alone, in the shape `GET
/// /api/v1/pipeline` showed then.
pub const RECORD_FORMAT: u32 = 2;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredRecord {
    Numbered {
        format: u32,
        hooks: BTreeMap<String, StoredHook>,
    },
    Unnumbered(BTreeMap<String, StoredHook>),
}

#[derive(Serialize, Deserialize)]
struct StoredHook {
    plugin: String,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    limits: Option<StoredLimits>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allowed_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct StoredLimits {
    fuel: Option<u64>,
    timeout_ms: Option<u32>,
    memory_bytes: Option<u64>,
}

impl PipelineRecord {
    pub fn new(hooks: BTreeMap<HookKind, HookSettings>) -> Self {
        Self { hooks }
    }

    /// The text the history keeps.
    pub fn to_stored(&self) -> String {
        let hooks = self
            .hooks
            .iter()
            .map(|(hook, s)| {
                let stored = StoredHook {
                    plugin: s.plugin.clone(),
                    config: s.config.clone(),
                    policy: Some(s.policy.as_str().to_owned()),
                    limits: Some(StoredLimits {
                        fuel: Some(s.limits.fuel),
                        timeout_ms: Some(s.limits.timeout_ms),
                        memory_bytes: Some(s.limits.memory_bytes),
                    }),
                    allowed_hosts: s.allowed_hosts.clone(),
                    secrets: s.secrets.clone(),
                };
                (hook.as_str().to_owned(), stored)
            })
            .collect();
        let record = StoredRecord::Numbered {
            format: RECORD_FORMAT,
            hooks,
        };
        serde_json::to_string(&record).expect("a pipeline record serializes")
    }

    /// Reads a stored version of any format this server knows. A hook it
    /// does not know (a newer server's) is left out; one the record leaves
    /// out is its default; a setting left out is its default.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        let stored: StoredRecord =
            serde_json::from_str(text).map_err(|e| format!("the stored pipeline does not read: {e}"))?;
        let hooks = match stored {
            StoredRecord::Numbered { format, hooks } if format <= RECORD_FORMAT => hooks,
            StoredRecord::Numbered { format, .. } => {
                return Err(format!(
                    "the stored pipeline is of format {format}, newer than this server's {RECORD_FORMAT}"
                ));
            }
            StoredRecord::Unnumbered(hooks) => hooks,
        };
        let mut settings: BTreeMap<HookKind, HookSettings> = HookKind::ALL
            .into_iter()
            .map(|h| (h, HookSettings::default_for(h)))
            .collect();
        for (name, stored) in hooks {
            let Some(hook) = HookKind::parse(&name) else { continue };
            let defaults = javascript::default_limits(&stored.plugin);
            let limits = stored.limits.unwrap_or(StoredLimits {
                fuel: None,
                timeout_ms: None,
                memory_bytes: None,
            });
            settings.insert(
                hook,
                HookSettings {
                    policy: stored
                        .policy
                        .as_deref()
                        .and_then(Policy::parse)
                        .unwrap_or(Policy::Fallback),
                    limits: Limits {
                        fuel: limits.fuel.unwrap_or(defaults.fuel),
                        timeout_ms: limits.timeout_ms.unwrap_or(defaults.timeout_ms),
                        memory_bytes: limits.memory_bytes.unwrap_or(defaults.memory_bytes),
                    },
                    plugin: stored.plugin,
                    config: stored.config,
                    allowed_hosts: stored.allowed_hosts,
                    secrets: stored.secrets,
                },
            );
        }
        Ok(Self { hooks: settings })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> BTreeMap<HookKind, HookSettings> {
        let mut hooks: BTreeMap<HookKind, HookSettings> = HookKind::ALL
            .into_iter()
            .map(|h| (h, HookSettings::default_for(h)))
            .collect();
        let subject = hooks.get_mut(&HookKind::Subject).unwrap();
        subject.config.insert("template".into(), "{visitor}: {subject}".into());
        subject.policy = Policy::Reject;
        subject.limits.fuel = 123_456;
        hooks
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let record = PipelineRecord::new(pipeline());
        let text = record.to_stored();
        assert!(text.starts_with(r#"{"format":2,"#), "{text}");
        assert_eq!(PipelineRecord::from_stored(&text).unwrap(), record);
    }

    /// The rows written before records had a format: the hooks' map in the
    /// shape `GET /api/v1/pipeline` showed.
    #[test]
    fn a_row_written_before_records_had_a_format_reads() {
        let text = r#"{"subject":{"plugin":"subject-default","config":{"template":"{visitor}: {subject}"},
            "policy":"reject","limits":{"fuel":123456,"timeout_ms":100,"memory_bytes":33554432}},
            "transcript":{"plugin":"transcript-plain","config":{},"policy":"fallback",
            "limits":{"fuel":100000000,"timeout_ms":100,"memory_bytes":33554432}}}"#;
        let record = PipelineRecord::from_stored(text).unwrap();
        assert_eq!(record.hooks, pipeline());
    }

    /// What a newer server may add (a field, a hook) does not stop this one
    /// reading the rest; a newer format is refused by name.
    #[test]
    fn fields_and_hooks_it_does_not_know_are_ignored_and_a_newer_format_is_refused() {
        let text = r#"{"format":2,"hooks":{"subject":{"plugin":"subject-default","config":{},"policy":"fallback",
            "limits":{"fuel":7,"timeout_ms":9,"memory_bytes":1048576,"stack":4},"rollout":{"percent":10}},
            "escalation":{"plugin":"x"}}}"#;
        let record = PipelineRecord::from_stored(text).unwrap();
        assert_eq!(record.hooks[&HookKind::Subject].limits.fuel, 7);
        assert_eq!(record.hooks.len(), HookKind::ALL.len());
        let newer = PipelineRecord::from_stored(r#"{"format":3,"hooks":{}}"#).unwrap_err();
        assert!(newer.contains("format 3"), "{newer}");
    }
}
