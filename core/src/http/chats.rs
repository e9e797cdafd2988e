//! Agent-side chat routes, the Convert panel included.

use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAgent, Bearer, admit_agent, unauthorized_if_missing};
use super::pagination;
use super::views::*;
use crate::conversion::ConvertInput;
use crate::domain::{ChatStatus, InvalidInput, MessageKind, SearchQuery, TicketStatus, message_body};
use crate::realtime::{Event, EventKind};
use crate::store::{ChatListing, Doer, NewMessage, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats))
        .routes(routes!(get_chat, assign_chat))
        .routes(routes!(inbox_counts))
        .routes(routes!(post_message))
        .routes(routes!(close_chat))
        .routes(routes!(reopen_chat))
        .routes(routes!(get_conversion))
        .routes(routes!(preview_conversion))
        .routes(routes!(convert))
}

#[derive(Deserialize, IntoParams)]
pub struct ListChatsQuery {
    /// `open` or `closed`; all chats when absent.
    #[param(inline, value_type = Option<StatusFilter>)]
    status: Option<String>,
    /// Page size, 1 to 200 (50 by default).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The id of the last chat of the previous page.
    before: Option<String>,
    /// Words, each of which starts a word of the chat: the visitor's name
    /// or email, the subject, or a message (`ana refu`).
    q: Option<String>,
    /// `me` (the caller's chats), `none` (nobody's), or an agent's id.
    assignee: Option<String>,
    /// `waiting`: only open chats whose visitor wrote last, the longest
    /// waiting first; `activity` (the default): the newest activity first.
    sort: Option<String>,
}

/// The chat list's filter, for the OpenAPI document. The handler parses the
/// string itself so that a bad value gets our 422 naming the field.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum StatusFilter {
    Open,
    Closed,
}

/// Chats of the caller's workspace, newest first, a page at a time (see the
/// `Link` header for the next page).
#[utoipa::path(get, path = "/api/v1/chats", tag = "chats", params(ListChatsQuery),
    security(("agent_token" = [])),
    responses((status = 200, description = "OK; a `Link: <…>; rel=\"next\"` header while more may follow", body = Vec<ChatListItemView>),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn list_chats(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Query(q): Query<ListChatsQuery>,
) -> Result<(HeaderMap, axum::Json<Vec<ChatListItemView>>), ApiError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<ChatStatus>()
                .map_err(|_| InvalidInput::new("status", "status must be open or closed"))?,
        ),
    };
    let limit = pagination::limit(q.limit.as_deref())?;
    let search = SearchQuery::parse(q.q.as_deref())?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(id) => Some(state.store.chat(&agent.tenant_id, id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::Invalid(InvalidInput::new("before", "before must be the id of a chat")),
            other => other.into(),
        })?),
    };
    let assignee = match q.assignee.as_deref() {
        None | Some("") => None,
        Some("me") => Some(Some(agent.id.clone())),
        Some("none") => Some(None),
        Some(id) if id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            Some(Some(id.to_owned()))
        }
        Some(_) => return Err(InvalidInput::new("assignee", "assignee is me, none or an agent's id").into()),
    };
    let longest_waiting = match q.sort.as_deref() {
        None | Some("") | Some("activity") => false,
        Some("waiting") => true,
        Some(_) => return Err(InvalidInput::new("sort", "sort is activity or waiting").into()),
    };
    let listing = ChatListing {
        status,
        search: search.as_ref(),
        assignee,
        longest_waiting,
        before: before.as_ref(),
        limit,
    };
    let items = state.store.list_chats(&agent.tenant_id, &listing).await?;
    let searched = search.as_ref().map(SearchQuery::to_url_value);
    let mut filters: Vec<(&str, &str)> = status.iter().map(|s| ("status", s.as_str())).collect();
    filters.extend(searched.as_deref().map(|q| ("q", q)));
    filters.extend(q.assignee.as_deref().filter(|a| !a.is_empty()).map(|a| ("assignee", a)));
    filters.extend(longest_waiting.then_some(("sort", "waiting")));
    let link = pagination::next_link(
        "/api/v1/chats",
        &filters,
        items.len(),
        limit,
        items.last().map(|i| i.chat.id.as_str()),
    );
    let views = items
        .into_iter()
        .map(|i| ChatListItemView {
            has_ticket: i.chat.ticket_id.is_some(),
            id: i.chat.id,
            status: i.chat.status,
            subject: i.chat.subject,
            visitor: VisitorView {
                id: i.visitor.id,
                name: i.visitor.name,
                email: i.visitor.email,
            },
            created_at: i.chat.created_at,
            updated_at: i.chat.updated_at,
            last_message: i.chat.last_message_preview,
            waiting: i.chat.last_message_kind.as_deref() == Some("visitor"),
            assignee_id: i.chat.assignee_id,
        })
        .collect();
    Ok((link, axum::Json(views)))
}

