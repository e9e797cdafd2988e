//! Spam and blocked visitors: any agent marks a chat as spam (and may
//! block its visitor); admins list and lift blocks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::chats::chat_view;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin, AuthAgent};
use super::views::ChatView;
use crate::realtime::{Event, EventKind};
use crate::store::VisitorBlock;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mark_spam))
        .routes(routes!(list_blocks))
        .routes(routes!(unblock))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SpamReport {
    /// Also block the visitor: they can no longer start a chat or write.
    #[serde(default)]
    block: bool,
    /// With `block`: their e-mail address too, if they gave one.
    #[serde(default)]
    block_email: bool,
}

/// Marks a chat as spam: it is closed and leaves the chat lists; agents
/// see an internal line saying who did it.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/spam", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)), request_body = SpamReport,
    responses((status = 200, description = "Marked", body = ChatView),
        (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody)))]
async fn mark_spam(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
    ApiJson(report): ApiJson<SpamReport>,
) -> Result<axum::Json<ChatView>, ApiError> {
    let (chat, block) = state
        .store
        .mark_spam(&agent.tenant_id, &chat_id, &agent, report.block, report.block_email)
        .await
        .or_not_found("chat")?;
    state
        .bus
        .publish(Event::new(&agent.tenant_id, EventKind::ChatClosed, &chat.id))
        .await;
    tracing::info!(chat = %chat.id, by = %agent.id, blocked = block.is_some(), "chat marked as spam");
    Ok(axum::Json(chat_view(&state, &agent.tenant_id, &chat_id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct BlockView {
    id: String,
    visitor_name: String,
    /// The address blocked too, if any.
    email: Option<String>,
    /// The chat they were blocked from.
    chat_id: String,
    blocked_by: String,
    created_at: DateTime<Utc>,
}

impl From<VisitorBlock> for BlockView {
    fn from(b: VisitorBlock) -> Self {
        Self {
            id: b.id,
            visitor_name: b.visitor_name,
            email: b.email_normalized,
            chat_id: b.chat_id,
            blocked_by: b.blocked_by,
            created_at: b.created_at,
        }
    }
}

/// The workspace's blocked visitors, newest first (admins).
#[utoipa::path(get, path = "/api/v1/blocks", tag = "chats", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<BlockView>)))]
async fn list_blocks(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<BlockView>>, ApiError> {
    let blocks = state.store.blocks(&admin.tenant_id).await?;
    Ok(axum::Json(blocks.into_iter().map(BlockView::from).collect()))
}

/// Lifts a block (admins): the visitor may chat again.
#[utoipa::path(delete, path = "/api/v1/blocks/{block_id}", tag = "chats", security(("agent_token" = ["admin"])),
    params(("block_id" = String, Path)),
    responses((status = 204, description = "Lifted"),
        (status = 404, description = "No such block in this workspace", body = ErrorBody)))]
async fn unblock(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(block_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .unblock(&admin.tenant_id, &block_id)
        .await
        .or_not_found("block")?;
    Ok(StatusCode::NO_CONTENT)
}
