//! The one error type of the HTTP layer. Every error leaves as
//! `{"error": {"code", "message", "field"?}}` with the right status; internal
//! failures are logged with their cause and shown only as a generic 500 with a
//! request id to quote.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::conversion::ConversionError;
use crate::domain::InvalidInput;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    /// A sign-in with an unknown workspace or email, or a wrong password:
    /// one answer for all, so it tells nothing about which accounts exist.
    #[error("wrong workspace, email or password")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A mailed link (an invitation, a password reset) that was used,
    /// revoked or expired: nothing was done.
    #[error("{0}")]
    LinkUnusable(&'static str),
    #[error("{0}")]
    Invalid(InvalidInput),
    /// The request's JSON had the right syntax but the wrong shape.
    #[error("{0}")]
    Unprocessable(String),
    /// A body over the route's size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The client took longer than the body timeout to send its body.
    #[error("the request body was not received in time")]
    BodyTimeout,
    /// The server is busy with work of its own kind (compiling plugins);
    /// the client should try again after the given seconds.
    #[error("{0}")]
    Busy(String, u32),
    /// The client is over a rate limit; it may try again after the given
    /// seconds.
    #[error("{0}")]
    TooManyRequests(String, u32),
    /// A write that would pass one of the workspace's quotas: 403 for what
    /// it holds, 429 (until midnight UTC) for what it may do a day.
    #[error("{0}")]
    Quota(crate::domain::hosting::QuotaExceeded),
    /// The operator suspended the caller's workspace.
    #[error("this workspace is suspended by the service's operator; its data is kept, and it works again once resumed")]
    Suspended,
    /// A conversion hook failed: named, so an operator can fix the rule.
    #[error("{0}")]
    Plugin(crate::domain::hooks::HookFault),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_input`, `not_found`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a field holding code (a JavaScript rule's `source`): the line
    /// and column (from 1) of the error in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Quote this when reporting an internal error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// The status, the stable code, and the field at fault if any.
    fn parts(&self) -> (StatusCode, &'static str, Option<&str>) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::WrongCredentials => (StatusCode::UNAUTHORIZED, "wrong_credentials", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::LinkUnusable(_) => (StatusCode::GONE, "link_unusable", None),
            ApiError::Invalid(e) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some(&e.field)),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", None),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", None),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "timeout", None),
            ApiError::Busy(..) => (StatusCode::SERVICE_UNAVAILABLE, "busy", None),
            ApiError::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", None),
            ApiError::Quota(q) if q.quota.daily() => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", None),
            ApiError::Quota(_) => (StatusCode::FORBIDDEN, "quota_exceeded", None),
            ApiError::Suspended => (StatusCode::FORBIDDEN, "workspace_suspended", None),
            ApiError::Plugin(_) => (StatusCode::BAD_GATEWAY, "plugin_failed", None),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }

    /// The stable machine-readable code of this error, e.g. `not_found`.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = self.parts();
        let (message, request_id) = match &self {
            ApiError::Invalid(e) => (e.message.clone(), None),
            ApiError::Internal(cause) => {
                let id = super::edge::REQUEST_ID
                    .try_with(Clone::clone)
                    .unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string());
                tracing::error!(request_id = %id, error = ?cause, "internal error");
                (
                    "internal error; quote the request id when reporting it".to_owned(),
                    Some(id),
                )
            }
            other => (other.to_string(), None),
        };
        let at = match &self {
            ApiError::Invalid(e) => e.at,
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field: field.map(str::to_owned),
                line: at.map(|(line, _)| line),
                column: at.map(|(_, column)| column),
                request_id,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let ApiError::Busy(_, retry_after) | ApiError::TooManyRequests(_, retry_after) = &self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*retry_after).into());
        }
        if let ApiError::Quota(q) = &self
            && q.quota.daily()
        {
            let now = chrono::Utc::now();
            let midnight = crate::domain::hosting::day_start(now) + chrono::Duration::days(1);
            let seconds = u32::try_from((midnight - now).num_seconds().max(1)).unwrap_or(u32::MAX);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(field, m) => ApiError::Invalid(crate::domain::InvalidInput::new(field, m)),
            StoreError::Quota(q) => ApiError::Quota(q),
            StoreError::Suspended => ApiError::Suspended,
            StoreError::Db(db) => ApiError::Internal(db.into()),
        }
    }
}

impl From<ConversionError> for ApiError {
    fn from(e: ConversionError) -> Self {
        match e {
            ConversionError::Invalid(i) => ApiError::Invalid(i),
            ConversionError::NotFound => ApiError::NotFound("chat"),
            ConversionError::Hook(f) => ApiError::Plugin(f),
            ConversionError::Busy => ApiError::Conflict(e.to_string()),
            ConversionError::Store(s) => s.into(),
        }
    }
}

/// Maps a store lookup's `NotFound` to a 404 that names what was missing.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &'static str) -> Result<T, ApiError>;
}

impl<T> OrNotFound<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound(what),
            other => other.into(),
        })
    }
}

/// Declares, once for the whole OpenAPI document, the answers routes share
/// by kind, so each route declares only its own: 401 for every route that
/// needs a token, 403 for those that need an admin's (their security
/// requirement names the `admin` scope), 400 for every JSON body.
pub(super) fn document_shared_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let security = serde_json::to_value(&op.security).unwrap_or_default();
            let needs = |scope: Option<&str>| {
                security.as_array().into_iter().flatten().any(|requirement| {
                    requirement
                        .as_object()
                        .into_iter()
                        .flatten()
                        .any(|(_, scopes)| match scope {
                            None => true,
                            Some(scope) => scopes.as_array().is_some_and(|s| s.iter().any(|s| s == scope)),
                        })
                })
            };
            let json_body =
                matches!(&op.request_body, Some(RefOr::T(body)) if body.content.contains_key("application/json"));
            let responses = &mut op.responses.responses;
            if needs(None) {
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("Missing or invalid token"));
            }
            if needs(Some("admin")) {
                responses.entry("403".into()).or_insert_with(|| error("Admins only"));
            }
            if json_body {
                responses.entry("400".into()).or_insert_with(|| error("Malformed JSON"));
            }
        }
    }
}
