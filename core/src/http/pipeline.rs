//! The conversion pipeline (admins only): which plugin runs each hook with
//! what settings, limits and failure policy; its history and rollback.
//! The history is stored as [`PipelineRecord`]s, never as this module's
//! views, so a view can grow without breaking an older version's rollback.

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin};
use crate::domain::InvalidInput;
use crate::domain::hooks::HookKind;
use crate::plugins::{self, HookSettings, Limits, PipelineRecord, Policy, javascript, limits};

/// A pipeline's body at most: five JavaScript rules of 64 KiB, each byte
/// escaped in JSON as up to six (`\u0000`), and the rest.
pub(super) const MAX_PIPELINE_BODY: usize = 4 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_pipeline, put_pipeline))
        .routes(routes!(pipeline_hooks))
        .routes(routes!(pipeline_history))
        .routes(routes!(rollback_pipeline))
        .layer(DefaultBodyLimit::max(MAX_PIPELINE_BODY))
}

#[derive(Serialize, ToSchema)]
pub struct PipelineView {
    /// Every hook, with the defaults filled in.
    hooks: BTreeMap<String, HookView>,
    /// The most any hook may be given.
    max_limits: Limits,
}

#[derive(Serialize, ToSchema)]
pub struct HookView {
    /// A built-in plugin's name or an uploaded plugin's id.
    plugin: String,
    config: BTreeMap<String, String>,
    /// `fallback` or `reject`.
    policy: String,
    limits: Limits,
    /// The hosts the plugin may call (contract 0.4.0).
    allowed_hosts: Vec<String>,
    /// The names of the secret settings given; their values are never shown.
    secrets: Vec<String>,
}

/// Which plugin runs each hook of the workspace's conversion pipeline.
#[utoipa::path(get, path = "/api/v1/pipeline", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = PipelineView)))]
async fn get_pipeline(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let settings = plugins::pipeline_settings(&state.store, &admin.tenant_id).await?;
    Ok(axum::Json(view(settings)))
}

pub(super) fn view(settings: BTreeMap<HookKind, HookSettings>) -> PipelineView {
    PipelineView {
        hooks: settings
            .into_iter()
            .map(|(h, s)| {
                (
                    h.as_str().to_owned(),
                    HookView {
                        plugin: s.plugin,
                        config: s.config,
                        policy: s.policy.as_str().to_owned(),
                        limits: s.limits,
                        allowed_hosts: s.allowed_hosts,
                        secrets: s.secrets.into_keys().collect(),
                    },
                )
            })
            .collect(),
        max_limits: Limits::MAX,
    }
}

#[derive(Serialize, ToSchema)]
pub struct HookInfoView {
    /// subject, transcript, assignment, summary or fields.
    hook: String,
    /// The function a JavaScript rule for this hook defines.
    javascript_function: String,
    /// A first JavaScript rule to start from.
    javascript_starter: String,
}