#[derive(Serialize, ToSchema)]
pub struct InboxCountsView {
    /// Open chats whose visitor wrote last: what the console's title counts.
    waiting: u64,
    /// Open chats assigned to the caller.
    mine: u64,
    /// Open chats nobody has.
    unassigned: u64,
}

/// How many open chats wait, are the caller's, and are nobody's.
#[utoipa::path(get, path = "/api/v1/chats/counts", tag = "chats", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = InboxCountsView)))]
async fn inbox_counts(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
) -> Result<axum::Json<InboxCountsView>, ApiError> {
    let c = state.store.inbox_counts(&agent.tenant_id, &agent.id).await?;
    Ok(axum::Json(InboxCountsView {
        waiting: c.waiting,
        mine: c.mine,
        unassigned: c.unassigned,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatAssignment {
    /// An active agent of the workspace (the caller's own id takes the
    /// chat), or `null` for nobody.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(required = true, value_type = Option<String>)]
    assignee_id: Option<Option<String>>,
}

/// Gives an open chat to an agent (assign, take, transfer) or to nobody.
/// Agents see who did it in the thread, as an internal line; visitors do
/// not.
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)), request_body = ChatAssignment,
    responses((status = 200, description = "OK", body = ChatView),
        (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "The chat is closed", body = ErrorBody),
        (status = 422, description = "Not an active agent of this workspace", body = ErrorBody)))]
async fn assign_chat(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
    ApiJson(body): ApiJson<ChatAssignment>,
) -> Result<axum::Json<ChatView>, ApiError> {
    let Some(assignee) = body.assignee_id else {
        return Err(InvalidInput::new(
            "assignee_id",
            "assignee_id is required: an agent's id, or null for nobody",
        )
        .into());
    };
    let (_, line) = state
        .store
        .assign_chat(&agent.tenant_id, &chat_id, &agent, assignee.as_deref())
        .await
        .or_not_found("chat")?;
    if let Some(line) = &line {
        state.bus.publish(message_event(&agent.tenant_id, line)).await;
    }
    Ok(axum::Json(chat_view(&state, &agent.tenant_id, &chat_id).await?))
}

/// A chat with its whole thread (internal notes included) and ticket link.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, description = "OK", body = ChatView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody)))]
async fn get_chat(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
) -> Result<axum::Json<ChatView>, ApiError> {
    Ok(axum::Json(chat_view(&state, &agent.tenant_id, &chat_id).await?))
}

