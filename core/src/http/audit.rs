//! The audit log (admins): who signed in, read an export, erased a
//! contact, or changed roles, settings, the pipeline or plugins.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::AuthAdmin;
use super::pagination;
use crate::domain::InvalidInput;
use crate::store::AuditEntry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    id: String,
    at: DateTime<Utc>,
    /// `agent`, `operator` or `system`.
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    /// Such as `agent.signed_in`, `contact.exported`, `contact.erased`,
    /// `agent.changed`, `settings.changed`, `pipeline.changed`,
    /// `plugin.uploaded` (README "Personal data" lists them).
    action: String,
    /// The id of what it was done to.
    target: Option<String>,
    /// What changed: fields and counts, never personal data.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            id: e.id,
            at: e.at,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            action: e.action,
            target: e.target,
        }
    }
}

#[derive(Deserialize)]
pub struct AuditParams {
    limit: Option<String>,
    before: Option<String>,
    action: Option<String>,
}

/// The workspace's audit log, newest first, paged by `before` (the last
/// entry's id) and `limit`; `action=` keeps one action.
#[utoipa::path(get, path = "/api/v1/audit", tag = "settings", security(("agent_token" = ["admin"])),
    params(("limit" = Option<u64>, Query), ("before" = Option<String>, Query), ("action" = Option<String>, Query)),
    responses((status = 200, description = "OK", body = Vec<AuditView>),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Query(params): Query<AuditParams>,
) -> Result<(HeaderMap, axum::Json<Vec<AuditView>>), ApiError> {
    let limit = pagination::limit(params.limit.as_deref())?;
    let action = params.action.as_deref().filter(|a| !a.is_empty());
    if let Some(a) = action
        && (a.len() > 64 || !a.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
    {
        return Err(InvalidInput::new("action", "action is a name such as contact.erased").into());
    }
    let before = params.before.as_deref().filter(|b| !b.is_empty());
    let entries = state.store.audit_log(&admin.tenant_id, before, action, limit).await?;
    let last = entries.last().map(|e| e.id.clone());
    let query: Vec<(&str, &str)> = action.map(|a| vec![("action", a)]).unwrap_or_default();
    let headers = pagination::next_link("/api/v1/audit", &query, entries.len(), limit, last.as_deref());
    Ok((headers, axum::Json(entries.into_iter().map(AuditView::from).collect())))
}

/// Records what an agent did after their change committed (sign-ins,
/// roles, plugins, the pipeline: changes made by other modules' own
/// transactions). A failure to record is logged, not the caller's error:
/// the change stands either way.
pub(super) async fn record(state: &AppState, agent: &crate::store::Agent, entry: crate::store::Audit) {
    write(state, &agent.tenant_id, &crate::store::Actor::agent(agent), entry).await;
}

/// The same for what the hosting operator did to a workspace: its admins
/// see it in their log.
pub(super) async fn record_operator(state: &AppState, tenant_id: &str, operator: &str, entry: crate::store::Audit) {
    write(
        state,
        tenant_id,
        &crate::store::Actor::Operator(operator.to_owned()),
        entry,
    )
    .await;
}

async fn write(state: &AppState, tenant_id: &str, actor: &crate::store::Actor, entry: crate::store::Audit) {
    let action = entry.action;
    if let Err(e) = state.store.audit(tenant_id, actor, entry).await {
        tracing::error!(error = %e, action, tenant = %tenant_id, "cannot write the audit log");
    }
}
