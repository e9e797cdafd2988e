//! Automations (admins): the workspace's rules. A built-in rule
//! (`close-pending`, `escalate-before-breach`, `chat-wait-reply`) runs on
//! the schedule with its settings; a `javascript` rule runs on an event,
//! from its source. Both answer with actions the server applies in the
//! rule's name (see `store::rule_actions`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin};
use crate::domain::automation::{Builtin, BuiltinRule, EventKind, SCHEDULE};
use crate::domain::{InvalidInput, single_line};
use crate::store::{Agent, Audit, Automation, AutomationChange, NewAutomation};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, change, delete))
}

#[derive(Serialize, ToSchema)]
pub struct AutomationView {
    id: String,
    name: String,
    /// An event (`ticket_created`, `ticket_updated`, `comment_added`,
    /// `chat_started`, `chat_closed`, `sla_breached`) or `schedule` (the
    /// built-in timed rules).
    event: String,
    /// `close-pending`, `escalate-before-breach`, `chat-wait-reply` or
    /// `javascript`.
    plugin: String,
    /// The rule's settings: a built-in's (`days`, `minutes`, ...), or a
    /// JavaScript rule's `source`.
    #[schema(value_type = Object)]
    config: Value,
    enabled: bool,
    /// `{fuel, timeout_ms, memory_bytes}` when set; the plugin's defaults
    /// otherwise.
    #[schema(value_type = Option<Object>)]
    limits: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Why it last failed (it threw, hit a limit, answered something
    /// else, or an action of its answer was refused), and when.
    last_fault: Option<String>,
    last_fault_at: Option<DateTime<Utc>>,
}

impl From<Automation> for AutomationView {
    fn from(a: Automation) -> Self {
        Self {
            config: serde_json::from_str(&a.config).unwrap_or(Value::Null),
            limits: a.limits.as_deref().and_then(|l| serde_json::from_str(l).ok()),
            id: a.id,
            name: a.name,
            event: a.event,
            plugin: a.plugin,
            enabled: a.enabled,
            created_at: a.created_at,
            updated_at: a.updated_at,
            last_fault: a.last_fault,
            last_fault_at: a.last_fault_at,
        }
    }
}

/// The workspace's automations, oldest first (admins).
#[utoipa::path(get, path = "/api/v1/automations", tag = "automations", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<AutomationView>)))]
async fn list(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<AutomationView>>, ApiError> {
    let rules = state.store.automations(&admin.tenant_id).await?;
    Ok(axum::Json(rules.into_iter().map(AutomationView::from).collect()))
}

/// One automation (admins).
#[utoipa::path(get, path = "/api/v1/automations/{id}", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = AutomationView),
        (status = 404, description = "No such automation in this workspace", body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<axum::Json<AutomationView>, ApiError> {
    let rule = state
        .store
        .automation(&admin.tenant_id, &id)
        .await
        .or_not_found("automation")?;
    Ok(axum::Json(rule.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAutomationBody {
    /// One line, up to 100 characters: the activity names it.
    name: String,
    /// For a `javascript` rule, the event it runs on; a built-in runs on
    /// the schedule (`schedule`, which may be left out).
    event: Option<String>,
    plugin: String,
    #[schema(value_type = Object)]
    config: Value,
    /// `true` unless said otherwise.
    enabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    limits: Option<Value>,
}

/// What a rule's plugin, event and settings make, checked.
struct Checked {
    event: String,
    config: Value,
    limits: Option<Value>,
}

async fn check(
    state: &AppState,
    admin: &Agent,
    plugin: &str,
    event: Option<&str>,
    config: Value,
    limits: Option<Value>,
) -> Result<Checked, ApiError> {
    if let Ok(builtin) = plugin.parse::<Builtin>() {
        if event.is_some_and(|e| e != SCHEDULE) {
            return Err(InvalidInput::new("event", format!("{builtin} runs on the schedule: leave event out")).into());
        }
        if limits.is_some() {
            return Err(InvalidInput::new("limits", format!("{builtin} is built in and takes no limits")).into());
        }
        let rule = BuiltinRule::parse(builtin, &config)?;
        if let BuiltinRule::EscalateBeforeBreach {
            assignee_id: Some(id), ..
        } = &rule
        {
            let active = state.store.agent(&admin.tenant_id, id).await.ok().filter(|a| a.active);
            if active.is_none() {
                return Err(InvalidInput::new(
                    "config.assignee_id",
                    "assignee_id must be an active agent of this workspace",
                )
                .into());
            }
        }
        return Ok(Checked {
            event: SCHEDULE.to_owned(),
            config,
            limits: None,
        });
    }
    let Some(event) = event else {
        return Err(InvalidInput::new("event", "say which event the rule runs on").into());
    };
    let kind: EventKind = event.parse().map_err(|_| {
        let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        InvalidInput::new(
            "event",
            format!("unknown event {event:?}: the events are {}", all.join(", ")),
        )
    })?;
    let (config, limits) = state
        .plugins
        .check_event_rule(&admin.tenant_id, plugin, kind, config, limits)
        .await?;
    Ok(Checked {
        event: kind.as_str().to_owned(),
        config,
        limits,
    })
}

/// Adds an automation (admins).
#[utoipa::path(post, path = "/api/v1/automations", tag = "automations", security(("agent_token" = ["admin"])),
    request_body = NewAutomationBody,
    responses((status = 201, description = "Created", body = AutomationView),
        (status = 409, description = "The workspace has as many automations as it may", body = ErrorBody),
        (status = 422, description = "Invalid input (an unknown plugin or event, settings it refuses, a rule whose source does not load); the error names the field", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(body): ApiJson<NewAutomationBody>,
) -> Result<(StatusCode, axum::Json<AutomationView>), ApiError> {
    let name = single_line("name", &body.name, 100)?;
    let plugin = body.plugin.trim().to_owned();
    let checked = check(&state, &admin, &plugin, body.event.as_deref(), body.config, body.limits).await?;
    let new = NewAutomation {
        name,
        event: checked.event,
        plugin,
        config: checked.config.to_string(),
        enabled: body.enabled.unwrap_or(true),
        limits: checked.limits.map(|l| l.to_string()),
    };
    let rule = state.store.create_automation(&admin.tenant_id, new).await?;
    let detail = serde_json::json!({"name": rule.name, "event": rule.event, "plugin": rule.plugin});
    super::audit::record(&state, &admin, Audit::new("automation.created", Some(&rule.id), detail)).await;
    Ok((StatusCode::CREATED, axum::Json(rule.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationUpdate {
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    enabled: Option<bool>,
    /// `null` goes back to the plugin's defaults.
    #[schema(value_type = Option<Object>)]
    #[serde(default, deserialize_with = "super::extract::given")]
    limits: Option<Option<Value>>,
}

/// Changes an automation's name, settings, limits or whether it runs
/// (admins); its plugin and event stay.
#[utoipa::path(patch, path = "/api/v1/automations/{id}", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)), request_body = AutomationUpdate,
    responses((status = 200, description = "Changed", body = AutomationView),
        (status = 404, description = "No such automation in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn change(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AutomationUpdate>,
) -> Result<axum::Json<AutomationView>, ApiError> {
    let rule = state
        .store
        .automation(&admin.tenant_id, &id)
        .await
        .or_not_found("automation")?;
    let name = body.name.as_deref().map(|n| single_line("name", n, 100)).transpose()?;
    let mut change = AutomationChange {
        name,
        enabled: body.enabled,
        ..Default::default()
    };
    if body.config.is_some() || body.limits.is_some() {
        let config = body
            .config
            .clone()
            .unwrap_or_else(|| serde_json::from_str(&rule.config).unwrap_or(Value::Null));
        let limits = match &body.limits {
            Some(l) => l.clone(),
            None => rule.limits.as_deref().and_then(|l| serde_json::from_str(l).ok()),
        };
        let checked = check(&state, &admin, &rule.plugin, Some(&rule.event), config, limits).await?;
        change.config = Some(checked.config.to_string());
        change.limits = Some(checked.limits.map(|l| l.to_string()));
    }
    let rule = state
        .store
        .change_automation(&admin.tenant_id, &id, change)
        .await
        .or_not_found("automation")?;
    let detail = serde_json::json!({
        "name": body.name, "enabled": body.enabled,
        "config": body.config.is_some(), "limits": body.limits.is_some(),
    });
    super::audit::record(&state, &admin, Audit::new("automation.changed", Some(&rule.id), detail)).await;
    Ok(axum::Json(rule.into()))
}

/// Deletes an automation (admins).
#[utoipa::path(delete, path = "/api/v1/automations/{id}", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such automation in this workspace", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_automation(&admin.tenant_id, &id)
        .await
        .or_not_found("automation")?;
    super::audit::record(
        &state,
        &admin,
        Audit::new("automation.deleted", Some(&id), serde_json::json!({})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
