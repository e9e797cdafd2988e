//! Ticket routes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAgent};
use super::pagination;
use super::views::{AgentRef, CommentView, TicketView};
use crate::conversion::NewTicket;
use crate::domain::hooks::{Priority, TicketFields};
use crate::domain::{
    EmailAddress, InvalidInput, SearchQuery, Subject, TicketNumber, TicketStatus, message_body, single_line,
};
use crate::realtime::Event;
use crate::store::{Agent, Doer, Requester, TicketChange, TicketFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(get_ticket, patch_ticket))
        .routes(routes!(add_comment))
}

#[derive(Deserialize, IntoParams)]
pub struct ListTicketsQuery {
    /// Page size, 1 to 200 (50 by default).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The number of the last ticket of the previous page, e.g. `TK-1050`.
    before: Option<String>,
    /// Only tickets of this status.
    status: Option<String>,
    /// Only tickets assigned to this agent (an id).
    assignee: Option<String>,
    /// Only tickets of this requester (an id).
    requester: Option<String>,
    /// `number` (newest first, the default) or `due`: tickets with a
    /// service level target still to meet, soonest due first.
    sort: Option<String>,
    /// `true`: only tickets past their next due time, most overdue first
    /// (implies `sort=due`).
    breached: Option<String>,
    /// Words, each of which starts a word of the ticket: its number
    /// (`TK-1001`), subject, requester's name or email, or a comment.
    q: Option<String>,
}

/// Tickets of the caller's workspace, newest number first, a page at a time
/// (see the `Link` header for the next page).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("agent_token" = [])), params(ListTicketsQuery),
    responses((status = 200, description = "OK; a `Link: <…>; rel=\"next\"` header while more may follow", body = Vec<TicketView>),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn list_tickets(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Query(q): Query<ListTicketsQuery>,
) -> Result<(HeaderMap, axum::Json<Vec<TicketView>>), ApiError> {
    let limit = pagination::limit(q.limit.as_deref())?;
    let breached = match q.breached.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(InvalidInput::new("breached", "breached must be true or false").into()),
    };
    let by_due = match q.sort.as_deref() {
        None | Some("") | Some("number") => breached,
        Some("due") => true,
        Some(_) => return Err(InvalidInput::new("sort", "sort must be number or due").into()),
    };
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(_) if by_due => None,
        Some(raw) => Some(
            TicketNumber::parse(raw)
                .ok_or_else(|| InvalidInput::new("before", "before must be a ticket number like TK-1050"))?
                .0,
        ),
    };
    let status =
        match q.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(s.parse::<TicketStatus>().map_err(|_| {
                InvalidInput::new("status", "status must be open, in_progress, pending, solved or closed")
            })?),
        };
    // Ids are UUIDs: anything else matches nothing, and is refused so that
    // a typo is not read as an empty list.
    let id = |field: &'static str, raw: Option<&str>| -> Result<Option<String>, InvalidInput> {
        match raw {
            None | Some("") => Ok(None),
            Some(v) if uuid::Uuid::parse_str(v).is_ok() => Ok(Some(v.to_owned())),
            Some(_) => Err(InvalidInput::new(field, format!("{field} must be an id"))),
        }
    };
    let filter = TicketFilter {
        status,
        assignee_id: id("assignee", q.assignee.as_deref())?,
        requester_id: id("requester", q.requester.as_deref())?,
        search: SearchQuery::parse(q.q.as_deref())?,
    };
    let store = &state.store;
    let tickets = if by_due {
        let after = match q.before.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(due_cursor(raw).ok_or_else(|| {
                InvalidInput::new("before", "before must be the cursor of the previous page's Link header")
            })?),
        };
        let overdue_at = breached.then(chrono::Utc::now);
        store
            .list_tickets_by_due(&agent.tenant_id, &filter, overdue_at, after, limit)
            .await?
    } else {
        store.list_tickets(&agent.tenant_id, &filter, before, limit).await?
    };
    let last = tickets.last().map(|t| match (by_due, t.due_at) {
        (true, Some(due)) => format!("{}.{}", due.timestamp_micros(), t.number),
        _ => TicketNumber(t.number).to_string(),
    });
    let mut kept: Vec<(&str, &str)> = Vec::new();
    if by_due {
        kept.push(("sort", "due"));
    }
    if breached {
        kept.push(("breached", "true"));
    }
    if let Some(s) = filter.status {
        kept.push(("status", s.as_str()));
    }
    if let Some(a) = &filter.assignee_id {
        kept.push(("assignee", a));
    }
    if let Some(r) = &filter.requester_id {
        kept.push(("requester", r));
    }
    let searched = filter.search.as_ref().map(SearchQuery::to_url_value);
    if let Some(q) = &searched {
        kept.push(("q", q));
    }
    let link = pagination::next_link("/api/v1/tickets", &kept, tickets.len(), limit, last.as_deref());
    // Three queries for the whole page, not two more per ticket; each
    // reads the page's own agents and requesters, not the workspace's.
    let mut assignees: Vec<String> = tickets.iter().filter_map(|t| t.assignee_id.clone()).collect();
    assignees.sort();
    assignees.dedup();
    let agents: HashMap<String, Agent> = store
        .agents_by_ids(&agent.tenant_id, assignees)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let ids = tickets.iter().map(|t| t.requester_id.clone()).collect();
    let requesters: HashMap<String, Requester> = store
        .requesters_by_ids(&agent.tenant_id, ids)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut views = Vec::with_capacity(tickets.len());
    for t in tickets {
        let assignee = t.assignee_id.as_ref().and_then(|id| agents.get(id)).cloned();
        let requester = requesters
            .get(&t.requester_id)
            .cloned()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ticket {} has no requester", t.id)))?;
        views.push(TicketView::build(t, assignee.map(AgentRef::from), requester));
    }
    Ok((link, axum::Json(views)))
}

