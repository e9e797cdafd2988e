//! Request extractors: who is calling, and a JSON body with our error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::hosting::WorkspaceStatus;
use crate::store::{Agent, Credential, StoreError, Visitor};

/// The agent credential a request came with (a session or an API token),
/// and its agent.
pub struct AuthCredential {
    pub agent: Agent,
    pub credential: Credential,
}

/// An agent, from `Authorization: Bearer <agent token>`. Their workspace is
/// `agent.tenant_id`, and every query a handler makes is scoped by it.
pub struct AuthAgent(pub Agent);

/// An agent with admin rights in their workspace.
pub struct AuthAdmin(pub Agent);

/// The client's address, as rate limits count it (see `rate::RateLimits::client`).
pub struct Client(pub std::net::IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client(state.rates.client(parts)))
    }
}

/// The token of `Authorization: Bearer <token>`, not yet checked: for a
/// handler that checks it itself, in a query that reads more (401 when
/// there is none).
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Bearer(bearer(parts)?.to_owned()))
    }
}

/// A visitor, from `Authorization: Bearer <visitor token>`.
pub struct AuthVisitor(pub Visitor);

pub(super) fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(AUTHORIZATION).ok_or(ApiError::Unauthorized)?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized)?;
    bearer_token(value).ok_or(ApiError::Unauthorized)
}

/// The token of an `Authorization: Bearer <token>` value. The scheme's name
/// is case-insensitive (RFC 9110, 11.1).
pub(super) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(super) fn unauthorized_if_missing(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::Unauthorized,
        other => other.into(),
    }
}

impl FromRequestParts<AppState> for AuthCredential {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_agent(state, bearer(parts)?).await
    }
}

impl FromRequestParts<AppState> for AuthAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AuthAgent(AuthCredential::from_request_parts(parts, state).await?.agent))
    }
}

/// The agent an agent token (session or API token) belongs to. A session's
/// end moves forward as it is used, and the agent counts as seen; both are
/// written at most about once a minute, decided on the row just read, so
/// most requests write nothing. Neither write fails the request.
pub(super) async fn authenticate_agent(state: &AppState, token: &str) -> Result<AuthCredential, ApiError> {
    let (agent, credential, status) = state
        .store
        .agent_by_token(token)
        .await
        .map_err(unauthorized_if_missing)?;
    admit_agent(state, agent, credential, status).await
}

/// What [`authenticate_agent`] does with the token's row once read, for a
/// handler that read it with more in the same query (the conversion).
pub(super) async fn admit_agent(
    state: &AppState,
    agent: Agent,
    mut credential: Credential,
    status: WorkspaceStatus,
) -> Result<AuthCredential, ApiError> {
    tracing::Span::current().record("workspace", agent.tenant_id.as_str());
    // A suspended workspace's agents are told so on every request (their
    // sockets too): nothing of it can be read or changed until it resumes.
    if status == WorkspaceStatus::Suspended {
        return Err(ApiError::Suspended);
    }
    let slid = crate::store::slid_expiry(credential.expires_at, state.access.session_ttl());
    if slid.is_some() || (credential.expires_at.is_none() && crate::store::seen_long_ago(credential.last_used_at)) {
        match state.store.touch_credential(&credential.id, slid).await {
            Ok(()) => credential.expires_at = slid.or(credential.expires_at),
            Err(e) => tracing::warn!(credential = %credential.id, error = %e, "cannot note credential use"),
        }
    }
    // Presence for assignment rules ("online").
    if crate::store::seen_long_ago(agent.last_seen_at)
        && let Err(e) = state.store.touch_agent(&agent.id).await
    {
        tracing::warn!(agent = %agent.id, error = %e, "cannot note agent activity");
    }
    Ok(AuthCredential { agent, credential })
}

impl FromRequestParts<AppState> for AuthAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthAgent(agent) = AuthAgent::from_request_parts(parts, state).await?;
        if !agent.is_admin {
            return Err(ApiError::Forbidden("only workspace admins may do this"));
        }
        Ok(AuthAdmin(agent))
    }
}

impl FromRequestParts<AppState> for AuthVisitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let (visitor, status) = state
            .store
            .visitor_by_token(token, state.access.visitor_chats_closed_before())
            .await
            .map_err(unauthorized_if_missing)?;
        tracing::Span::current().record("workspace", visitor.tenant_id.as_str());
        // A suspended workspace's chats take no message and show nothing.
        if status == WorkspaceStatus::Suspended {
            return Err(ApiError::Suspended);
        }
        Ok(AuthVisitor(visitor))
    }
}

/// Whether reading the body failed because the client took too long (the
/// server's body timeout, `tower_http::timeout::RequestBodyTimeoutLayer`).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Like `axum::Json`, but its rejections use our error shape: malformed JSON
/// is a 400, well-formed JSON of the wrong shape a 422 that says what is wrong.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Unprocessable(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                "send the body as JSON with Content-Type: application/json".into(),
            )),
            Err(other) if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge(other.body_text()))
            }
            Err(other) if timed_out(&other) => Err(ApiError::BodyTimeout),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// For `#[serde(default, deserialize_with = "…::given")]` on an
/// `Option<Option<T>>`: tells a field given as `null` (`Some(None)`) from
/// one left out (`None`), for the bodies where `null` means "clear it".
pub(super) fn given<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
