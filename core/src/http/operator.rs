//! The operator API (`/api/operator/v1`): the hosting provider's back
//! office, apart from every workspace. Operator tokens (`tlo_…`, made with
//! `threadline operator-token create`) open these routes and no other;
//! no workspace's token opens these.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, bearer, unauthorized_if_missing};
use super::pagination;
use crate::domain::hosting::{Quotas, WorkspaceStatus, check_slug};
use crate::domain::team::console_link;
use crate::domain::{EmailAddress, InvalidInput, single_line};
use crate::realtime::Event;
use crate::store::{OperatorToken, Tenant, Usage};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workspaces, create_workspace))
        .routes(routes!(workspace, change_workspace, delete_workspace))
        .routes(routes!(export_workspace))
        .routes(routes!(import_workspace))
}

/// The operator, from `Authorization: Bearer <operator token>`.
pub struct AuthOperator(pub OperatorToken);

impl FromRequestParts<AppState> for AuthOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        // Only operator tokens are looked up here: a workspace's token is
        // not one (its prefix says so), and costs no query.
        if !token.starts_with("tlo_") {
            return Err(ApiError::Unauthorized);
        }
        let operator = state
            .store
            .operator_by_token(token)
            .await
            .map_err(unauthorized_if_missing)?;
        Ok(AuthOperator(operator))
    }
}

/// What a workspace used, summed over the days asked for, every node's
/// counts included.
#[derive(Serialize, ToSchema, Default)]
pub struct UsageFigures {
    /// The first day counted (`YYYY-MM-DD`, UTC).
    since: String,
    conversions: i64,
    chats: i64,
    messages: i64,
    mails_sent: i64,
    plugin_calls: i64,
    plugin_fuel: i64,
    /// Bytes of text and code written (a deleted plugin counts back).
    stored_bytes: i64,
}

