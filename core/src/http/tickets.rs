//! Ticket routes.

use std::collections::HashMap;

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::AuthAgent;
use super::views::TicketView;
use crate::domain::TicketNumber;
use crate::store::{Agent, Requester};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets))
        .routes(routes!(get_ticket))
}

/// Tickets of the caller's workspace, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = Vec<TicketView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)))]
async fn list_tickets(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
) -> Result<axum::Json<Vec<TicketView>>, ApiError> {
    let store = &state.store;
    let tickets = store.list_tickets(&agent.tenant_id, 500).await?;
    // Three queries for the whole page, not two more per ticket.
    let agents: HashMap<String, Agent> = store
        .agents(&agent.tenant_id)
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
        views.push(TicketView::build(t, assignee, requester));
    }
    Ok(axum::Json(views))
}

/// A ticket by its number (`TK-1001`), with its "Originated from chat" link.
#[utoipa::path(get, path = "/api/v1/tickets/{number}", tag = "tickets", security(("agent_token" = [])),
    params(("number" = String, Path, example = "TK-1001")),
    responses((status = 200, description = "OK", body = TicketView), (status = 404, description = "Not found, or not in the workspace of the caller", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)))]
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
    Ok(axum::Json(TicketView::load(&state, ticket).await?))
}
