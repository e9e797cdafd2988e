//! Plugins and the conversion pipeline (admins only): upload a component,
//! list and delete them, choose which plugin runs each hook with what
//! settings, limits and failure policy, and read the faults plugins caused.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin};
use super::pagination;
use crate::domain::ChatStatus;
use crate::domain::hooks::HookKind;
use crate::domain::{InvalidInput, single_line};
use crate::plugins::manifest::Manifest;
use crate::plugins::{self, BUILTIN, Figures, HookSettings, Limits, Policy, UploadError, javascript, limits};
use crate::store::{PluginFaultRow, PluginInfo, PluginRow, is_uploaded_plugin_ref};

/// Bodies up to this size are read in full even when refused.
const MAX_UPLOAD_READ: usize = 4 * limits::MAX_PLUGIN_BYTES;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_plugin, list_plugins))
        .routes(routes!(delete_plugin))
        .routes(routes!(hook_input))
        .routes(routes!(list_faults))
        .routes(routes!(plugin_usage))
        .routes(routes!(get_pipeline, put_pipeline))
        .routes(routes!(shadow_run))
        .routes(routes!(pipeline_history))
        .routes(routes!(rollback_pipeline))
        // Components are bigger than JSON bodies. The handler refuses anything
        // over the plugin limit with a clear 413; reading a body up to this
        // size first keeps the connection usable (a server that answers
        // before the body is in has to close it, and clients reusing it fail).
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_READ))
}

#[derive(Serialize, ToSchema)]
pub struct PluginView {
    /// For a built-in plugin, its name; for an uploaded one, its id.
    id: String,
    name: String,
    builtin: bool,
    /// The hooks it exports: `subject`, `transcript`, `assignment`, `summary`.
    hooks: Vec<String>,
    sha256: Option<String>,
    size_bytes: Option<i64>,
    uploaded_by: Option<String>,
    created_at: Option<DateTime<Utc>>,
    /// What the plugin says of itself (0.2.0 plugins with a `describe`
    /// export): its name, version, hooks and the settings it takes.
    manifest: Option<Manifest>,
}

impl From<PluginInfo> for PluginView {
    fn from(p: PluginInfo) -> Self {
        Self {
            hooks: p
                .hooks
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect(),
            id: p.id,
            name: p.name,
            builtin: false,
            sha256: Some(p.sha256),
            size_bytes: Some(p.size_bytes),
            uploaded_by: Some(p.uploaded_by),
            created_at: Some(p.created_at),
            manifest: p.manifest.as_deref().and_then(|m| serde_json::from_str(m).ok()),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// How the workspace will know the plugin: letters, digits, `-`, `_`, `.`
    /// (at most 64), unique in the workspace.
    name: Option<String>,
}

/// Installs a plugin: the body is a WebAssembly component (not JSON), for
/// example `curl --data-binary @plugin.wasm -H 'Content-Type: application/wasm'`.
/// It must export at least one hook of `threadline:plugin@0.1.0` and import
/// nothing but what the server provides. Precompiled code is refused.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", security(("agent_token" = [])), params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component's bytes"),
    responses((status = 201, description = "Installed", body = PluginView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 409, description = "A plugin with this name is installed", body = ErrorBody),
        (status = 413, description = "Over the size limit", body = ErrorBody),
        (status = 422, description = "Not a usable plugin (or too costly to compile); the message says why", body = ErrorBody),
        (status = 503, description = "Every compile slot stayed busy; try again after `Retry-After` seconds", body = ErrorBody)))]
