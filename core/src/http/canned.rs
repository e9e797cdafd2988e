//! Canned replies: every agent lists them (the composer inserts one with
//! `/`), admins write them. A body may hold `{visitor_name}`,
//! `{agent_name}` and `{ticket_number}`, which the console fills in where
//! it inserts the reply.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin, AuthAgent};
use crate::domain::{InvalidInput, message_body, single_line};
use crate::store::CannedReply;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(change, delete))
}

/// The variables a body may use.
const VARIABLES: [&str; 3] = ["{visitor_name}", "{agent_name}", "{ticket_number}"];

#[derive(Serialize, ToSchema)]
pub struct CannedReplyView {
    id: String,
    title: String,
    body: String,
    updated_at: DateTime<Utc>,
}

impl From<CannedReply> for CannedReplyView {
    fn from(c: CannedReply) -> Self {
        Self {
            id: c.id,
            title: c.title,
            body: c.body,
            updated_at: c.updated_at,
        }
    }
}

/// The workspace's canned replies, by title.
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "chats", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = Vec<CannedReplyView>)))]
async fn list(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
) -> Result<axum::Json<Vec<CannedReplyView>>, ApiError> {
    let replies = state.store.canned_replies(&agent.tenant_id).await?;
    Ok(axum::Json(replies.into_iter().map(CannedReplyView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCannedReply {
    /// What agents type after `/` to find it: one line, up to 100
    /// characters, unique in the workspace.
    title: String,
    /// Up to 10,000 characters; may use `{visitor_name}`, `{agent_name}`
    /// and `{ticket_number}`.
    body: String,
}

/// Adds a canned reply (admins).
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "chats", security(("agent_token" = ["admin"])),
    request_body = NewCannedReply,
    responses((status = 201, description = "Created", body = CannedReplyView),
        (status = 409, description = "The title is taken, or the workspace keeps as many as it may", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(body): ApiJson<NewCannedReply>,
) -> Result<(StatusCode, axum::Json<CannedReplyView>), ApiError> {
    let title = single_line("title", &body.title, 100)?;
    let text = reply_body(&body.body)?;
    let reply = state.store.create_canned_reply(&admin, &title, &text).await?;
    Ok((StatusCode::CREATED, axum::Json(reply.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyUpdate {
    title: Option<String>,
    body: Option<String>,
}

/// Changes a canned reply's title or body (admins).
#[utoipa::path(patch, path = "/api/v1/canned-replies/{id}", tag = "chats", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)), request_body = CannedReplyUpdate,
    responses((status = 200, description = "Changed", body = CannedReplyView),
        (status = 404, description = "No such canned reply in this workspace", body = ErrorBody),
        (status = 409, description = "The title is taken", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn change(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<CannedReplyUpdate>,
) -> Result<axum::Json<CannedReplyView>, ApiError> {
    if update.title.is_none() && update.body.is_none() {
        return Err(InvalidInput::new("title", "give a title, a body or both").into());
    }
    let title = update
        .title
        .as_deref()
        .map(|t| single_line("title", t, 100))
        .transpose()?;
    let text = update.body.as_deref().map(reply_body).transpose()?;
    let reply = state
        .store
        .change_canned_reply(&admin.tenant_id, &id, title.as_deref(), text.as_deref())
        .await
        .or_not_found("canned reply")?;
    Ok(axum::Json(reply.into()))
}

/// Deletes a canned reply (admins).
#[utoipa::path(delete, path = "/api/v1/canned-replies/{id}", tag = "chats", security(("agent_token" = ["admin"])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such canned reply in this workspace", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_canned_reply(&admin.tenant_id, &id)
        .await
        .or_not_found("canned reply")?;
    Ok(StatusCode::NO_CONTENT)
}

/// A body as messages take it; a `{…}` that is not one of the variables is
/// refused, so a typo never reaches a customer as braces.
fn reply_body(text: &str) -> Result<String, InvalidInput> {
    let body = message_body("body", text)?;
    let mut rest = body.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let known = VARIABLES.iter().find(|v| after.starts_with(**v));
        match known {
            Some(v) => rest = &after[v.len()..],
            None => {
                let shown: String = after.chars().take(30).collect();
                return Err(InvalidInput::new(
                    "body",
                    format!(
                        "body uses {shown:?}: the variables are {{visitor_name}}, {{agent_name}} and {{ticket_number}}"
                    ),
                ));
            }
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::reply_body;

    #[test]
    fn only_the_known_variables_pass() {
        assert!(reply_body("Hi {visitor_name}, {agent_name} here about {ticket_number}.").is_ok());
        let e = reply_body("Hi {visitor}!").unwrap_err();
        assert!(e.message.contains("{visitor_name}"), "{}", e.message);
    }
}