/// The due-sorted list's cursor: `<due time in µs since the epoch>.<number>`.
fn due_cursor(raw: &str) -> Option<(chrono::DateTime<chrono::Utc>, i64)> {
    let (micros, number) = raw.split_once('.')?;
    let due = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((due, number.parse().ok()?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketRequest {
    /// Required: the requester's address (found in the workspace, or a new
    /// requester).
    #[schema(required = true, value_type = String, format = Email, max_length = 254)]
    requester_email: Option<String>,
    /// A new requester's name (up to 100 characters); by default the part
    /// of the address before `@`. A known requester keeps theirs.
    requester_name: Option<String>,
    /// Required, 1 to 255 characters.
    #[schema(required = true, value_type = String, max_length = 255)]
    subject: Option<String>,
    /// Required, 1 to 10,000 characters: the ticket's description.
    #[schema(required = true, value_type = String)]
    body: Option<String>,
    /// `low`, `normal`, `high` or `urgent`; wins over the fields hook's.
    priority: Option<String>,
    /// An active agent of the workspace; without it the assignment hook
    /// picks.
    assignee_id: Option<String>,
    /// `true`: the body is also mailed to the requester, as the ticket's
    /// first public reply. `false` (the default) mails nothing.
    #[serde(default)]
    notify: bool,
}

/// Makes a ticket by hand (no chat behind it): open, its assignee from the
/// request or the workspace's assignment hook, its fields from the fields
/// hook, numbered on from the workspace's counter.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", security(("agent_token" = [])), request_body = NewTicketRequest,
    responses((status = 201, description = "Created", body = TicketView),
        (status = 422, description = "Invalid input, or a plugin failed; the error names the field or the plugin", body = ErrorBody)))]
async fn create_ticket(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    ApiJson(req): ApiJson<NewTicketRequest>,
) -> Result<(StatusCode, axum::Json<TicketView>), ApiError> {
    let requester_email = EmailAddress::parse("requester_email", req.requester_email.as_deref().unwrap_or(""))?;
    let requester_name = match req.requester_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Some(single_line("requester_name", name, 100)?),
    };
    let subject = Subject::parse_optional("subject", req.subject.as_deref())?
        .ok_or_else(|| InvalidInput::new("subject", "subject is required"))?;
    let body = message_body("body", req.body.as_deref().unwrap_or(""))?;
    let priority = match req.priority.as_deref() {
        None => None,
        Some(p) => Some(
            Priority::parse(p)
                .ok_or_else(|| InvalidInput::new("priority", "priority must be low, normal, high or urgent"))?,
        ),
    };
    let new = NewTicket {
        requester_email,
        requester_name,
        subject,
        body,
        priority,
        assignee_id: req.assignee_id,
        notify: req.notify,
    };
    let made = state.pipeline.create_ticket(&agent.tenant_id, &agent, new).await?;
    if made.reply.as_ref().is_some_and(|(_, mail)| mail.is_some()) {
        state.mailer.wake();
    }
    let number = TicketNumber(made.ticket.number).to_string();
    state
        .bus
        .publish(Event::ticket_updated(&agent.tenant_id, &number))
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(with_activity(&state, made.ticket).await?),
    ))
}