async fn upload_plugin(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Query(q): Query<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<PluginView>), ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "a plugin may be at most {} MiB",
            limits::MAX_PLUGIN_BYTES >> 20
        ))
    };
    let wasm = body.map_err(|_| too_large())?;
    if wasm.len() > limits::MAX_PLUGIN_BYTES {
        return Err(too_large());
    }
    let name = q.name.as_deref().map(|n| plugin_name(Some(n))).transpose()?;
    if wasm.is_empty() {
        return Err(InvalidInput::new("wasm", "send the component's bytes as the request body").into());
    }
    let wasm = Arc::new(wasm.to_vec());
    let inspected = state
        .plugins
        .inspect(&admin.tenant_id, wasm.clone())
        .await
        .map_err(|e| match e {
            UploadError::Unusable(reason) => {
                ApiError::Invalid(InvalidInput::new("wasm", format!("not a usable plugin: {reason}")))
            }
            UploadError::Busy(reason) => ApiError::Busy(reason, 30),
            UploadError::Internal(reason) => ApiError::Internal(anyhow::anyhow!(reason)),
        })?;
    let hooks: Vec<&str> = inspected.hooks.iter().map(|h| h.as_str()).collect();
    // Without a name in the query, the name the plugin gives itself.
    let name = match (name, &inspected.manifest) {
        (Some(name), _) => name,
        (None, Some(m)) => plugin_name(Some(&m.name))?,
        (None, None) => plugin_name(None)?,
    };
    let row = PluginRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: admin.tenant_id.clone(),
        name,
        sha256: inspected.sha256.clone(),
        size_bytes: wasm.len() as i64,
        wasm: Arc::unwrap_or_clone(wasm),
        hooks: hooks.join(","),
        uploaded_by: admin.id.clone(),
        created_at: Utc::now(),
        manifest: inspected
            .manifest
            .as_ref()
            .map(|m| serde_json::to_string(m).expect("a manifest serializes")),
    };
    // Stored first: a refused insert (a duplicate name) keeps nothing.
    let info = state.store.insert_plugin(row).await?;
    state
        .plugins
        .installed(&admin.tenant_id, &info.id, &info.name, inspected);
    tracing::info!(tenant = %admin.tenant_id, plugin = %info.name, id = %info.id, hooks = %info.hooks, "plugin installed");
    Ok((StatusCode::CREATED, axum::Json(info.into())))
}

fn plugin_name(raw: Option<&str>) -> Result<String, InvalidInput> {
    let name = single_line("name", raw.unwrap_or(""), 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(InvalidInput::new(
            "name",
            "name may hold letters, digits, '-', '_' and '.' only",
        ));
    }
    if BUILTIN.iter().any(|(b, _)| *b == name) {
        return Err(InvalidInput::new(
            "name",
            format!("{name} is the name of a built-in plugin"),
        ));
    }
    Ok(name)
}

/// The plugins the workspace can run: the built-in ones, then its own.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = Vec<PluginView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody)))]
async fn list_plugins(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<PluginView>>, ApiError> {
    let mut views: Vec<PluginView> = Vec::new();
    for h in HookKind::ALL {
        views.push(PluginView {
            id: h.default_plugin().to_owned(),
            name: h.default_plugin().to_owned(),
            builtin: true,
            hooks: vec![h.as_str().to_owned()],
            sha256: None,
            size_bytes: None,
            uploaded_by: None,
            created_at: None,
            manifest: state.plugins.builtin_manifest(h.default_plugin()).await,
        });
    }
    views.push(PluginView {
        id: javascript::NAME.to_owned(),
        name: javascript::NAME.to_owned(),
        builtin: true,
        hooks: HookKind::ALL.iter().map(|h| h.as_str().to_owned()).collect(),
        sha256: None,
        size_bytes: None,
        uploaded_by: None,
        created_at: None,
        manifest: state.plugins.builtin_manifest(javascript::NAME).await,
    });
    views.extend(
        state
            .store
            .plugins(&admin.tenant_id)
            .await?
            .into_iter()
            .map(PluginView::from),
    );
    Ok(axum::Json(views))
}

/// Uninstalls a plugin. One the pipeline still runs cannot be deleted (409).
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", tag = "plugins", security(("agent_token" = [])),
    params(("id" = String, Path, description = "The plugin's id")),
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 404, description = "No such plugin in this workspace", body = ErrorBody),
        (status = 409, description = "The pipeline uses it", body = ErrorBody)))]
async fn delete_plugin(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !is_uploaded_plugin_ref(&id) {
        return Err(ApiError::NotFound("plugin"));
    }
    let sha256 = state
        .store
        .delete_plugin(&admin.tenant_id, &id)
        .await
        .or_not_found("plugin")?;
    state.plugins.deleted(&admin.tenant_id, &id, &sha256).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// This node's figures: each node of a deployment reports its own share.
    period_seconds: u32,
    /// Per hook and plugin: calls, fuel, wall time and time waiting for a
    /// slot (milliseconds), and faults by what stopped the plugin.
    hooks: Vec<Figures>,
    /// Plugin calls the workspace may run at once on this node, and how long
    /// one may wait for a slot.
    calls_at_once: usize,
    queue_timeout_ms: u64,
}