impl UsageFigures {
    pub(super) fn new(since: String, u: Usage) -> Self {
        Self {
            since,
            conversions: u.conversions,
            chats: u.chats,
            messages: u.messages,
            mails_sent: u.mails_sent,
            plugin_calls: u.plugin_calls,
            plugin_fuel: u.plugin_fuel,
            stored_bytes: u.stored_bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    id: String,
    name: String,
    slug: String,
    /// `active` or `suspended`.
    status: String,
    /// What the widget's snippet carries.
    widget_key: String,
    created_at: DateTime<Utc>,
    /// The limits in force: the operator's overrides over the server's
    /// defaults; `null` is unlimited.
    quotas: Quotas,
    /// What it holds, as the meter counts it (updated every few seconds).
    stored_bytes: i64,
    /// This month's usage (UTC); in a workspace's own answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageFigures>,
}

impl WorkspaceView {
    fn new(state: &AppState, t: Tenant) -> Self {
        Self {
            quotas: state.store.quotas_of(&t),
            id: t.id,
            name: t.name,
            slug: t.slug,
            status: t.status,
            widget_key: t.widget_key,
            created_at: t.created_at,
            stored_bytes: t.stored_bytes,
            usage: None,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewWorkspace {
    name: String,
    /// Taken from the name when left out (with a number added when taken);
    /// one asked for must be free.
    slug: Option<String>,
    admin_email: String,
    admin_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWorkspace {
    #[serde(flatten)]
    workspace: WorkspaceView,
    /// The first admin's invitation link (valid 7 days, once); also mailed
    /// when the server sends mail.
    invitation_url: String,
}

/// Makes a workspace and invites its first admin.
#[utoipa::path(post, path = "/api/operator/v1/workspaces", tag = "operator", security(("operator_token" = [])),
    request_body = NewWorkspace,
    responses((status = 201, description = "Created", body = CreatedWorkspace),
        (status = 409, description = "The slug asked for is taken", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn create_workspace(
    State(state): State<AppState>,
    AuthOperator(operator): AuthOperator,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<(StatusCode, axum::Json<CreatedWorkspace>), ApiError> {
    let name = single_line("name", &body.name, 100)?;
    let slug = match body.slug.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(check_slug("slug", s)?),
        _ => None,
    };
    let email = EmailAddress::parse("admin_email", &body.admin_email)?;
    let admin_name = single_line("admin_name", &body.admin_name, 100)?;
    let public_url = &state.addresses.public_url;
    let (tenant, _invitation, token) = state
        .store
        .create_workspace(&name, slug.as_deref(), &email, &admin_name, public_url)
        .await?;
    state.mailer.wake();
    tracing::info!(operator = %operator.name, workspace = %tenant.id, slug = %tenant.slug, "workspace created");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWorkspace {
            workspace: WorkspaceView::new(&state, tenant),
            invitation_url: console_link(public_url, "invitation", &token),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct WorkspacesQuery {
    /// `active` or `suspended`; all when left out.
    status: Option<String>,
    /// Page size, 1 to 200 (50 by default).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The id of the last workspace of the previous page.
    before: Option<String>,
}

/// The workspaces, newest first.
#[utoipa::path(get, path = "/api/operator/v1/workspaces", tag = "operator", security(("operator_token" = [])),
    params(WorkspacesQuery),
    responses((status = 200, description = "OK; a `Link: <…>; rel=\"next\"` header while more may follow", body = Vec<WorkspaceView>),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn list_workspaces(
    State(state): State<AppState>,
    _operator: AuthOperator,
    Query(q): Query<WorkspacesQuery>,
) -> Result<(HeaderMap, axum::Json<Vec<WorkspaceView>>), ApiError> {
    let limit = pagination::limit(q.limit.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(WorkspaceStatus::parse("status", s)?),
    };
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(b) if uuid::Uuid::parse_str(b).is_ok() => Some(b),
        Some(_) => return Err(InvalidInput::new("before", "before must be a workspace id").into()),
    };
    let page = state.store.workspaces(status, before, limit).await?;
    let last = page.last().map(|w| w.tenant.id.clone());
    let filters: Vec<(&str, &str)> = status.map(|s| ("status", s.as_str())).into_iter().collect();
    let link = pagination::next_link(
        "/api/operator/v1/workspaces",
        &filters,
        page.len(),
        limit,
        last.as_deref(),
    );
    Ok((
        link,
        axum::Json(page.into_iter().map(|w| WorkspaceView::new(&state, w.tenant)).collect()),
    ))
}

/// One workspace, with its quotas and this month's usage.
#[utoipa::path(get, path = "/api/operator/v1/workspaces/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = WorkspaceView),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
async fn workspace(
    State(state): State<AppState>,
    _operator: AuthOperator,
    Path(id): Path<String>,
) -> Result<axum::Json<WorkspaceView>, ApiError> {
    let tenant = state.store.tenant(&id).await.or_not_found("workspace")?;
    Ok(axum::Json(with_usage(&state, tenant).await?))
}

async fn with_usage(state: &AppState, tenant: Tenant) -> Result<WorkspaceView, ApiError> {
    let now = Utc::now();
    let usage = state.store.usage_this_month(&tenant.id, now).await?;
    let mut view = WorkspaceView::new(state, tenant);
    view.usage = Some(UsageFigures::new(now.format("%Y-%m-01").to_string(), usage));
    Ok(view)
}

#[derive(Deserialize, ToSchema)]
pub struct WorkspaceChange {
    /// `active` or `suspended`.
    status: Option<String>,
    /// Quotas to override: `agents`, `plugins`, `plugin_bytes`,
    /// `mails_per_day`, `chats_per_day`, `stored_bytes`, each a whole
    /// number or `null` for unlimited. Those left out stay as they are.
    #[schema(value_type = Object)]
    quotas: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Suspends or resumes a workspace, or changes its quotas. A suspended
/// workspace keeps all its data; its agents get 403, its widget starts no
/// chat, its plugins do not run and its mail waits in the outbox.
#[utoipa::path(patch, path = "/api/operator/v1/workspaces/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path)), request_body = WorkspaceChange,
    responses((status = 200, description = "Changed", body = WorkspaceView),
        (status = 404, description = "No such workspace", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn change_workspace(
    State(state): State<AppState>,
    AuthOperator(operator): AuthOperator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WorkspaceChange>,
) -> Result<axum::Json<WorkspaceView>, ApiError> {
    let status = body
        .status
        .as_deref()
        .map(|s| WorkspaceStatus::parse("status", s))
        .transpose()?;
    let tenant = state
        .store
        .change_workspace(&id, status, body.quotas.as_ref())
        .await
        .or_not_found("workspace")?;
    if status == Some(WorkspaceStatus::Active) {
        // Mail held back while suspended goes now.
        state.mailer.wake();
    }
    if status == Some(WorkspaceStatus::Suspended) {
        // Its agents' open sockets close on every node.
        state.bus.publish(Event::workspace_suspended(&tenant.id)).await;
    }
    tracing::info!(operator = %operator.name, workspace = %tenant.id, status = %tenant.status, quotas = %tenant.quotas, "workspace changed");
    let detail = serde_json::json!({"status": tenant.status, "quotas": serde_json::from_str::<serde_json::Value>(&tenant.quotas).unwrap_or_default()});
    let entry = crate::store::Audit::new("workspace.changed", Some(&tenant.id), detail);
    super::audit::record_operator(&state, &tenant.id, &operator.name, entry).await;
    Ok(axum::Json(with_usage(&state, tenant).await?))
}

/// Erases the workspace: every row of it in every table, and its plugins'
/// cached code; answers once that is done. Nothing of it can be restored
/// (export it first to keep a copy).
#[utoipa::path(delete, path = "/api/operator/v1/workspaces/{id}", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Erased"),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
async fn delete_workspace(
    State(state): State<AppState>,
    AuthOperator(operator): AuthOperator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let plugins = state.store.delete_workspace(&id).await.or_not_found("workspace")?;
    for (plugin_id, sha256) in &plugins {
        state.plugins.deleted(&id, plugin_id, sha256).await;
    }
    state.bus.publish(Event::workspace_suspended(&id)).await;
    tracing::info!(operator = %operator.name, workspace = %id, plugins = plugins.len(), "workspace erased");
    Ok(StatusCode::NO_CONTENT)
}

/// The whole workspace as JSON lines (`application/x-ndjson`), streamed
/// from one snapshot: the format is in the README ("Hosting"); secrets
/// (credentials, password hashes, invitation and visitor tokens) are left
/// out. A stream without its last line (`{"end": true, ...}`) was cut
/// short.
#[utoipa::path(get, path = "/api/operator/v1/workspaces/{id}/export", tag = "operator", security(("operator_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "The export, one JSON object a line", content_type = "application/x-ndjson", body = String),
        (status = 404, description = "No such workspace", body = ErrorBody)))]
async fn export_workspace(
    State(state): State<AppState>,
    AuthOperator(operator): AuthOperator,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let tenant = state.store.tenant(&id).await.or_not_found("workspace")?;
    // Handing a workspace's data out is worth a line in the log.
    tracing::info!(operator = %operator.name, workspace = %id, "workspace exported");
    let entry = crate::store::Audit::new("workspace.exported", Some(&tenant.id), serde_json::json!({}));
    super::audit::record_operator(&state, &tenant.id, &operator.name, entry).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.export_workspace(&id, tx).await {
            // The stream ends without its last line: an import refuses it.
            tracing::error!(workspace = %id, error = %e, "the export stopped");
        }
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, std::convert::Infallible>(line), rx))
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(lines));
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{}.ndjson\"", tenant.slug)) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// The slug to load it under; the exported one when left out.
    slug: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportedWorkspace {
    #[serde(flatten)]
    workspace: WorkspaceView,
    /// Rows loaded.
    rows: u64,
    /// Whether its ids were given anew: the workspace was on this server
    /// already (a copy). A workspace new here keeps its ids (a move).
    new_ids: bool,
}

/// Loads an export (the body, as `GET …/export` gave it) as a new
/// workspace, all of it or nothing. Its agents set a password (a reset by
/// mail, or `threadline agent set-password`) before they sign in.
#[utoipa::path(post, path = "/api/operator/v1/workspaces/import", tag = "operator", security(("operator_token" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "application/x-ndjson", description = "A workspace export"),
    responses((status = 201, description = "Imported", body = ImportedWorkspace),
        (status = 409, description = "The slug is taken here", body = ErrorBody),
        (status = 422, description = "Not a complete export this server reads; nothing was written", body = ErrorBody)))]
async fn import_workspace(
    State(state): State<AppState>,
    AuthOperator(operator): AuthOperator,
    Query(q): Query<ImportQuery>,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<ImportedWorkspace>), ApiError> {
    let slug = match q.slug.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(check_slug("slug", s)?),
        _ => None,
    };
    let imported = state.store.import_workspace(lines(body), slug.as_deref()).await?;
    tracing::info!(operator = %operator.name, workspace = %imported.tenant.id, rows = imported.rows, new_ids = imported.new_ids, "workspace imported");
    let view = with_usage(&state, imported.tenant).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ImportedWorkspace {
            workspace: view,
            rows: imported.rows,
            new_ids: imported.new_ids,
        }),
    ))
}