/// A ticket by its number (`TK-1001`), with its "Originated from chat" link.
#[utoipa::path(get, path = "/api/v1/tickets/{number}", tag = "tickets", security(("agent_token" = [])),
    params(("number" = String, Path, example = "TK-1001")),
    responses((status = 200, description = "OK", body = TicketView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody)))]
async fn get_ticket(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(number): Path<String>,
) -> Result<axum::Json<TicketView>, ApiError> {
    let number = TicketNumber::parse(&number).ok_or(ApiError::NotFound("ticket"))?;
    let ticket = state
        .store
        .ticket_by_number(&agent.tenant_id, number.0)
        .await
        .or_not_found("ticket")?;
    Ok(axum::Json(with_activity(&state, ticket).await?))
}

/// The ticket's view with its activity and comments.
async fn with_activity(state: &AppState, ticket: crate::store::Ticket) -> Result<TicketView, ApiError> {
    let events = state.store.ticket_events(&ticket.tenant_id, &ticket.id).await?;
    let comments = state.store.ticket_comments(&ticket.tenant_id, &ticket.id).await?;
    let mail = state
        .store
        .ticket_mail(&ticket.tenant_id, &ticket.id, crate::store::MAX_COMMENTS_SHOWN)
        .await?;
    let mut view = TicketView::load(state, ticket).await?;
    view.received_mail = Some(mail.into_iter().map(Into::into).collect());
    view.activity = Some(events.into_iter().map(Into::into).collect());
    view.comments = Some(comments.into_iter().map(|(c, m)| CommentView::new(c, m)).collect());
    view.email_delivery = Some(if state.mailer.configured() {
        "smtp"
    } else {
        "not_configured"
    });
    Ok(view)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 10,000 characters; newlines are kept.
    #[schema(value_type = String)]
    body: Option<String>,
    /// `true` for agents only; `false` (the default) mails it to the
    /// requester.
    #[serde(default)]
    internal: bool,
}