/// What the workspace's plugins consumed over the last hour, per hook and
/// plugin.
#[utoipa::path(get, path = "/api/v1/plugins/usage", tag = "plugins", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = UsageView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody)))]
async fn plugin_usage(State(state): State<AppState>, AuthAdmin(admin): AuthAdmin) -> axum::Json<UsageView> {
    let slots = state.plugins.slot_settings();
    axum::Json(UsageView {
        period_seconds: 3600,
        hooks: state.plugins.usage(&admin.tenant_id),
        calls_at_once: slots.per_workspace,
        queue_timeout_ms: slots.queue_timeout.as_millis() as u64,
    })
}

#[derive(Serialize, ToSchema)]
pub struct FaultView {
    id: String,
    hook: String,
    /// The plugin's id (or built-in name); empty when it could not be loaded.
    plugin: String,
    plugin_name: String,
    chat_id: Option<String>,
    reason: String,
    /// `fell_back` (the built-in rule ran instead) or `rejected` (the
    /// conversion failed and nothing changed).
    outcome: String,
    created_at: DateTime<Utc>,
}

impl From<PluginFaultRow> for FaultView {
    fn from(f: PluginFaultRow) -> Self {
        Self {
            id: f.id,
            hook: f.hook,
            plugin: f.plugin,
            plugin_name: f.plugin_name,
            chat_id: f.chat_id,
            reason: f.reason,
            outcome: f.outcome,
            created_at: f.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct FaultsQuery {
    /// Page size, 1 to 200 (50 by default).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The id of the last fault of the previous page.
    before: Option<String>,
}

/// Recent plugin faults, newest first: which hook, which plugin, which chat,
/// why, and what happened then.
#[utoipa::path(get, path = "/api/v1/plugins/faults", tag = "plugins", security(("agent_token" = [])), params(FaultsQuery),
    responses((status = 200, description = "OK; a `Link: <…>; rel=\"next\"` header while more may follow", body = Vec<FaultView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn list_faults(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Query(q): Query<FaultsQuery>,
) -> Result<(HeaderMap, axum::Json<Vec<FaultView>>), ApiError> {
    let limit = pagination::limit(q.limit.as_deref())?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(b) if uuid::Uuid::parse_str(b).is_ok() => Some(b),
        Some(_) => return Err(InvalidInput::new("before", "before must be a fault id").into()),
    };
    let faults = state.store.faults(&admin.tenant_id, before, limit).await?;
    let last = faults.last().map(|f| f.id.clone());
    let link = pagination::next_link("/api/v1/plugins/faults", &[], faults.len(), limit, last.as_deref());
    Ok((link, axum::Json(faults.into_iter().map(FaultView::from).collect())))
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
}

/// Which plugin runs each hook of the workspace's conversion pipeline.
#[utoipa::path(get, path = "/api/v1/pipeline", tag = "plugins", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = PipelineView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody)))]
async fn get_pipeline(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let settings = plugins::pipeline_settings(&state.store, &admin.tenant_id).await?;
    Ok(axum::Json(view(settings)))
}

fn view(settings: BTreeMap<HookKind, HookSettings>) -> PipelineView {
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
                    },
                )
            })
            .collect(),
        max_limits: Limits::MAX,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineUpdate {
    /// Settings by hook name; a hook left out goes back to its default.
    hooks: BTreeMap<String, HookUpdate>,
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
#[utoipa::path(put, path = "/api/v1/pipeline", tag = "plugins", security(("agent_token" = [])),
    request_body = PipelineUpdate,
    responses((status = 200, description = "OK", body = PipelineView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn put_pipeline(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(update): ApiJson<PipelineUpdate>,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let settings = checked_pipeline(&state, &admin.tenant_id, update.hooks).await?;
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
    let view = view(settings);
    let change = crate::store::PipelineChange {
        hooks: serde_json::to_string(&view.hooks).expect("a pipeline serializes"),
        agent_id: admin.id.clone(),
        agent_name: admin.name.clone(),
        note,
    };
    state
        .store
        .set_pipeline(&admin.tenant_id, rows, change)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::Invalid(InvalidInput::new("plugin", m)),
            other => other.into(),
        })?;
    Ok(view)
}

#[derive(Serialize, ToSchema)]
pub struct PipelineVersionView {
    version: i64,
    /// Every hook as that version set it, in the shape `PUT
    /// /api/v1/pipeline` takes.
    #[schema(value_type = Object)]
    hooks: serde_json::Value,
    changed_by: AgentRefView,
    changed_at: DateTime<Utc>,
    /// For a rollback: which version it restored.
    note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentRefView {
    id: String,
    name: String,
}

/// The workspace's pipeline changes, newest first: who, when, and the whole
/// pipeline each made (the newest 100 are kept, at most 4 M characters).
#[utoipa::path(get, path = "/api/v1/pipeline/history", tag = "plugins", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = Vec<PipelineVersionView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody)))]
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
    PipelineVersionView {
        version: row.version,
        // Written by this server; unreadable text would be our bug.
        hooks: serde_json::from_str(&row.hooks).unwrap_or_default(),
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
#[utoipa::path(post, path = "/api/v1/pipeline/rollback", tag = "plugins", security(("agent_token" = [])),
    request_body = RollbackRequest,
    responses((status = 200, description = "OK", body = PipelineView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
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
    let hooks: BTreeMap<String, HookUpdate> = serde_json::from_str(&row.hooks)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("pipeline version {} does not read: {e}", row.version)))?;
    let settings = checked_pipeline(&state, &admin.tenant_id, hooks).await?;
    let note = Some(format!("rolled back to version {}", row.version));
    Ok(axum::Json(save_pipeline(&state, &admin, settings, note).await?))
}

/// A whole pipeline from an update (hooks left out are their defaults),
/// every plugin checked: installed in this workspace, exporting its hook,
/// its settings as it declares them and as a built-in rule reads them.
async fn checked_pipeline(
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
                "hooks",
                format!("unknown hook {name:?}; the hooks are subject, transcript, assignment, summary and fields"),
            )
        })?;
        let s = hook_settings(hook, u)?;
        if plugins::is_native_default(hook, &s.plugin) {
            if !s.config.is_empty() {
                return Err(InvalidInput::new(
                    format!("hooks.{hook}.config"),
                    format!("{} takes no settings", s.plugin),
                )
                .into());
            }
            settings.insert(hook, s);
            continue;
        }
        let plugin = state.plugins.load(tenant_id, &s.plugin).await.map_err(|reason| {
            InvalidInput::new("plugin", format!("the {hook} hook cannot run {}: {reason}", s.plugin))
        })?;
        if !plugin.exports(hook) {
            return Err(InvalidInput::new("plugin", format!("{} does not export the {hook} hook", plugin.name)).into());
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
            check_rule(state, tenant_id, hook, &s).await?;
        }
        settings.insert(hook, s);
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
    let policy = match u.policy.as_deref() {
        None => Policy::Fallback,
        Some(p) => Policy::parse(p).ok_or_else(|| {
            InvalidInput::new("policy", format!("the {hook} hook's policy must be fallback or reject"))
        })?,
    };
    if u.config.len() > limits::MAX_CONFIG_ENTRIES {
        return Err(InvalidInput::new(
            "config",
            format!("at most {} settings per hook", limits::MAX_CONFIG_ENTRIES),
        ));
    }
    for (k, v) in &u.config {
        if k.is_empty() || k.len() > 64 || k.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "config",
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
    limits
        .check()
        .map_err(|e| InvalidInput::new(e.field, format!("the {hook} hook: {}", e.message)))?;
    Ok(HookSettings {
        plugin: u.plugin,
        config: u.config,
        policy,
        limits,
    })
}

#[derive(Deserialize, IntoParams)]
pub struct HookInputQuery {
    /// subject, transcript, assignment or summary.
    #[param(value_type = String)]
    hook: Option<String>,
}

/// What a hook gets (or would get) for this chat, converted by the caller,
/// in the chat-file format `threadline plugin run --chat` reads: a plugin
/// author replays production. Internal notes are left out, as they are for
/// every plugin (admins).
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/hook-input", tag = "plugins", security(("agent_token" = [])),
    params(("chat_id" = String, Path), HookInputQuery),
    responses((status = 200, description = "The chat file", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 404, description = "No such chat in this workspace", body = ErrorBody),
        (status = 422, description = "No such hook", body = ErrorBody)))]