/// The body's lines, each at most `MAX_LINE_BYTES` long and UTF-8.
fn lines(body: axum::body::Body) -> impl futures_util::Stream<Item = Result<String, String>> + Unpin {
    use futures_util::StreamExt;
    struct Reading {
        chunks: axum::body::BodyDataStream,
        buffer: Vec<u8>,
        done: bool,
    }
    let start = Reading {
        chunks: body.into_data_stream(),
        buffer: Vec::new(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(start, |mut r| async move {
        loop {
            if let Some(end) = r.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = r.buffer.drain(..=end).collect();
                let text = String::from_utf8(line).map_err(|_| "a line is not UTF-8".to_owned());
                return Some((text.map(|t| t.trim_end().to_owned()), r));
            }
            if r.buffer.len() > crate::store::MAX_LINE_BYTES {
                r.done = true;
                r.buffer.clear();
                return Some((
                    Err(format!("a line is over {} MiB", crate::store::MAX_LINE_BYTES >> 20)),
                    r,
                ));
            }
            if r.done {
                if r.buffer.is_empty() {
                    return None;
                }
                let line = std::mem::take(&mut r.buffer);
                let text = String::from_utf8(line).map_err(|_| "a line is not UTF-8".to_owned());
                return Some((text, r));
            }
            match r.chunks.next().await {
                Some(Ok(chunk)) => r.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    r.done = true;
                    r.buffer.clear();
                    return Some((Err(format!("the body could not be read: {e}")), r));
                }
                None => r.done = true,
            }
        }
    }))
}