/// Comments on a ticket. A public comment is mailed to the requester (see
/// `delivery` on the comment) and, as the ticket's first public answer,
/// sets its `first_response_at`; an internal one is for agents only.
#[utoipa::path(post, path = "/api/v1/tickets/{number}/comments", tag = "tickets", security(("agent_token" = [])),
    params(("number" = String, Path, example = "TK-1001")), request_body = NewComment,
    responses((status = 201, description = "Created: the ticket, with the comment last", body = TicketView),
        (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "The ticket is closed", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn add_comment(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(number): Path<String>,
    ApiJson(comment): ApiJson<NewComment>,
) -> Result<(StatusCode, axum::Json<TicketView>), ApiError> {
    let number = TicketNumber::parse(&number).ok_or(ApiError::NotFound("ticket"))?;
    let body = message_body("body", comment.body.as_deref().unwrap_or(""))?;
    let (ticket, _, queued) = state
        .store
        .add_comment(&agent.tenant_id, number.0, &agent, &body, comment.internal)
        .await
        .or_not_found("ticket")?;
    if queued.is_some() {
        state.mailer.wake();
    }
    let number = TicketNumber(ticket.number).to_string();
    state
        .bus
        .publish(Event::ticket_updated(&agent.tenant_id, &number))
        .await;
    Ok((StatusCode::CREATED, axum::Json(with_activity(&state, ticket).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketUpdate {
    /// `open`, `in_progress`, `pending`, `solved` or `closed`. Any status
    /// but `closed` may become any other; a closed ticket cannot change.
    status: Option<String>,
    /// An agent of the workspace, or `null` to unassign.
    #[serde(default, deserialize_with = "super::extract::given")]
    #[schema(value_type = Option<String>)]
    assignee_id: Option<Option<String>>,
    /// `low`, `normal`, `high` or `urgent`.
    priority: Option<String>,
    /// Replaces the tags: up to 20 of 1 to 40 letters, digits, `-`, `_`,
    /// `:` or `.` (lowercased, repeats dropped).
    tags: Option<Vec<String>>,
    /// Replaces the custom fields: up to 20 keys (as tags are) with values
    /// of one line, up to 500 characters.
    #[schema(value_type = Option<Object>)]
    custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The ticket's `updated_at` as the client last saw it: a field this
    /// request sets that someone else changed since is not overwritten
    /// (409, naming who changed what). Left out, the change applies
    /// regardless.
    seen_at: Option<DateTime<Utc>>,
}

/// Works a ticket: its status, assignee and priority. Every change is kept
/// in the ticket's activity; a request that changes nothing writes nothing.
#[utoipa::path(patch, path = "/api/v1/tickets/{number}", tag = "tickets", security(("agent_token" = [])),
    params(("number" = String, Path, example = "TK-1001")), request_body = TicketUpdate,
    responses((status = 200, description = "OK", body = TicketView),
        (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 409, description = "The ticket is closed, or someone else changed a field this sets since `seen_at`", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn patch_ticket(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(number): Path<String>,
    ApiJson(update): ApiJson<TicketUpdate>,
) -> Result<axum::Json<TicketView>, ApiError> {
    let number = TicketNumber::parse(&number).ok_or(ApiError::NotFound("ticket"))?;
    let status =
        match update.status.as_deref() {
            None => None,
            Some(s) => Some(s.parse::<TicketStatus>().map_err(|_| {
                InvalidInput::new("status", "status must be open, in_progress, pending, solved or closed")
            })?),
        };
    let priority = match update.priority.as_deref() {
        None => None,
        Some(p) => Some(
            Priority::parse(p)
                .ok_or_else(|| InvalidInput::new("priority", "priority must be low, normal, high or urgent"))?,
        ),
    };
    let fields = match (update.tags, update.custom_fields) {
        (None, None) => None,
        (tags, custom) => {
            let current = state
                .store
                .ticket_by_number(&agent.tenant_id, number.0)
                .await
                .or_not_found("ticket")?;
            let tags = match tags {
                Some(t) => t,
                None => serde_json::from_str(&current.tags).unwrap_or_default(),
            };
            let custom = match custom {
                Some(c) => c
                    .into_iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(v) => Ok((k, v)),
                        _ => Err(InvalidInput::new(
                            "custom_fields",
                            format!("custom_fields.{k} must be text"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&current.custom_fields)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
            };
            let raw = TicketFields {
                priority: None,
                tags,
                custom,
            };
            let checked = crate::domain::hooks::validate::fields(raw).map_err(|m| {
                let about_tags = m.starts_with("returned the tag ") || m.contains(" tags, over");
                let field = if about_tags { "tags" } else { "custom_fields" };
                InvalidInput::new(field, m.strip_prefix("returned ").unwrap_or(&m).to_owned())
            })?;
            Some(checked)
        }
    };
    let change = TicketChange {
        status,
        assignee_id: update.assignee_id,
        priority,
        fields,
        seen_at: update.seen_at,
    };
    let ticket = state
        .store
        .change_ticket(&agent.tenant_id, number.0, Doer::agent(&agent), &change)
        .await
        .or_not_found("ticket")?;
    state
        .bus
        .publish(Event::ticket_updated(&agent.tenant_id, &number.to_string()))
        .await;
    Ok(axum::Json(with_activity(&state, ticket).await?))
}
