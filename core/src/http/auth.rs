//! Signing in and out, the caller's session, and admins' API tokens.
//!
//! A sign-in trades workspace, email and password for a session token
//! (`tls_…`) that ends when unused for the session lifetime. API tokens
//! (`tl_…`) are for scripts: named, lasting until an admin revokes them.
//! Both go in `Authorization: Bearer`, and both are stored as hashes only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin, AuthCredential, Client};
use crate::domain::password::{self, Password};
use crate::domain::team::Role;
use crate::domain::{EmailAddress, InvalidInput, single_line};
use crate::realtime::Event;
use crate::store::{Agent, Credential, CredentialKind, Issued, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(session))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    /// The workspace's slug, as `threadline tenant create` printed it.
    workspace: String,
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Send it as `Authorization: Bearer <token>`; shown only here.
    token: String,
    /// When the session ends if it goes unused; each use moves it forward.
    expires_at: DateTime<Utc>,
    agent: AgentView,
}

impl SessionView {
    /// The answer for a session just issued to `agent`.
    pub(super) fn new(issued: Issued, agent: &Agent, expires_at: DateTime<Utc>) -> Self {
        Self {
            token: issued.token,
            expires_at: issued.credential.expires_at.unwrap_or(expires_at),
            agent: agent.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AgentView {
    id: String,
    tenant_id: String,
    name: String,
    email: String,
    /// `admin` or `agent`.
    role: String,
    /// The same as `role == "admin"`.
    admin: bool,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            id: a.id.clone(),
            tenant_id: a.tenant_id.clone(),
            name: a.name.clone(),
            email: a.email.clone(),
            role: Role::of(a.is_admin).as_str().to_owned(),
            admin: a.is_admin,
        }
    }
}

/// Signs an agent in. Wrong workspace, email and password all get the same
/// 401; ten failures for one account from one client network within 15
/// minutes (by default) make that network's sign-ins to it answer 429 until
/// the oldest failure is 15 minutes old, while other networks still sign
/// in; past twenty from all networks, the account's sign-ins are slowed
/// down (1, 2, 4, ... seconds apart, at most a minute).
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", request_body = SignIn,
    responses((status = 200, description = "Signed in", body = SessionView),
        (status = 401, description = "Wrong workspace, email or password", body = ErrorBody),
        (status = 403, description = "The password is right but the account is deactivated", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody)))]
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<axum::Json<SessionView>, ApiError> {
    // The account as typed: counted whether or not it exists.
    let workspace = body.workspace.trim().to_lowercase();
    let email = EmailAddress::parse("email", &body.email).ok();
    let account = (
        workspace.clone(),
        email
            .as_ref()
            .map_or_else(|| body.email.trim().to_lowercase(), |e| e.normalized().to_owned()),
    );
    if account.0.len() > 200 || account.1.len() > 320 {
        return Err(ApiError::WrongCredentials);
    }
    let attempt = state.rates.sign_in(client, &account).await?;
    let found = match &email {
        Some(email) if !workspace.is_empty() => state.store.account(&workspace, email.normalized()).await?,
        _ => None,
    };
    let stored = found.as_ref().and_then(|a| a.password_hash.clone());
    let candidate = body.password;
    let matches = hashing(&state, move || match stored {
        Some(hash) => password::verify(&hash, &candidate),
        None => {
            password::verify_nothing(&candidate);
            false
        }
    })
    .await?;
    let exists = found.is_some();
    let Some(account_row) = found.filter(|_| matches) else {
        state.rates.sign_in_failed(account, attempt, exists);
        return Err(ApiError::WrongCredentials);
    };
    state.rates.signed_in(&account, attempt).await;
    let agent = account_row.agent;
    if !agent.active {
        // Said only to whoever knows the password: the account's owner.
        return Err(ApiError::Forbidden(
            "this account is deactivated; an admin of the workspace can reactivate it",
        ));
    }
    let expires_at = Utc::now() + state.access.session_ttl();
    let issued = state
        .store
        .issue_credential(&agent, CredentialKind::Session, "sign-in", Some(expires_at))
        .await?;
    tracing::Span::current().record("workspace", agent.tenant_id.as_str());
    tracing::info!(agent = %agent.id, "signed in");
    super::audit::record(
        &state,
        &agent,
        crate::store::Audit::new("agent.signed_in", Some(&agent.id), serde_json::json!({})),
    )
    .await;
    Ok(axum::Json(SessionView::new(issued, &agent, expires_at)))
}

/// Ends the session (or API token) the request is made with: its token
/// gets 401 from now on, on every node, and sockets opened with it close.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", security(("agent_token" = [])),
    responses((status = 204, description = "Signed out")))]
