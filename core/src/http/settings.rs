//! Workspace settings (admins only).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, AuthAdmin};
use crate::domain::sla::MAX_TARGET_MINUTES;
use crate::domain::{EmailAddress, InvalidInput, single_line};
use crate::store::SettingsChange;
use crate::store::Tenant;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(rotate_inbound_key))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// Run the summary hook when a chat closes (conversion included).
    summary_on_close: bool,
    /// IANA time zone; plugins get it (and its offset) with every call.
    time_zone: String,
    /// Service level targets in minutes for tickets made from now on
    /// (`null`: none), counted from the chat's start.
    sla_first_response_minutes: Option<i32>,
    sla_resolution_minutes: Option<i32>,
    /// The display name the workspace's mail goes out under (replies say
    /// "<agent> from <it>"); the workspace's name when `null`.
    sender_name: Option<String>,
    /// Where answers to the workspace's mail go (a Reply-To header); the
    /// sender's address (`--smtp-from`) when `null`.
    reply_to: Option<String>,
    /// Mail requesters their new ticket's number (and a converted chat's
    /// transcript) when a ticket is made for them; only while the server
    /// sends mail.
    acknowledge_by_mail: bool,
    /// The secret in `inbound_url`; rotate it with
    /// `POST /api/v1/settings/inbound-key`.
    inbound_key: Option<String>,
    /// Where a mail relay posts the workspace's mail (raw RFC 5322, see
    /// README "Receiving e-mail").
    inbound_url: Option<String>,
    /// How long closed conversations and mail are kept (README "Personal
    /// data"), and what the last retention run deleted.
    retention: RetentionView,
    workspace: WorkspaceView,
}

#[derive(Serialize, ToSchema)]
pub struct RetentionView {
    /// Days a closed chat is kept after it closed; `null`: for ever.
    closed_chats_days: Option<i32>,
    /// Days a solved or closed ticket is kept after its last change, with
    /// its chat, comments and mail; `null`: for ever.
    closed_tickets_days: Option<i32>,
    /// Days received mail and copies of sent mail are kept; `null`: for ever.
    mail_days: Option<i32>,
    /// When the retention job last ran for this workspace.
    last_run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What that run deleted: `{chats, tickets, mails}`.
    #[schema(value_type = Option<Object>)]
    last_run: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    id: String,
    name: String,
    slug: String,
    /// The public key the chat widget starts chats with.
    widget_key: String,
}

impl SettingsView {
    fn new(t: Tenant, public_url: &str) -> Self {
        Self {
            acknowledge_by_mail: t.acknowledge_by_mail,
            inbound_url: t
                .inbound_key
                .as_ref()
                .map(|k| format!("{public_url}/api/v1/inbound/{k}")),
            inbound_key: t.inbound_key,
            retention: RetentionView {
                closed_chats_days: t.retention_closed_chats_days,
                closed_tickets_days: t.retention_closed_tickets_days,
                mail_days: t.retention_mail_days,
                last_run_at: t.retention_run_at,
                last_run: t.retention_counts.as_deref().and_then(|c| serde_json::from_str(c).ok()),
            },
            summary_on_close: t.summary_on_close,
            time_zone: t.time_zone,
            sla_first_response_minutes: t.sla_first_response_minutes,
            sla_resolution_minutes: t.sla_resolution_minutes,
            sender_name: t.sender_name,
            reply_to: t.reply_to,
            workspace: WorkspaceView {
                id: t.id,
                name: t.name,
                slug: t.slug,
                widget_key: t.widget_key,
            },
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SettingsUpdate {
    #[schema(value_type = bool)]
    summary_on_close: Option<bool>,
    /// An IANA name such as `Europe/Paris`.
    #[schema(value_type = String)]
    time_zone: Option<String>,
    /// Minutes from a chat's start to its first response, 1 to 525,600;
    /// `null` removes the target.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<i32>)]
    sla_first_response_minutes: Option<Option<i64>>,
    /// Minutes from a chat's start to its ticket being solved.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<i32>)]
    sla_resolution_minutes: Option<Option<i64>>,
    /// Up to 100 characters on one line; `null` goes back to the
    /// workspace's name.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<String>)]
    sender_name: Option<Option<String>>,
    /// An e-mail address; `null` removes it.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<String>)]
    reply_to: Option<Option<String>>,
    #[schema(value_type = bool)]
    acknowledge_by_mail: Option<bool>,
    /// Each field given is set: a whole number of days from 0 (what is
    /// closed goes at the next run) to 36,500, or `null` (kept for ever).
    #[schema(value_type = Option<RetentionUpdate>)]
    retention: Option<RetentionUpdate>,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionUpdate {
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<i32>)]
    closed_chats_days: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<i32>)]
    closed_tickets_days: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<i32>)]
    mail_days: Option<Option<i64>>,
}