pub(super) async fn chat_view(state: &AppState, tenant_id: &str, chat_id: &str) -> Result<ChatView, ApiError> {
    let store = &state.store;
    let chat = store.chat(tenant_id, chat_id).await.or_not_found("chat")?;
    let visitor = store.visitor(tenant_id, &chat.visitor_id).await?;
    let assignee = match &chat.assignee_id {
        Some(id) => store.agent(tenant_id, id).await.ok().map(AgentRef::from),
        None => None,
    };
    let ticket = match &chat.ticket_id {
        Some(id) => Some(TicketRef::of(&store.ticket(tenant_id, id).await?)),
        None => None,
    };
    let messages = store.messages(tenant_id, chat_id).await?;
    let rating = store.rating(tenant_id, chat_id).await?;
    Ok(ChatView {
        id: chat.id,
        status: chat.status,
        subject: chat.subject,
        visitor: VisitorView {
            id: visitor.id,
            name: visitor.name,
            email: visitor.email,
        },
        assignee,
        first_response_at: chat.first_response_at,
        summary: chat.summary,
        ticket,
        created_at: chat.created_at,
        updated_at: chat.updated_at,
        closed_at: chat.closed_at,
        messages: messages.into_iter().map(MessageView::from).collect(),
        rating: rating.map(|r| RatingView {
            score: r.score,
            comment: r.comment,
            created_at: r.created_at,
        }),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct PostMessageRequest {
    #[schema(required = true, value_type = String, min_length = 1, max_length = 10000)]
    body: Option<String>,
    /// An internal note: seen by agents only, never by the visitor, never
    /// copied into a ticket.
    #[serde(default)]
    internal: bool,
}

/// An agent replies, or adds an internal note. The first reply that is not
/// internal sets the chat's first_response_at.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)), request_body = PostMessageRequest,
    responses((status = 201, description = "Created", body = MessageView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "The chat is closed", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn post_message(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<PostMessageRequest>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    let body = message_body("body", req.body.as_deref().unwrap_or(""))?;
    let new = NewMessage {
        kind: if req.internal {
            MessageKind::InternalNote
        } else {
            MessageKind::Agent
        },
        author_name: agent.name.clone(),
        agent_id: Some(agent.id.clone()),
        body,
    };
    let message = state
        .store
        .post_message(&agent.tenant_id, &chat_id, &new)
        .await
        .or_not_found("chat")?;
    state.bus.publish(message_event(&agent.tenant_id, &message)).await;
    Ok((StatusCode::CREATED, axum::Json(message.into())))
}

/// The live update for a new message (an internal note is marked, so that
/// visitors' sockets skip it).
pub(super) fn message_event(tenant_id: &str, message: &crate::store::Message) -> Event {
    let mut event = Event::new(tenant_id, EventKind::MessageCreated, &message.chat_id);
    event.message_id = Some(message.id);
    event.internal = message.kind == MessageKind::InternalNote.as_str();
    event
}

/// Closes an open chat. The visitor is then asked for a rating, and the
/// summary at close runs if the workspace enabled it.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/close", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, description = "OK", body = ChatView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody), (status = 409, description = "The state of the chat forbids it", body = ErrorBody)))]
async fn close_chat(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
) -> Result<axum::Json<ChatView>, ApiError> {
    state
        .store
        .close_chat(&agent.tenant_id, &chat_id, Doer::agent(&agent))
        .await
        .or_not_found("chat")?;
    state.pipeline.after_close(&agent.tenant_id, &chat_id);
    state
        .bus
        .publish(Event::new(&agent.tenant_id, EventKind::ChatClosed, &chat_id))
        .await;
    Ok(axum::Json(chat_view(&state, &agent.tenant_id, &chat_id).await?))
}

/// Reopens a closed chat (converted or not). A converted chat keeps its
/// ticket link; a system message records the reopening. The conversation
/// going on means the request is not settled: its ticket, if pending or
/// solved, is open again (kept in the ticket's activity, by the agent who
/// reopened); a closed ticket stays closed.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/reopen", tag = "chats", security(("agent_token" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, description = "OK", body = ChatView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "The chat is already open", body = ErrorBody)))]
async fn reopen_chat(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
) -> Result<axum::Json<ChatView>, ApiError> {
    let chat = state
        .store
        .reopen_chat(&agent.tenant_id, &chat_id, Doer::agent(&agent))
        .await
        .or_not_found("chat")?;
    if let Some(ticket_id) = &chat.ticket_id {
        let ticket = state.store.ticket(&agent.tenant_id, ticket_id).await?;
        let status = ticket.status.parse::<TicketStatus>().ok();
        if matches!(status, Some(TicketStatus::Pending | TicketStatus::Solved)) {
            let change = crate::store::TicketChange {
                status: Some(TicketStatus::Open),
                ..Default::default()
            };
            // A separate transaction: should it fail, the chat is open all
            // the same and the agent sets the ticket by hand.
            state
                .store
                .change_ticket(&agent.tenant_id, ticket.number, Doer::agent(&agent), &change)
                .await?;
        }
    }
    state
        .bus
        .publish(Event::new(&agent.tenant_id, EventKind::ChatReopened, &chat_id))
        .await;
    Ok(axum::Json(chat_view(&state, &agent.tenant_id, &chat_id).await?))
}

/// The Convert to ticket panel's pre-filled fields: the email the chat
/// captured, and the default subject.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/conversion", tag = "conversion", security(("agent_token" = [])),
    params(("chat_id" = String, Path)),
    responses((status = 200, description = "OK", body = PrefillView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody)))]
async fn get_conversion(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
) -> Result<axum::Json<PrefillView>, ApiError> {
    let prefill = state.pipeline.prefill(&agent.tenant_id, &chat_id).await?;
    Ok(axum::Json(PrefillView {
        visitor_email: prefill.visitor_email,
        subject: prefill.subject,
    }))
}

/// A dry run of the conversion: what would be created. Commits nothing.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/conversion/preview", tag = "conversion",
    security(("agent_token" = [])), params(("chat_id" = String, Path)), request_body = ConvertRequest,
    responses((status = 200, description = "OK", body = PreviewView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 502, description = "A conversion hook failed", body = ErrorBody)))]
async fn preview_conversion(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(chat_id): Path<String>,
    ApiJson(req): ApiJson<ConvertRequest>,
) -> Result<axum::Json<PreviewView>, ApiError> {
    let input = ConvertInput {
        visitor_email: req.visitor_email,
        subject: req.subject,
        reason: req.reason,
    };
    let plan = state
        .pipeline
        .preview(&agent.tenant_id, &agent, &chat_id, &input)
        .await?;
    Ok(axum::Json(PreviewView {
        subject: plan.subject,
        description: plan.transcript,
        status: TicketStatus::InProgress.to_string(),
        assignee: AgentRef {
            id: plan.assignee.id,
            name: plan.assignee.name,
        },
        requester: PreviewRequesterView {
            email: plan.requester_email.as_str().to_owned(),
            name: plan.requester_name,
            exists: plan.requester_exists,
        },
        first_response_at: plan.first_response_at,
        existing_ticket: plan.existing_ticket.as_ref().map(TicketRef::of),
    }))
}

/// Converts the chat to a ticket. 201 with the new ticket; any repeat (a
/// double click, a second agent) gets 200 with the same ticket.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/conversion", tag = "conversion",
    security(("agent_token" = [])), params(("chat_id" = String, Path)), request_body = ConvertRequest,
    responses((status = 201, description = "Converted", body = TicketView),
        (status = 200, description = "Already converted: the existing ticket", body = TicketView),
        (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody),
        (status = 502, description = "A conversion hook failed", body = ErrorBody)))]