async fn sign_out(State(state): State<AppState>, caller: AuthCredential) -> Result<StatusCode, ApiError> {
    let (tenant_id, credential_id) = (&caller.agent.tenant_id, &caller.credential.id);
    match state.store.revoke_credential(tenant_id, credential_id, None).await {
        // Signed out twice at once: the other request did it.
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .bus
        .publish(Event::credential_ended(tenant_id, credential_id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct CurrentSession {
    agent: AgentView,
    /// `session` or `api`.
    kind: String,
    /// For a session: when it ends if unused from now.
    expires_at: Option<DateTime<Utc>>,
}

/// Who the token belongs to, and how long it lasts.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth", security(("agent_token" = [])),
    responses((status = 200, description = "OK", body = CurrentSession)))]
async fn session(caller: AuthCredential) -> axum::Json<CurrentSession> {
    axum::Json(CurrentSession {
        agent: (&caller.agent).into(),
        kind: caller.credential.kind.clone(),
        expires_at: caller.credential.expires_at,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password. Every other session of theirs ends; the
/// one making the change stays.
#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", security(("agent_token" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "Changed"),
        (status = 422, description = "The current password is wrong, or the new one too short or too long", body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    caller: AuthCredential,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let new = Password::parse("new_password", &body.new_password)?;
    let agent = &caller.agent;
    let tenant = state.store.tenant(&agent.tenant_id).await?;
    let key = (tenant.slug.clone(), agent.email_normalized.clone());
    // Guessing the current password here is throttled like signing in.
    let attempt = state.rates.sign_in(client, &key).await?;
    let stored = state
        .store
        .account(&tenant.slug, &agent.email_normalized)
        .await?
        .and_then(|a| a.password_hash);
    let current = body.current_password;
    let (matches, hash) = hashing(&state, move || {
        let matches = stored.is_some_and(|h| password::verify(&h, &current));
        (matches, matches.then(|| new.hash()))
    })
    .await?;
    let Some(hash) = hash.filter(|_| matches) else {
        state.rates.sign_in_failed(key, attempt, true);
        // Not a 401: the session is fine, only the password typed is not.
        return Err(InvalidInput::new(
            "current_password",
            "current_password is not the password of this account",
        )
        .into());
    };
    state.rates.signed_in(&key, attempt).await;
    state.store.set_password(&agent.tenant_id, &agent.id, &hash).await?;
    let ended = state
        .store
        .end_sessions(&agent.tenant_id, &agent.id, Some(&caller.credential.id))
        .await?;
    for id in ended {
        state.bus.publish(Event::credential_ended(&agent.tenant_id, &id)).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Runs password hashing work on the blocking pool, at most one job per
/// core at a time (see `AppState::password_checks`).
pub(super) async fn hashing<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = state
        .password_checks
        .acquire()
        .await
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("password checks closed")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: String,
    name: String,
    /// The agent the token acts as.
    agent_id: String,
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    last_used_at: Option<DateTime<Utc>>,
    /// Only in the answer that creates the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl From<Credential> for TokenView {
    fn from(c: Credential) -> Self {
        Self {
            id: c.id,
            name: c.name,
            agent_id: c.agent_id,
            created_at: c.created_at,
            last_used_at: c.last_used_at,
            token: None,
        }
    }
}

/// The workspace's API tokens, newest first (admins).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = [TokenView])))]
async fn list_tokens(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<Vec<TokenView>>, ApiError> {
    let tokens = state.store.api_tokens(&admin.tenant_id).await?;
    Ok(axum::Json(tokens.into_iter().map(TokenView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    /// What the token is for, e.g. "CRM sync".
    name: String,
    /// The agent it acts as; the caller when left out.
    agent_id: Option<String>,
}

/// Makes an API token (admins). The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", security(("agent_token" = ["admin"])),
    request_body = NewToken,
    responses((status = 201, description = "Created", body = TokenView),
        (status = 404, description = "No such agent in this workspace", body = ErrorBody),
        (status = 409, description = "The workspace holds as many tokens as it may, or the agent is deactivated", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, axum::Json<TokenView>), ApiError> {
    let name = single_line("name", &body.name, 100)?;
    let agent = match body.agent_id.as_deref() {
        None => admin,
        Some(id) => state.store.agent(&admin.tenant_id, id).await.or_not_found("agent")?,
    };
    if !agent.active {
        return Err(ApiError::Conflict(format!(
            "{} is deactivated; reactivate them before making them a token",
            agent.name
        )));
    }
    let issued = state
        .store
        .issue_credential(&agent, CredentialKind::Api, &name, None)
        .await?;
    let mut view = TokenView::from(issued.credential);
    view.token = Some(issued.token);
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Revokes an API token of the workspace (admins): it gets 401 from now on.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "auth", security(("agent_token" = ["admin"])),
    params(("token_id" = String, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such token in this workspace", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_credential(&admin.tenant_id, &token_id, Some(CredentialKind::Api))
        .await
        .or_not_found("token")?;
    state
        .bus
        .publish(Event::credential_ended(&admin.tenant_id, &token_id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