async fn hook_input(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(chat_id): Path<String>,
    Query(q): Query<HookInputQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let hook = q
        .hook
        .as_deref()
        .and_then(HookKind::parse)
        .ok_or_else(|| InvalidInput::new("hook", "hook must be subject, transcript, assignment or summary"))?;
    let (chat, agent, candidates) = state.pipeline.hook_input(&admin.tenant_id, &admin, &chat_id).await?;
    let file = crate::plugins::local::ChatFile::exported(hook, &chat, &agent, &candidates);
    serde_json::to_value(file)
        .map(axum::Json)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Chats a shadow run may cover at once.
const MAX_SHADOW_CHATS: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// The candidate pipeline, as `PUT /api/v1/pipeline` takes it.
    hooks: BTreeMap<String, HookUpdate>,
    /// The workspace's last N closed (or converted) chats, newest first.
    last: Option<u32>,
    /// Or these chats of the workspace.
    chat_ids: Option<Vec<String>>,
    /// Only this hook (a rule being tried); every hook when absent.
    hook: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowView {
    chats: Vec<ShadowChat>,
    /// Chats where at least one hook answered differently.
    changed: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowChat {
    chat_id: String,
    hooks: Vec<ShadowHook>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowHook {
    hook: String,
    /// `{plugin, plugin_name, output, fault, fuel, peak_memory_bytes,
    /// elapsed_ms}` under the pipeline in use (`plugin` as the pipeline
    /// names it: a built-in's name or an upload's id).
    #[schema(value_type = Object)]
    current: serde_json::Value,
    /// The same under the candidate pipeline.
    #[schema(value_type = Object)]
    candidate: serde_json::Value,
    /// The output or the fault differs.
    changed: bool,
}

/// Runs the pipeline in use and a candidate side by side on recent chats,
/// without a policy between a plugin and its answer: each hook's output or
/// fault, fuel and time. Writes nothing (no ticket, no number, no fault).
#[utoipa::path(post, path = "/api/v1/pipeline/shadow", tag = "plugins", security(("agent_token" = [])),
    request_body = ShadowRequest,
    responses((status = 200, description = "OK", body = ShadowView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 404, description = "A chat named is not in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn shadow_run(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(req): ApiJson<ShadowRequest>,
) -> Result<axum::Json<ShadowView>, ApiError> {
    let only = match req.hook.as_deref() {
        None => None,
        Some(h) => Some(HookKind::parse(h).ok_or_else(|| {
            InvalidInput::new(
                "hook",
                "hook must be subject, transcript, assignment, summary or fields",
            )
        })?),
    };
    let candidate = checked_pipeline(&state, &admin.tenant_id, req.hooks).await?;
    let chat_ids: Vec<String> = match (req.last, req.chat_ids) {
        (Some(n), None) if (1..=MAX_SHADOW_CHATS as u32).contains(&n) => state
            .store
            .list_chats(&admin.tenant_id, Some(ChatStatus::Closed), None, None, u64::from(n))
            .await?
            .into_iter()
            .map(|c| c.chat.id)
            .collect(),
        (Some(_), None) => {
            return Err(InvalidInput::new("last", format!("last must be 1 to {MAX_SHADOW_CHATS}")).into());
        }
        (None, Some(ids)) if (1..=MAX_SHADOW_CHATS).contains(&ids.len()) => ids,
        (None, Some(_)) => {
            return Err(InvalidInput::new("chat_ids", format!("give 1 to {MAX_SHADOW_CHATS} chat ids")).into());
        }
        _ => return Err(InvalidInput::new("last", "give either last or chat_ids").into()),
    };
    let current = plugins::pipeline_settings(&state.store, &admin.tenant_id).await?;
    let mut chats = Vec::with_capacity(chat_ids.len());
    for chat_id in chat_ids {
        let (chat, agent, candidates) = state.pipeline.hook_input(&admin.tenant_id, &admin, &chat_id).await?;
        let input = plugins::local::Input {
            chat,
            agent,
            candidates,
        };
        let mut hooks = Vec::with_capacity(HookKind::ALL.len());
        for hook in HookKind::ALL.into_iter().filter(|h| only.is_none_or(|o| o == *h)) {
            let now = state
                .plugins
                .trial(&admin.tenant_id, hook, &current[&hook], &input)
                .await;
            let next = state
                .plugins
                .trial(&admin.tenant_id, hook, &candidate[&hook], &input)
                .await;
            let changed = now["output"] != next["output"] || now["fault"] != next["fault"];
            hooks.push(ShadowHook {
                hook: hook.as_str().to_owned(),
                current: now,
                candidate: next,
                changed,
            });
        }
        chats.push(ShadowChat { chat_id, hooks });
    }
    let changed = chats.iter().filter(|c| c.hooks.iter().any(|h| h.changed)).count();
    Ok(axum::Json(ShadowView { chats, changed }))
}
