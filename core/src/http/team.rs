//! The workspace's team: who is in it (everyone sees), and what admins do
//! with it: invite colleagues by e-mail, make someone an admin, deactivate
//! someone who left. Agents say whether they are available here too.

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
use crate::domain::team::{Availability, Role};
use crate::domain::{EmailAddress, InvalidInput, single_line};
use crate::realtime::Event;
use crate::store::{Agent, AgentChange, Invitation};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(change_agent))
        .routes(routes!(set_availability))
        .routes(routes!(list_invitations, invite))
        .routes(routes!(resend_invitation))
        .routes(routes!(revoke_invitation))
}

/// Agents of a workspace the list returns at most (a help desk's team,
/// not its customers: hundreds at the very most).
const MAX_AGENTS_LISTED: u64 = 1000;

/// An agent as the team sees them.
#[derive(Serialize, ToSchema)]
pub struct TeamMember {
    id: String,
    name: String,
    email: String,
    /// `admin` or `agent`.
    role: String,
    /// False once deactivated: they cannot sign in and take no tickets.
    active: bool,
    /// `online`, `away` or `offline`: what they said, except that an
    /// `online` agent whose console has been quiet five minutes is `away`.
    availability: String,
    /// Updated at most once a minute while they use the console or API.
    last_seen_at: Option<DateTime<Utc>>,
}

impl From<Agent> for TeamMember {
    fn from(a: Agent) -> Self {
        let availability = Availability::effective(&a.availability, a.last_seen_at, Utc::now());
        Self {
            role: Role::of(a.is_admin).as_str().to_owned(),
            availability: availability.as_str().to_owned(),
            active: a.active,
            last_seen_at: a.last_seen_at,
            id: a.id,
            name: a.name,
            email: a.email,
        }
    }
}

