//! Visitor-facing routes, used by the chat widget. A visitor starts a chat
//! with the workspace's public widget key and then acts with the token that
//! start hands back. They never see internal notes.

use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::chats::message_event;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthVisitor, Client, bearer_token};
use super::views::MessageView;
use crate::domain::hosting::WorkspaceStatus;
use crate::domain::{ChatStatus, EmailAddress, InvalidInput, MessageKind, Subject, message_body, single_line};
use crate::realtime::{Event, EventKind};
use crate::store::{Chat, NewMessage, Visitor};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_chat))
        .routes(routes!(visitor_message))
        .routes(routes!(visitor_chat))
        .routes(routes!(rate_chat))
        .routes(routes!(presence))
        .routes(routes!(leave_message))
}

#[derive(Deserialize, ToSchema)]
pub struct LeaveMessageRequest {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100)]
    visitor_name: Option<String>,
    /// Required: the answer comes by e-mail.
    #[schema(required = true, value_type = String, format = Email, max_length = 254)]
    visitor_email: Option<String>,
    #[schema(max_length = 255)]
    subject: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1, max_length = 10000)]
    message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LeftMessage {
    /// The ticket the message opened or joined, e.g. `TK-1042`; the
    /// visitor is mailed its number when the workspace acknowledges.
    ticket: Option<String>,
}

/// A visitor leaves a message while nobody is online: it becomes a ticket
/// through the workspace's hooks, as a mail from them would, and the
/// answer comes by e-mail.
#[utoipa::path(post, path = "/api/v1/widget/{widget_key}/messages", tag = "widget",
    params(("widget_key" = String, Path)), request_body = LeaveMessageRequest,
    responses((status = 201, description = "Received", body = LeftMessage),
        (status = 404, description = "No workspace has this widget key", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 403, description = "Blocked, suspended, or over the workspace's quota", body = ErrorBody),
        (status = 429, description = "Too many from this address; see Retry-After", body = ErrorBody)))]
async fn leave_message(
    State(state): State<AppState>,
    Client(client): Client,
    Path(widget_key): Path<String>,
    ApiJson(req): ApiJson<LeaveMessageRequest>,
) -> Result<(StatusCode, axum::Json<LeftMessage>), ApiError> {
    // The same door as a chat's start (the blocked addresses below too).
    let tenant = widget_door(&state, &widget_key, client).await?;
    let name = single_line("visitor_name", req.visitor_name.as_deref().unwrap_or(""), 100)?;
    let email = EmailAddress::parse("visitor_email", req.visitor_email.as_deref().unwrap_or("").trim())?;
    let subject = Subject::parse_optional("subject", req.subject.as_deref())?;
    let message = message_body("message", req.message.as_deref().unwrap_or(""))?;
    if state
        .store
        .is_blocked(&tenant.id, None, Some(email.normalized()))
        .await?
    {
        return Err(ApiError::Forbidden("chat is unavailable"));
    }
    let received = state
        .inbound
        .leave_message(&tenant, &email, &name, subject.as_ref().map(|s| s.as_str()), &message)
        .await
        .map_err(|e| match e {
            crate::inbound::ReceiveError::Store(e) => ApiError::from(e),
            other => ApiError::Unprocessable(other.to_string()),
        })?;
    let ticket = match received {
        crate::store::Received::Opened(t) | crate::store::Received::Joined(t, _) => {
            Some(crate::domain::TicketNumber(t.number).to_string())
        }
        // Over the sender's hourly limit: kept, and said no differently.
        _ => None,
    };
    Ok((StatusCode::CREATED, axum::Json(LeftMessage { ticket })))
}

#[derive(Serialize, ToSchema)]
pub struct PresenceView {
    /// Someone of the team is online now (said so, and their console is
    /// not quiet): the widget says a person is here.
    available: bool,
}

/// Whether someone is here to answer: what the widget shows before a chat
/// starts.
#[utoipa::path(get, path = "/api/v1/widget/{widget_key}/presence", tag = "widget",
    params(("widget_key" = String, Path)),
    responses((status = 200, description = "OK", body = PresenceView),
        (status = 404, description = "No workspace has this widget key", body = ErrorBody)))]
async fn presence(
    State(state): State<AppState>,
    Path(widget_key): Path<String>,
) -> Result<axum::Json<PresenceView>, ApiError> {
    let tenant = state
        .store
        .tenant_by_widget_key(&widget_key)
        .await
        .or_not_found("widget")?;
    // A suspended workspace has nobody to answer.
    let available =
        tenant.status == WorkspaceStatus::Active.as_str() && state.store.someone_available(&tenant.id).await?;
    Ok(axum::Json(PresenceView { available }))
}