/// Longest retention accepted, in days (a hundred years).
const MAX_RETENTION_DAYS: i64 = 36_500;

fn days(field: &'static str, v: Option<Option<i64>>) -> Result<Option<Option<i32>>, InvalidInput> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(d)) if (0..=MAX_RETENTION_DAYS).contains(&d) => Ok(Some(Some(d as i32))),
        Some(Some(_)) => Err(InvalidInput::new(
            field,
            format!("{field} must be a whole number of days from 0 to {MAX_RETENTION_DAYS}, or null"),
        )),
    }
}

fn minutes(field: &'static str, v: Option<i64>) -> Result<Option<i32>, InvalidInput> {
    match v {
        None => Ok(None),
        Some(m) if (1..=i64::from(MAX_TARGET_MINUTES)).contains(&m) => Ok(Some(m as i32)),
        Some(_) => Err(InvalidInput::new(
            field,
            format!("{field} must be a whole number of minutes from 1 to {MAX_TARGET_MINUTES}, or null"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = SettingsView)))]
async fn get_settings(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<SettingsView>, ApiError> {
    let tenant = state.store.tenant(&admin.tenant_id).await?;
    Ok(axum::Json(SettingsView::new(tenant, &state.addresses.public_url)))
}

/// A new inbound key: the old inbound URL stops working at once.
#[utoipa::path(post, path = "/api/v1/settings/inbound-key", tag = "settings", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "The settings, with the new key", body = SettingsView)))]
async fn rotate_inbound_key(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<SettingsView>, ApiError> {
    let tenant = state.store.rotate_inbound_key(&admin.tenant_id).await?;
    tracing::info!(tenant = %admin.tenant_id, agent = %admin.id, "inbound key rotated");
    Ok(axum::Json(SettingsView::new(tenant, &state.addresses.public_url)))
}

#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", security(("agent_token" = ["admin"])),
    request_body = SettingsUpdate,
    responses((status = 200, description = "OK", body = SettingsView), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(update): ApiJson<SettingsUpdate>,
) -> Result<axum::Json<SettingsView>, ApiError> {
    if update.summary_on_close.is_none()
        && update.time_zone.is_none()
        && update.sla_first_response_minutes.is_none()
        && update.sla_resolution_minutes.is_none()
        && update.sender_name.is_none()
        && update.reply_to.is_none()
        && update.acknowledge_by_mail.is_none()
        && update.retention.is_none()
    {
        return Err(InvalidInput::new("summary_on_close", "summary_on_close is required (true or false)").into());
    }
    // Check everything before changing anything.
    if let Some(zone) = &update.time_zone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(InvalidInput::new(
            "time_zone",
            format!("{zone:?} is not an IANA time zone name (such as Europe/Paris or UTC)"),
        )
        .into());
    }
    let first = update
        .sla_first_response_minutes
        .map(|v| minutes("sla_first_response_minutes", v))
        .transpose()?;
    let resolution = update
        .sla_resolution_minutes
        .map(|v| minutes("sla_resolution_minutes", v))
        .transpose()?;
    let sender_name = update
        .sender_name
        .map(|v| v.map(|n| single_line("sender_name", &n, 100)).transpose())
        .transpose()?;
    let reply_to = update
        .reply_to
        .map(|v| {
            v.map(|a| EmailAddress::parse("reply_to", &a).map(|a| a.as_str().to_owned()))
                .transpose()
        })
        .transpose()?;
    let retention = update.retention.unwrap_or_default();
    let change = SettingsChange {
        retention_closed_chats_days: days("retention.closed_chats_days", retention.closed_chats_days)?,
        retention_closed_tickets_days: days("retention.closed_tickets_days", retention.closed_tickets_days)?,
        retention_mail_days: days("retention.mail_days", retention.mail_days)?,
        sender_name,
        reply_to,
        time_zone: update.time_zone,
        sla_first_response_minutes: first,
        sla_resolution_minutes: resolution,
        summary_on_close: update.summary_on_close,
        acknowledge_by_mail: update.acknowledge_by_mail,
    };
    let tenant = state
        .store
        .change_settings(&admin.tenant_id, change, &crate::store::Actor::agent(&admin))
        .await?;
    Ok(axum::Json(SettingsView::new(tenant, &state.addresses.public_url)))
}
