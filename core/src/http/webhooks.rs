//! Webhooks (admins): where the workspace's events are posted, signed, and
//! each post's log. The secret a webhook signs with is shown once, when it
//! is created (see `automation::webhooks` for the delivery itself).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin};
use crate::domain::InvalidInput;
use crate::domain::automation::EventKind;
use crate::store::{Audit, Delivery, Webhook, WebhookChange, webhook_events};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(change, delete))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    /// The events it hears: `ticket_created`, `ticket_updated`,
    /// `comment_added`, `chat_started`, `chat_closed`, `sla_breached`.
    events: Vec<String>,
    active: bool,
    /// Only in the answer to its creation: keep it to check signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl WebhookView {
    fn of(w: Webhook, with_secret: bool) -> Self {
        Self {
            events: webhook_events(&w).iter().map(|e| e.as_str().to_owned()).collect(),
            secret: with_secret.then(|| w.secret.clone()),
            id: w.id,
            url: w.url,
            active: w.active,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// Most characters a webhook's URL may have.
const MAX_URL_CHARS: usize = 2000;

async fn checked_url(state: &AppState, url: &str) -> Result<String, InvalidInput> {
    let url = url.trim();
    if url.chars().count() > MAX_URL_CHARS || url.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "url",
            format!("url must be one line of at most {MAX_URL_CHARS} characters"),
        ));
    }
    crate::automation::webhooks::check_url(url, state.webhooks_allow_private)
        .await
        .map_err(|e| InvalidInput::new("url", e))?;
    Ok(url.to_owned())
}

fn checked_events(events: &[String]) -> Result<Vec<EventKind>, InvalidInput> {
    if events.is_empty() {
        return Err(InvalidInput::new("events", "name at least one event"));
    }
    let mut kinds = Vec::new();
    for e in events {
        let kind: EventKind = e.parse().map_err(|_| {
            let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            InvalidInput::new(
                "events",
                format!("unknown event {e:?}: the events are {}", all.join(", ")),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// The workspace's webhooks (admins); secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "automations", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<WebhookView>)))]
async fn list(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<WebhookView>>, ApiError> {
    let hooks = state.store.webhooks(&admin.tenant_id).await?;
    Ok(axum::Json(
        hooks.into_iter().map(|w| WebhookView::of(w, false)).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://…` (or `http://…`) on a public address.
    url: String,
    events: Vec<String>,
    /// `true` unless said otherwise.
    active: Option<bool>,
}

/// Adds a webhook (admins); the answer carries its secret, this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "automations", security(("agent_token" = ["admin"])),
    request_body = NewWebhook,
    responses((status = 201, description = "Created, with its secret", body = WebhookView),
        (status = 409, description = "The workspace has as many webhooks as it may", body = ErrorBody),
        (status = 422, description = "Invalid input (a URL on a private address, an unknown event); the error names the field", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, axum::Json<WebhookView>), ApiError> {
    let events = checked_events(&body.events)?;
    let url = checked_url(&state, &body.url).await?;
    let hook = state
        .store
        .create_webhook(&admin.tenant_id, &url, &events, body.active.unwrap_or(true))
        .await?;
    let detail = serde_json::json!({"url": hook.url, "events": body.events});
    super::audit::record(&state, &admin, Audit::new("webhook.created", Some(&hook.id), detail)).await;
    Ok((StatusCode::CREATED, axum::Json(WebhookView::of(hook, true))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    url: Option<String>,
    events: Option<Vec<String>>,
    active: Option<bool>,
}

/// Changes a webhook's URL, events or whether it is active (admins).
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)), request_body = WebhookUpdate,
    responses((status = 200, description = "Changed", body = WebhookView),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn change(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookUpdate>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let events = body.events.as_deref().map(checked_events).transpose()?;
    let url = match &body.url {
        Some(u) => Some(checked_url(&state, u).await?),
        None => None,
    };
    let change = WebhookChange {
        url,
        events,
        active: body.active,
    };
    let hook = state
        .store
        .change_webhook(&admin.tenant_id, &id, change)
        .await
        .or_not_found("webhook")?;
    let detail = serde_json::json!({"url": body.url, "events": body.events, "active": body.active});
    super::audit::record(&state, &admin, Audit::new("webhook.changed", Some(&hook.id), detail)).await;
    Ok(axum::Json(WebhookView::of(hook, false)))
}

/// Deletes a webhook and its delivery log (admins).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_webhook(&admin.tenant_id, &id)
        .await
        .or_not_found("webhook")?;
    super::audit::record(
        &state,
        &admin,
        Audit::new("webhook.deleted", Some(&id), serde_json::json!({})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// Sent as `X-Threadline-Delivery`: the same on every retry and
    /// redelivery, for receivers to dedupe by.
    id: String,
    event: String,
    event_id: String,
    /// `queued` (waiting or retrying), `delivered` or `failed` (given up
    /// after a day).
    state: String,
    attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    last_status: Option<i32>,
    /// How long the last attempt took.
    latency_ms: Option<i32>,
    /// The start of the receiver's last answer (512 bytes at most).
    response_excerpt: Option<String>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// When it is tried next, while queued.
    next_attempt_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let queued = d.state == crate::store::delivery_state::QUEUED;
        Self {
            id: d.id,
            event: d.event,
            event_id: d.event_id,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            latency_ms: d.latency_ms,
            response_excerpt: d.response_excerpt,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            next_attempt_at: queued.then_some(d.next_attempt_at),
        }
    }
}

/// A webhook's newest deliveries, newest first (admins; the newest 100).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "automations", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Vec<DeliveryView>),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody)))]
async fn deliveries(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<DeliveryView>>, ApiError> {
    state
        .store
        .webhook(&admin.tenant_id, &id)
        .await
        .or_not_found("webhook")?;
    let list = state.store.deliveries(&admin.tenant_id, &id).await?;
    Ok(axum::Json(list.into_iter().map(DeliveryView::from).collect()))
}

/// Sends a delivery again now, with the same body and id (admins).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "automations",
    security(("agent_token" = ["admin"])),
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, description = "Queued to be sent now", body = DeliveryView),
        (status = 404, description = "No such delivery of this webhook", body = ErrorBody)))]
async fn redeliver(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, axum::Json<DeliveryView>), ApiError> {
    let d = state
        .store
        .redeliver(&admin.tenant_id, &id, &delivery_id)
        .await
        .or_not_found("delivery")?;
    state.automations.wake_sender();
    Ok((StatusCode::ACCEPTED, axum::Json(d.into())))
}
