//! Plugins (admins only): upload a component, list and delete them, and
//! read what they consumed and the faults they caused. Which plugin runs
//! each hook is the pipeline's (`pipeline.rs`).

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
use super::extract::AuthAdmin;
use super::operator::UsageFigures;
use super::pagination;
use crate::domain::hooks::HookKind;
use crate::domain::{InvalidInput, single_line};
use crate::plugins::manifest::Manifest;
use crate::plugins::{BUILTIN, Figures, UploadError, javascript, limits};
use crate::store::{PluginFaultRow, PluginInfo, PluginRow, is_uploaded_plugin_ref};

/// Bodies up to this size are read in full even when refused.
const MAX_UPLOAD_READ: usize = 4 * limits::MAX_PLUGIN_BYTES;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_plugin, list_plugins))
        .routes(routes!(delete_plugin))
        .routes(routes!(list_faults))
        .routes(routes!(plugin_usage))
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
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins", security(("agent_token" = ["admin"])), params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component's bytes"),
    responses((status = 201, description = "Installed", body = PluginView),
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
    tracing::info!(tenant = %admin.tenant_id, plugin = %crate::domain::log_text(&info.name), id = %info.id, hooks = %info.hooks, "plugin installed");
    let detail = serde_json::json!({"name": info.name, "hooks": info.hooks});
    super::audit::record(
        &state,
        &admin,
        crate::store::Audit::new("plugin.uploaded", Some(&info.id), detail),
    )
    .await;
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
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<PluginView>)))]
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
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", tag = "plugins", security(("agent_token" = ["admin"])),
    params(("id" = String, Path, description = "The plugin's id")),
    responses((status = 204, description = "Deleted"),
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
    let entry = crate::store::Audit::new("plugin.deleted", Some(&id), serde_json::json!({"sha256": sha256}));
    super::audit::record(&state, &admin, entry).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct UsageView {
    /// `hooks` covers this node's last `period_seconds`: each node of a
    /// deployment reports its own share there, with its time and faults.
    period_seconds: u32,
    /// The workspace's usage today (UTC), and this month's, summed over
    /// every node (as the operator sees it; counted in batches a few
    /// seconds apart).
    today: UsageFigures,
    this_month: UsageFigures,
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
#[utoipa::path(get, path = "/api/v1/plugins/usage", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = UsageView)))]
async fn plugin_usage(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<UsageView>, ApiError> {
    let slots = state.plugins.slot_settings();
    let now = Utc::now();
    let today = now.format("%Y-%m-%d").to_string();
    let month = now.format("%Y-%m-01").to_string();
    Ok(axum::Json(UsageView {
        today: UsageFigures::new(today.clone(), state.store.usage_since(&admin.tenant_id, &today).await?),
        this_month: UsageFigures::new(month.clone(), state.store.usage_since(&admin.tenant_id, &month).await?),
        period_seconds: 3600,
        hooks: state.plugins.usage(&admin.tenant_id),
        calls_at_once: slots.per_workspace,
        queue_timeout_ms: slots.queue_timeout.as_millis() as u64,
    }))
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
#[utoipa::path(get, path = "/api/v1/plugins/faults", tag = "plugins", security(("agent_token" = ["admin"])), params(FaultsQuery),
    responses((status = 200, description = "OK; a `Link: <…>; rel=\"next\"` header while more may follow", body = Vec<FaultView>),
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
