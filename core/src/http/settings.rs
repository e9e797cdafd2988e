//! Workspace settings (admins only).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, AuthAdmin};
use crate::domain::InvalidInput;
use crate::store::Tenant;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// Run the summary hook when a chat closes (conversion included).
    summary_on_close: bool,
    /// IANA time zone; plugins get it (and its offset) with every call.
    time_zone: String,
    workspace: WorkspaceView,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    id: String,
    name: String,
    slug: String,
    /// The public key the chat widget starts chats with.
    widget_key: String,
}

impl From<Tenant> for SettingsView {
    fn from(t: Tenant) -> Self {
        Self {
            summary_on_close: t.summary_on_close,
            time_zone: t.time_zone,
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
}

#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = SettingsView), (status = 403, description = "Admins only", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<SettingsView>, ApiError> {
    Ok(axum::Json(state.store.tenant(&admin.tenant_id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", security(("agent_token" = [])),
    request_body = SettingsUpdate,
    responses((status = 200, description = "OK", body = SettingsView), (status = 403, description = "Admins only", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(update): ApiJson<SettingsUpdate>,
) -> Result<axum::Json<SettingsView>, ApiError> {
    if update.summary_on_close.is_none() && update.time_zone.is_none() {
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
    if let Some(zone) = &update.time_zone {
        state.store.set_time_zone(&admin.tenant_id, zone).await?;
    }
    if let Some(on) = update.summary_on_close {
        state.store.set_summary_on_close(&admin.tenant_id, on).await?;
    }
    Ok(axum::Json(state.store.tenant(&admin.tenant_id).await?.into()))
}