/// The agents of the caller's workspace, oldest first, deactivated ones
/// included (tickets and messages keep their names).
#[utoipa::path(get, path = "/api/v1/agents", tag = "team", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = Vec<TeamMember>)))]
async fn list_agents(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
) -> Result<axum::Json<Vec<TeamMember>>, ApiError> {
    let agents = state.store.agents(&agent.tenant_id, MAX_AGENTS_LISTED).await?;
    Ok(axum::Json(agents.into_iter().map(TeamMember::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    /// `admin` or `agent`.
    role: Option<String>,
    /// `false` deactivates: their sessions, API tokens and sockets end at
    /// once, on every node; `true` lets them sign in again with their
    /// password.
    active: Option<bool>,
}

/// Changes an agent's role or deactivates them (admins). The workspace's
/// last active admin can be neither demoted nor deactivated.
#[utoipa::path(patch, path = "/api/v1/agents/{agent_id}", tag = "team", security(("agent_token" = ["admin"])),
    params(("agent_id" = String, Path)), request_body = AgentUpdate,
    responses((status = 200, description = "Changed", body = TeamMember),
        (status = 404, description = "No such agent in this workspace", body = ErrorBody),
        (status = 409, description = "The last active admin would be demoted or deactivated", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn change_agent(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(agent_id): Path<String>,
    ApiJson(body): ApiJson<AgentUpdate>,
) -> Result<axum::Json<TeamMember>, ApiError> {
    let role = body.role.as_deref().map(|r| Role::parse("role", r)).transpose()?;
    if role.is_none() && body.active.is_none() {
        return Err(InvalidInput::new("role", "give role, active or both").into());
    }
    let change = AgentChange {
        role,
        active: body.active,
    };
    let (agent, ended) = state
        .store
        .change_agent(&admin.tenant_id, &agent_id, change)
        .await
        .or_not_found("agent")?;
    // Every node closes the sockets opened with these credentials.
    for id in &ended {
        state.bus.publish(Event::credential_ended(&agent.tenant_id, id)).await;
    }
    let detail = serde_json::json!({"role": Role::of(agent.is_admin).as_str(), "active": agent.active});
    super::audit::record(
        &state,
        &admin,
        crate::store::Audit::new("agent.changed", Some(&agent.id), detail),
    )
    .await;
    tracing::info!(agent = %agent.id, by = %admin.id, role = Role::of(agent.is_admin).as_str(),
        active = agent.active, credentials_ended = ended.len(), "agent changed");
    Ok(axum::Json(agent.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityUpdate {
    /// `online` (takes new chats and tickets), `away` or `offline`.
    availability: String,
}

/// Says whether the caller takes new work. Assignment rules count only
/// `online` agents as online, and the widget shows that someone is here
/// while one is.
#[utoipa::path(put, path = "/api/v1/agents/me/availability", tag = "team", security(("agent_token" = [])),
    request_body = AvailabilityUpdate,
    responses((status = 200, description = "Set", body = TeamMember),
        (status = 422, description = "Not online, away or offline", body = ErrorBody)))]
async fn set_availability(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    ApiJson(body): ApiJson<AvailabilityUpdate>,
) -> Result<axum::Json<TeamMember>, ApiError> {
    let availability = Availability::parse("availability", &body.availability)?;
    let agent = state.store.set_availability(&agent, availability).await?;
    Ok(axum::Json(agent.into()))
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: String,
    email: String,
    name: Option<String>,
    /// `admin` or `agent`.
    role: String,
    /// The agent who invited.
    invited_by: String,
    created_at: DateTime<Utc>,
    /// When it was last mailed.
    sent_at: DateTime<Utc>,
    /// The link stops working then; resending makes a new one.
    expires_at: DateTime<Utc>,
    expired: bool,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            expired: i.expires_at <= Utc::now(),
            id: i.id,
            email: i.email,
            name: i.name,
            role: i.role,
            invited_by: i.invited_by,
            created_at: i.created_at,
            sent_at: i.sent_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    email: String,
    /// Filled in on the acceptance form; they may change it.
    name: Option<String>,
    /// `admin` or `agent` (the default).
    role: Option<String>,
}

/// Invites a colleague by e-mail (admins): the mail links to the console
/// with a single-use token, valid for 7 days.
#[utoipa::path(post, path = "/api/v1/agents/invitations", tag = "team", security(("agent_token" = ["admin"])),
    request_body = NewInvitation,
    responses((status = 201, description = "Invited; the mail is queued", body = InvitationView),
        (status = 409, description = "Already an agent, already invited, or too many invitations pending", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn invite(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<(StatusCode, axum::Json<InvitationView>), ApiError> {
    let email = EmailAddress::parse("email", &body.email)?;
    let name = body.name.as_deref().map(|n| single_line("name", n, 100)).transpose()?;
    let role = Role::parse("role", body.role.as_deref().unwrap_or("agent"))?;
    let invitation = state
        .store
        .invite(&admin, &email, name, role, &state.addresses.public_url)
        .await?;
    state.mailer.wake();
    let detail = serde_json::json!({"role": role.as_str()});
    super::audit::record(
        &state,
        &admin,
        crate::store::Audit::new("agent.invited", Some(&invitation.id), detail),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(invitation.into())))
}

/// The workspace's invitations not yet accepted, newest first (admins).
#[utoipa::path(get, path = "/api/v1/agents/invitations", tag = "team", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = Vec<InvitationView>)))]
async fn list_invitations(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<InvitationView>>, ApiError> {
    let invitations = state.store.invitations(&admin.tenant_id).await?;
    Ok(axum::Json(invitations.into_iter().map(InvitationView::from).collect()))
}

/// Mails an invitation again (admins), with a new link valid for 7 days;
/// the previous link stops working. At most once a minute.
#[utoipa::path(post, path = "/api/v1/agents/invitations/{invitation_id}/resend", tag = "team",
    security(("agent_token" = ["admin"])), params(("invitation_id" = String, Path)),
    responses((status = 200, description = "Mailed again", body = InvitationView),
        (status = 404, description = "No such pending invitation", body = ErrorBody),
        (status = 409, description = "Mailed less than a minute ago", body = ErrorBody)))]
async fn resend_invitation(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(invitation_id): Path<String>,
) -> Result<axum::Json<InvitationView>, ApiError> {
    let invitation = state
        .store
        .resend_invitation(&admin, &invitation_id, &state.addresses.public_url)
        .await
        .or_not_found("invitation")?;
    state.mailer.wake();
    Ok(axum::Json(invitation.into()))
}

/// Revokes a pending invitation (admins): its link stops working.
#[utoipa::path(delete, path = "/api/v1/agents/invitations/{invitation_id}", tag = "team",
    security(("agent_token" = ["admin"])), params(("invitation_id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such pending invitation", body = ErrorBody)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(invitation_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_invitation(&admin.tenant_id, &invitation_id)
        .await
        .or_not_found("invitation")?;
    Ok(StatusCode::NO_CONTENT)
}