async fn convert(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    Path(chat_id): Path<String>,
    request: axum::extract::Request,
) -> Result<(StatusCode, axum::Json<TicketView>), ApiError> {
    // The token and the chat in one read; the caller is admitted (or
    // refused) as every agent request is before its body is read, so the
    // order of the answers is theirs: 401, then the body's 400 or 422, then
    // a 404 for a chat their workspace does not have.
    let read = state
        .store
        .authorized_snapshot(&token, &chat_id)
        .await
        .map_err(unauthorized_if_missing)?;
    let agent = admit_agent(&state, read.agent, read.credential, read.status)
        .await?
        .agent;
    let ApiJson(req) = ApiJson::<ConvertRequest>::from_request(request, &state).await?;
    let input = ConvertInput {
        visitor_email: req.visitor_email,
        subject: req.subject,
        reason: req.reason,
    };
    let mut event = Event::new(&agent.tenant_id, EventKind::ChatConverted, &chat_id);
    // On PostgreSQL the event leaves with the commit; in memory, after it.
    let notice = state.bus.numbered_notice(event.clone());
    let sent_with_commit = notice.is_some();
    let converted = state
        .pipeline
        .convert_read(read.snapshot, &agent, &chat_id, &input, notice)
        .await
        .map_err(ApiError::from);
    state.metrics.conversion(match &converted {
        Ok(c) if c.created => "created",
        Ok(_) => "repeated",
        Err(e) => e.code(),
    });
    let converted = converted?;
    let status = if converted.created {
        if !sent_with_commit {
            event.ticket = Some(crate::domain::TicketNumber(converted.ticket.number).to_string());
            state.bus.publish(event).await;
        }
        // Its acknowledgement, if one was queued, goes now.
        state.mailer.wake();
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = match converted.parties {
        // A new ticket: its requester and assignee came out of the
        // conversion itself.
        Some((requester, assignee)) => {
            let assignee = AgentRef {
                id: assignee.id,
                name: assignee.name,
            };
            TicketView::build(converted.ticket, Some(assignee), requester)
        }
        None => TicketView::load(&state, converted.ticket).await?,
    };
    Ok((status, axum::Json(view)))
}