/// The pipeline's hooks, in the order a conversion runs them, with what a
/// JavaScript rule for each looks like: the console builds its page from
/// this rather than keeping its own copy.
#[utoipa::path(get, path = "/api/v1/pipeline/hooks", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<HookInfoView>)))]
async fn pipeline_hooks(AuthAdmin(_admin): AuthAdmin) -> axum::Json<Vec<HookInfoView>> {
    axum::Json(
        HookKind::ALL
            .into_iter()
            .map(|hook| HookInfoView {
                hook: hook.as_str().to_owned(),
                javascript_function: javascript::function(hook).to_owned(),
                javascript_starter: javascript::starter(hook).to_owned(),
            })
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineUpdate {
    /// Settings by hook name; a hook left out goes back to its default.
    pub(super) hooks: BTreeMap<String, HookUpdate>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookUpdate {
    /// A built-in plugin's name or an uploaded plugin's id; the plugin must
    /// export this hook.
    plugin: String,
    #[serde(default)]
    config: BTreeMap<String, String>,
    /// `fallback` (the default) or `reject`.
    policy: Option<String>,
    limits: Option<LimitsUpdate>,
    /// Hosts the plugin may call (`host` or `host:port`, at most 16).
    #[serde(default)]
    allowed_hosts: Vec<String>,
    /// Settings given to the plugin but never shown back (an API key), by
    /// name. A secret left out keeps its value while the hook keeps its
    /// plugin; an empty value removes it. The list of names `GET` shows
    /// is taken too (it keeps them all), so a pipeline read and sent back
    /// unchanged stays as it was.
    #[serde(default)]
    secrets: SecretsUpdate,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SecretsUpdate {
    Values(BTreeMap<String, String>),
    /// The names alone, as `GET` shows them: nothing to change.
    Names(#[allow(dead_code)] Vec<String>),
}

impl Default for SecretsUpdate {
    fn default() -> Self {
        Self::Values(BTreeMap::new())
    }
}

impl SecretsUpdate {
    /// The values given (names alone give none: the stored ones stay).
    fn values(self) -> BTreeMap<String, String> {
        match self {
            Self::Values(v) => v,
            Self::Names(_) => BTreeMap::new(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsUpdate {
    fuel: Option<u64>,
    timeout_ms: Option<u32>,
    memory_bytes: Option<u64>,
}

/// Sets the whole pipeline. Every plugin named is checked (it is installed
/// in this workspace and exports the hook) before anything is saved.
#[utoipa::path(put, path = "/api/v1/pipeline", tag = "plugins", security(("agent_token" = ["admin"])),
    request_body = PipelineUpdate,
    responses((status = 200, description = "OK", body = PipelineView),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn put_pipeline(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(update): ApiJson<PipelineUpdate>,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let settings = checked_update(&state, &admin.tenant_id, update.hooks).await?;
    Ok(axum::Json(save_pipeline(&state, &admin, settings, None).await?))
}

/// Stores a checked pipeline and its history entry.
async fn save_pipeline(
    state: &AppState,
    admin: &crate::store::Agent,
    settings: BTreeMap<HookKind, HookSettings>,
    note: Option<String>,
) -> Result<PipelineView, ApiError> {
    let rows = settings
        .iter()
        .filter(|(h, s)| **s != HookSettings::default_for(**h))
        .map(|(h, s)| s.to_row(&admin.tenant_id, *h))
        .collect();
    let record = PipelineRecord::new(settings);
    let change = crate::store::PipelineChange {
        hooks: record.to_stored(),
        agent_id: admin.id.clone(),
        agent_name: admin.name.clone(),
        note,
    };
    state
        .store
        .set_pipeline(&admin.tenant_id, rows, change)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) if m == crate::store::ROLLOUT_UNDER_WAY => ApiError::Conflict(m),
            // A plugin deleted between the check and the write.
            crate::store::StoreError::Conflict(m) => {
                let hook = record
                    .hooks
                    .iter()
                    .find(|(_, s)| m.contains(&s.plugin))
                    .map(|(h, _)| *h);
                let field = hook.map_or_else(|| "hooks".to_owned(), |h| format!("hooks.{h}.plugin"));
                ApiError::Invalid(InvalidInput::new(field, m))
            }
            other => other.into(),
        })?;
    let hooks: Vec<String> = record.hooks.keys().map(|h| h.to_string()).collect();
    let entry = crate::store::Audit::new("pipeline.changed", None, serde_json::json!({"hooks": hooks}));
    super::audit::record(state, admin, entry).await;
    Ok(view(record.hooks))
}

#[derive(Serialize, ToSchema)]
pub struct PipelineVersionView {
    version: i64,
    /// Every hook as that version set it, in the shape `PUT
    /// /api/v1/pipeline` takes.
    hooks: BTreeMap<String, HookView>,
    changed_by: AgentRefView,
    changed_at: DateTime<Utc>,
    /// For a rollback: which version it restored.
    note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentRefView {
    pub(super) id: String,
    pub(super) name: String,
}

/// The workspace's pipeline changes, newest first: who, when, and the whole
/// pipeline each made (the newest 100 are kept, at most 4 M characters).
#[utoipa::path(get, path = "/api/v1/pipeline/history", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<PipelineVersionView>)))]
async fn pipeline_history(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<PipelineVersionView>>, ApiError> {
    let rows = state
        .store
        .pipeline_history(&admin.tenant_id, crate::store::MAX_HISTORY_KEPT)
        .await?;
    Ok(axum::Json(rows.into_iter().map(version_view).collect()))
}

fn version_view(row: crate::store::PipelineVersionRow) -> PipelineVersionView {
    // Written by this server; a record that does not read (one of a newer
    // format) shows as the defaults rather than hiding the history.
    let hooks = PipelineRecord::from_stored(&row.hooks)
        .unwrap_or_else(|e| {
            tracing::warn!(version = row.version, error = %e, "a pipeline version does not read");
            PipelineRecord::new(BTreeMap::new())
        })
        .hooks;
    PipelineVersionView {
        version: row.version,
        hooks: view(hooks).hooks,
        changed_by: AgentRefView {
            id: row.changed_by,
            name: row.changed_by_name,
        },
        changed_at: row.changed_at,
        note: row.note,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// A version from `GET /api/v1/pipeline/history`.
    version: i64,
}

/// Makes an earlier version the pipeline again (as a new version, so the
/// rollback is in the history too). Its plugins are checked as for `PUT`:
/// one deleted since is a 422 naming it, and nothing changes.
#[utoipa::path(post, path = "/api/v1/pipeline/rollback", tag = "plugins", security(("agent_token" = ["admin"])),
    request_body = RollbackRequest,
    responses((status = 200, description = "OK", body = PipelineView),
        (status = 404, description = "No such version in the history", body = ErrorBody),
        (status = 422, description = "A plugin of that version cannot run now", body = ErrorBody)))]
async fn rollback_pipeline(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let row = state
        .store
        .pipeline_version(&admin.tenant_id, req.version)
        .await
        .or_not_found("pipeline version")?;
    let record = PipelineRecord::from_stored(&row.hooks)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("pipeline version {} does not read: {e}", row.version)))?;
    let settings = checked(&state, &admin.tenant_id, record.hooks).await?;
    let note = Some(format!("rolled back to version {}", row.version));
    Ok(axum::Json(save_pipeline(&state, &admin, settings, note).await?))
}

/// A whole pipeline from an update (hooks left out are their defaults),
/// every setting in range and every plugin checked (see [`checked`]).
pub(super) async fn checked_update(
    state: &AppState,
    tenant_id: &str,
    hooks: BTreeMap<String, HookUpdate>,
) -> Result<BTreeMap<HookKind, HookSettings>, ApiError> {
    let mut settings: BTreeMap<HookKind, HookSettings> = HookKind::ALL
        .into_iter()
        .map(|h| (h, HookSettings::default_for(h)))
        .collect();
    for (name, u) in hooks {
        let hook = HookKind::parse(&name).ok_or_else(|| {
            InvalidInput::new(
                format!("hooks.{name}"),
                format!("unknown hook {name:?}; the hooks are subject, transcript, assignment, summary and fields"),
            )
        })?;
        settings.insert(hook, hook_settings(hook, u)?);
    }
    let current = plugins::pipeline_settings(&state.store, tenant_id).await?;
    keep_secrets(&mut settings, &current);
    checked(state, tenant_id, settings).await
}

/// Secrets the update left out keep their values while their hook keeps
/// its plugin (an admin edits a pipeline without retyping its keys); the
/// empty ones the update gave are removed.
pub(super) fn keep_secrets(
    settings: &mut BTreeMap<HookKind, HookSettings>,
    current: &BTreeMap<HookKind, HookSettings>,
) {
    for (hook, s) in settings.iter_mut() {
        if let Some(old) = current.get(hook).filter(|old| old.plugin == s.plugin) {
            for (k, v) in &old.secrets {
                s.secrets.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        s.secrets.retain(|_, v| !v.is_empty());
    }
}

/// A whole pipeline whose every plugin is checked: installed in this
/// workspace, exporting its hook, its settings as it declares them and as
/// a built-in rule reads them, a JavaScript rule that parses. Every error
/// names its field as `hooks.{hook}.{plugin|policy|config.{key}|limits.{name}}`.
pub(super) async fn checked(
    state: &AppState,
    tenant_id: &str,
    settings: BTreeMap<HookKind, HookSettings>,
) -> Result<BTreeMap<HookKind, HookSettings>, ApiError> {
    for (&hook, s) in &settings {
        if plugins::is_native_default(hook, &s.plugin) {
            if !s.config.is_empty() {
                return Err(InvalidInput::new(
                    format!("hooks.{hook}.config"),
                    format!("{} takes no settings", s.plugin),
                )
                .into());
            }
            continue;
        }
        let plugin = state.plugins.load(tenant_id, &s.plugin).await.map_err(|reason| {
            InvalidInput::new(
                format!("hooks.{hook}.plugin"),
                format!("the {hook} hook cannot run {}: {reason}", s.plugin),
            )
        })?;
        if !plugin.exports(hook) {
            return Err(InvalidInput::new(
                format!("hooks.{hook}.plugin"),
                format!("{} does not export the {hook} hook", plugin.name),
            )
            .into());
        }
        // A plugin that declares its settings gets only those, each of its
        // kind: a typo is caught here, not at the next conversion.
        if let Some(manifest) = state.plugins.manifest(tenant_id, &s.plugin).await? {
            manifest
                .check_config(&s.config)
                .map_err(|(key, why)| InvalidInput::new(format!("hooks.{hook}.config.{key}"), why))?;
        }
        plugins::check_builtin_config(hook, &s.plugin, &s.config)
            .map_err(|(key, why)| InvalidInput::new(format!("hooks.{hook}.config.{key}"), format!("{key} {why}")))?;
        if s.plugin == javascript::NAME {
            check_rule(state, tenant_id, hook, s).await?;
        }
    }
    Ok(settings)
}

/// A JavaScript rule is saved only when it parses and defines its hook's
/// function: the error names the setting, and the line and column.
async fn check_rule(state: &AppState, tenant_id: &str, hook: HookKind, s: &HookSettings) -> Result<(), InvalidInput> {
    let field = format!("hooks.{hook}.config.{}", javascript::SOURCE);
    let source = s
        .config
        .get(javascript::SOURCE)
        .filter(|src| !src.trim().is_empty())
        .ok_or_else(|| {
            InvalidInput::new(
                field.clone(),
                format!(
                    "source is required: the rule's JavaScript, a function named {}",
                    javascript::function(hook)
                ),
            )
        })?;
    state
        .plugins
        .check_rule(tenant_id, hook, source, s.limits)
        .await
        .map_err(|refusal| {
            let invalid = InvalidInput::new(field, refusal.located());
            match refusal.at {
                Some((line, column)) => invalid.at(line, column),
                None => invalid,
            }
        })
}

fn hook_settings(hook: HookKind, u: HookUpdate) -> Result<HookSettings, InvalidInput> {
    let secrets = u.secrets.values();
    let policy = match u.policy.as_deref() {
        None => Policy::Fallback,
        Some(p) => Policy::parse(p).ok_or_else(|| {
            InvalidInput::new(
                format!("hooks.{hook}.policy"),
                format!("the {hook} hook's policy must be fallback or reject"),
            )
        })?,
    };
    if u.config.len() + secrets.len() > limits::MAX_CONFIG_ENTRIES {
        return Err(InvalidInput::new(
            format!("hooks.{hook}.config"),
            format!("at most {} settings per hook", limits::MAX_CONFIG_ENTRIES),
        ));
    }
    if let Some(k) = secrets.keys().find(|k| u.config.contains_key(*k)) {
        return Err(InvalidInput::new(
            format!("hooks.{hook}.secrets.{k}"),
            format!("{k} is given both as a setting and as a secret"),
        ));
    }
    crate::plugins::outbound::check_allowed_hosts(&u.allowed_hosts)
        .map_err(|why| InvalidInput::new(format!("hooks.{hook}.allowed_hosts"), why))?;
    for (k, v) in u.config.iter().chain(&secrets) {
        if k.is_empty() || k.len() > 64 || k.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                format!("hooks.{hook}.config"),
                format!("setting names are 1 to 64 characters without control characters ({k:?})"),
            ));
        }
        // A JavaScript rule's source is a program, not a value.
        let max = if u.plugin == javascript::NAME && k == javascript::SOURCE {
            javascript::MAX_SOURCE_BYTES
        } else {
            limits::MAX_CONFIG_VALUE_BYTES
        };
        if v.len() > max {
            return Err(InvalidInput::new(
                format!("hooks.{hook}.config.{k}"),
                format!("the setting {k:?} is over {max} bytes"),
            ));
        }
    }
    let given = u.limits.unwrap_or(LimitsUpdate {
        fuel: None,
        timeout_ms: None,
        memory_bytes: None,
    });
    let defaults = javascript::default_limits(&u.plugin);
    let limits = Limits {
        fuel: given.fuel.unwrap_or(defaults.fuel),
        timeout_ms: given.timeout_ms.unwrap_or(defaults.timeout_ms),
        memory_bytes: given.memory_bytes.unwrap_or(defaults.memory_bytes),
    };
    limits.check_for(hook).map_err(|e| {
        InvalidInput::new(
            format!("hooks.{hook}.{}", e.field),
            format!("the {hook} hook: {}", e.message),
        )
    })?;
    Ok(HookSettings {
        plugin: u.plugin,
        config: u.config,
        policy,
        limits,
        allowed_hosts: u.allowed_hosts,
        secrets,
    })
}