/// The workspace a visitor writes to, through the door every new
/// conversation passes: the address's bucket, then the workspace's status
/// and quotas (suspended, or at its daily chats or its stored bytes: said
/// to the visitor, nothing written).
async fn widget_door(
    state: &AppState,
    widget_key: &str,
    client: std::net::IpAddr,
) -> Result<crate::store::Tenant, ApiError> {
    let tenant = state
        .store
        .tenant_by_widget_key(widget_key)
        .await
        .or_not_found("widget")?;
    state.rates.start_chat(&tenant.id, client).await?;
    state.store.check_chat_start(&tenant).await?;
    Ok(tenant)
}

#[derive(Deserialize, ToSchema)]
pub struct StartChatRequest {
    /// Required; one line.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100, example = "Grace Hopper")]
    visitor_name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    visitor_email: Option<String>,
    #[schema(max_length = 255)]
    subject: Option<String>,
    /// Required: the visitor's first message.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 10000)]
    message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StartChatResponse {
    chat_id: String,
    /// Shown once: send it as `Authorization: Bearer …` on the widget routes.
    visitor_token: String,
}

/// A visitor starts a chat on a site that embeds the widget. A visitor
/// back after a chat ended sends their token (`Authorization: Bearer`) to
/// stay the same visitor; the answer then hands the same token back.
#[utoipa::path(post, path = "/api/v1/widget/{widget_key}/chats", tag = "widget",
    params(("widget_key" = String, Path)), request_body = StartChatRequest,
    responses((status = 201, description = "Created", body = StartChatResponse), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 403, description = "The visitor or their address is blocked, the workspace is suspended (`workspace_suspended`) or it holds all it may (`quota_exceeded`): chat is unavailable", body = ErrorBody),
        (status = 429, description = "Too many chats from this address, or the workspace's chats for today (`quota_exceeded`); see Retry-After", body = ErrorBody)))]
async fn start_chat(
    State(state): State<AppState>,
    Client(client): Client,
    Path(widget_key): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartChatRequest>,
) -> Result<(StatusCode, axum::Json<StartChatResponse>), ApiError> {
    let tenant = widget_door(&state, &widget_key, client).await?;
    let name = single_line("visitor_name", req.visitor_name.as_deref().unwrap_or(""), 100)?;
    let email = match req.visitor_email.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => Some(EmailAddress::parse("visitor_email", e)?),
        _ => None,
    };
    let subject = Subject::parse_optional("subject", req.subject.as_deref())?;
    let message = message_body("message", req.message.as_deref().unwrap_or(""))?;
    // A visitor back with their token (after a chat ended) stays the same
    // visitor; a token that no longer works, or is another workspace's,
    // just starts afresh.
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let returning = match token {
        Some(token) => state
            .store
            .visitor_by_token(token, state.access.visitor_chats_closed_before())
            .await
            .ok()
            .map(|(v, _)| v)
            .filter(|v| v.tenant_id == tenant.id)
            .map(|v| (v, token)),
        None => None,
    };
    let blocked = state
        .store
        .is_blocked(
            &tenant.id,
            returning.as_ref().map(|(v, _)| v.id.as_str()),
            email.as_ref().map(EmailAddress::normalized),
        )
        .await?;
    if blocked {
        return Err(ApiError::Forbidden("chat is unavailable"));
    }
    let (chat, visitor_token) = state
        .store
        .start_chat(
            &tenant,
            &name,
            email.as_ref().map(EmailAddress::as_str),
            subject.as_ref().map(Subject::as_str),
            &message,
            returning.as_ref().map(|(v, t)| (v, *t)),
        )
        .await?;
    state
        .bus
        .publish(Event::new(&tenant.id, EventKind::ChatStarted, &chat.id))
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(StartChatResponse {
            chat_id: chat.id,
            visitor_token,
        }),
    ))
}

/// The chat, if it is this visitor's; 404 otherwise (never "forbidden", which
/// would confirm that the chat exists).
async fn own_chat(state: &AppState, visitor: &Visitor, chat_id: &str) -> Result<Chat, ApiError> {
    let chat = state
        .store
        .chat(&visitor.tenant_id, chat_id)
        .await
        .or_not_found("chat")?;
    if chat.visitor_id != visitor.id {
        return Err(ApiError::NotFound("chat"));
    }
    Ok(chat)
}

#[derive(Deserialize, ToSchema)]
pub struct VisitorMessageRequest {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 10000)]
    body: Option<String>,
}

