//! What people do from a link the server mailed them, without a session:
//! accept an invitation (choose a password, join, be signed in), and reset
//! a forgotten password.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{SessionView, hashing};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Client};
use crate::domain::password::Password;
use crate::domain::{EmailAddress, single_line};
use crate::realtime::Event;
use crate::store::StoreError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accept_invitation))
        .routes(routes!(request_reset))
        .routes(routes!(complete_reset))
}

const INVITATION_UNUSABLE: &str =
    "this invitation was used, revoked or has expired; ask an admin of the workspace to invite you again";
const RESET_UNUSABLE: &str = "this reset link was used or has expired; ask for a new one";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationAcceptance {
    /// From the link in the invitation mail (after `#invitation=`).
    token: String,
    password: String,
    /// The name colleagues and customers see; the one the admin gave, or
    /// the address's local part, when left out.
    name: Option<String>,
}

/// Accepts an invitation: makes the agent with this password and signs
/// them in (the same answer as a sign-in). A token used, revoked or
/// expired gets 410 and makes nothing.
#[utoipa::path(post, path = "/api/v1/auth/invitation", tag = "auth", request_body = InvitationAcceptance,
    responses((status = 200, description = "Joined and signed in", body = SessionView),
        (status = 409, description = "The address became an agent's meanwhile", body = ErrorBody),
        (status = 410, description = "The invitation was used, revoked or has expired", body = ErrorBody),
        (status = 422, description = "Invalid password or name", body = ErrorBody),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<InvitationAcceptance>,
) -> Result<axum::Json<SessionView>, ApiError> {
    let password = Password::parse("password", &body.password)?;
    let name = body.name.as_deref().map(|n| single_line("name", n, 100)).transpose()?;
    state.rates.account_request(client).await?;
    // Looked up before hashing, so a made-up token costs a read, not a hash.
    let invitation = match state.store.open_invitation(&body.token).await {
        Ok(i) => i,
        Err(StoreError::NotFound) => return Err(ApiError::LinkUnusable(INVITATION_UNUSABLE)),
        Err(e) => return Err(e.into()),
    };
    let name = match name.or(invitation.name) {
        Some(n) => n,
        None => local_part(&invitation.email),
    };
    let hash = hashing(&state, move || password.hash()).await?;
    let expires_at = Utc::now() + state.access.session_ttl();
    let (agent, issued) = match state
        .store
        .accept_invitation(&body.token, &name, &hash, expires_at)
        .await
    {
        Ok(done) => done,
        Err(StoreError::NotFound) => return Err(ApiError::LinkUnusable(INVITATION_UNUSABLE)),
        Err(e) => return Err(e.into()),
    };
    tracing::Span::current().record("workspace", agent.tenant_id.as_str());
    tracing::info!(agent = %agent.id, "invitation accepted");
    Ok(axum::Json(SessionView::new(issued, &agent, expires_at)))
}

/// `ada.l@example.com` → `ada.l`: a name to start with.
fn local_part(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_owned()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The workspace's slug, as on the sign-in form.
    workspace: String,
    email: String,
}

/// Asks for a password reset mail. The answer is the same 202 whether or
/// not the account exists (and comes as fast): the mail, if any, is
/// queued after answering. Its link works once, for an hour; an account
/// is sent at most three an hour.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the account exists, a mail is on its way"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = ErrorBody)))]
async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    state.rates.account_request(client).await?;
    let workspace = body.workspace.trim().to_lowercase();
    // A malformed address is answered like any other: it has no account.
    if let Ok(email) = EmailAddress::parse("email", &body.email)
        && !workspace.is_empty()
        && workspace.len() <= 200
    {
        let store = state.store.clone();
        let public_url = state.addresses.public_url.clone();
        let mailer = state.mailer.clone();
        // After the answer, so that its timing tells nothing. A crash
        // before this runs loses the request (the person asks again);
        // once it runs, the mail is a row of the outbox like any other.
        tokio::spawn(async move {
            match store
                .request_password_reset(&workspace, email.normalized(), &public_url)
                .await
            {
                Ok(()) => mailer.wake(),
                Err(e) => tracing::warn!(error = %e, "cannot queue a password reset"),
            }
        });
    }
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetCompletion {
    /// From the link in the reset mail (after `#reset=`).
    token: String,
    new_password: String,
}

/// Sets a new password with a reset link's token: every session of the
/// agent ends (on every node), and a new one starts (the same answer as a
/// sign-in). A token used or expired gets 410 and changes nothing.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/complete", tag = "auth", request_body = ResetCompletion,
    responses((status = 200, description = "Password set; signed in", body = SessionView),
        (status = 410, description = "The link was used or has expired", body = ErrorBody),
        (status = 422, description = "The new password is too short or too long", body = ErrorBody),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = ErrorBody)))]
async fn complete_reset(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<ResetCompletion>,
) -> Result<axum::Json<SessionView>, ApiError> {
    let password = Password::parse("new_password", &body.new_password)?;
    state.rates.account_request(client).await?;
    match state.store.open_password_reset(&body.token).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(ApiError::LinkUnusable(RESET_UNUSABLE)),
        Err(e) => return Err(e.into()),
    }
    let hash = hashing(&state, move || password.hash()).await?;
    let expires_at = Utc::now() + state.access.session_ttl();
    let (agent, issued, ended) = match state
        .store
        .complete_password_reset(&body.token, &hash, expires_at)
        .await
    {
        Ok(done) => done,
        Err(StoreError::NotFound) => return Err(ApiError::LinkUnusable(RESET_UNUSABLE)),
        Err(e) => return Err(e.into()),
    };
    for id in ended {
        state.bus.publish(Event::credential_ended(&agent.tenant_id, &id)).await;
    }
    tracing::Span::current().record("workspace", agent.tenant_id.as_str());
    tracing::info!(agent = %agent.id, "password reset");
    Ok(axum::Json(SessionView::new(issued, &agent, expires_at)))
}