/// The visitor sends a message to their open chat.
#[utoipa::path(post, path = "/api/v1/widget/chats/{chat_id}/messages", tag = "widget",
    security(("visitor_token" = [])), params(("chat_id" = String, Path)), request_body = VisitorMessageRequest,
    responses((status = 201, description = "Created", body = MessageView), (status = 403, description = "The visitor is blocked: chat is unavailable", body = ErrorBody), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody), (status = 409, description = "The state of the chat forbids it", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 429, description = "Too many messages; see Retry-After", body = ErrorBody)))]
async fn visitor_message(
    State(state): State<AppState>,
    AuthVisitor(visitor): AuthVisitor,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<VisitorMessageRequest>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    state.rates.visitor_message(&visitor.id).await?;
    own_chat(&state, &visitor, &chat_id).await?;
    if state
        .store
        .is_blocked(&visitor.tenant_id, Some(&visitor.id), None)
        .await?
    {
        return Err(ApiError::Forbidden("chat is unavailable"));
    }
    let body = message_body("body", req.body.as_deref().unwrap_or(""))?;
    let new = NewMessage {
        kind: MessageKind::Visitor,
        author_name: visitor.name.clone(),
        agent_id: None,
        body,
    };
    let message = state
        .store
        .post_message(&visitor.tenant_id, &chat_id, &new)
        .await
        .or_not_found("chat")?;
    state.bus.publish(message_event(&visitor.tenant_id, &message)).await;
    Ok((StatusCode::CREATED, axum::Json(message.into())))
}

#[derive(Serialize, ToSchema)]
pub struct RatingView {
    score: i16,
    comment: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct VisitorChatView {
    id: String,
    status: String,
    subject: Option<String>,
    /// Internal notes are never included.
    messages: Vec<MessageView>,
    /// True once the chat is closed (conversion included) and not yet rated.
    rating_prompt: bool,
    rating: Option<RatingView>,
}

/// The visitor's view of their chat.
#[utoipa::path(get, path = "/api/v1/widget/chats/{chat_id}", tag = "widget",
    security(("visitor_token" = [])), params(("chat_id" = String, Path)),
    responses((status = 200, description = "OK", body = VisitorChatView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody)))]
async fn visitor_chat(
    State(state): State<AppState>,
    AuthVisitor(visitor): AuthVisitor,
    Path(chat_id): Path<String>,
) -> Result<axum::Json<VisitorChatView>, ApiError> {
    let chat = own_chat(&state, &visitor, &chat_id).await?;
    let messages = state.store.messages(&visitor.tenant_id, &chat_id).await?;
    let rating = state.store.rating(&visitor.tenant_id, &chat_id).await?;
    let closed = chat.status == ChatStatus::Closed.as_str();
    Ok(axum::Json(VisitorChatView {
        rating_prompt: closed && rating.is_none(),
        rating: rating.map(|r| RatingView {
            score: r.score,
            comment: r.comment,
            created_at: r.created_at,
        }),
        id: chat.id,
        status: chat.status,
        subject: chat.subject,
        messages: messages
            .into_iter()
            .filter(|m| m.kind.parse::<MessageKind>().is_ok_and(MessageKind::is_public))
            .map(MessageView::from)
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RatingRequest {
    /// 1 (bad) to 5 (great).
    #[schema(required = true, value_type = i64, minimum = 1, maximum = 5)]
    score: Option<i64>,
    comment: Option<String>,
}

/// The visitor rates their closed chat, once.
#[utoipa::path(post, path = "/api/v1/widget/chats/{chat_id}/rating", tag = "widget",
    security(("visitor_token" = [])), params(("chat_id" = String, Path)), request_body = RatingRequest,
    responses((status = 201, description = "Created", body = RatingView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "Still open, or already rated", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn rate_chat(
    State(state): State<AppState>,
    AuthVisitor(visitor): AuthVisitor,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<RatingRequest>,
) -> Result<(StatusCode, axum::Json<RatingView>), ApiError> {
    own_chat(&state, &visitor, &chat_id).await?;
    let score = match req.score {
        Some(s @ 1..=5) => s as i16,
        _ => {
            return Err(InvalidInput::new("score", "score must be a whole number from 1 to 5").into());
        }
    };
    let comment = match req.comment.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => Some(message_body("comment", c)?),
        _ => None,
    };
    let rating = state
        .store
        .rate_chat(&visitor.tenant_id, &chat_id, score, comment.as_deref())
        .await
        .or_not_found("chat")?;
    state
        .bus
        .publish(Event::new(&visitor.tenant_id, EventKind::ChatRated, &chat_id))
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(RatingView {
            score: rating.score,
            comment: rating.comment,
            created_at: rating.created_at,
        }),
    ))
}
