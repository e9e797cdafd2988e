//! What every request goes through before its route: ids and query values
//! with control characters are refused before anything reaches the
//! database, and a request whose body may be left unread gets its
//! connection closed in an orderly way.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::ApiError;

/// A connection's place under the server's connection caps, and the signal
/// that the server is stopping. The server puts one in every request; a
/// websocket keeps it for as long as it stays open, so upgraded connections
/// count against the caps like any other, and hear the shutdown.
#[derive(Clone)]
pub struct ConnectionHold {
    /// Released when the last clone is dropped.
    pub place: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl ConnectionHold {
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.clone()
    }
}

/// Resolves when the server starts stopping; never without a signal.
pub async fn stopped(stopping: Option<&mut tokio::sync::watch::Receiver<bool>>) {
    match stopping {
        Some(rx) => {
            if rx.wait_for(|stop| *stop).await.is_err() {
                // The server is gone altogether: as good as stopping.
            }
        }
        None => std::future::pending().await,
    }
}

tokio::task_local! {
    /// The id of the request being handled: in its log lines, in its
    /// response's `x-request-id`, and in the body of a 500.
    pub static REQUEST_ID: String;
}

pub async fn guard(req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::Span::current().record("request_id", id.as_str());
    let mut response = REQUEST_ID.scope(id.clone(), checked(req, next)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn checked(req: Request, next: Next) -> Response {
    // A path segment is an id or a route word; neither ever holds a control
    // character. PostgreSQL refuses NUL in text outright (a 500 before this
    // check), SQLite merely found nothing: now both say 404.
    if has_control(req.uri().path()) {
        return ApiError::NotFound("resource").into_response();
    }
    if let Some(query) = req.uri().query() {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if has_control(name) || has_control(value) {
                let name = percent_decode_str(name).decode_utf8_lossy();
                let name: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
                return ApiError::Unprocessable(format!("the query parameter {name:?} contains control characters"))
                    .into_response();
            }
        }
    }
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = next.run(req).await;
    // A request refused early (a bad token, an unknown route, a body over
    // the limit) leaves its body unread, and the server cannot reuse the
    // connection; saying so lets the client open a new one instead of
    // failing its next request on a connection that is gone.
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn has_control(s: &str) -> bool {
    percent_decode_str(s).any(|b| b < 0x20 || b == 0x7f)
}

/// Headers every response carries: browsers take a body for the type it
/// says it is (never sniff a script out of a JSON error), and a link
/// followed out of the console or the widget tells the other site nothing
/// of the page it came from.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn control_characters_are_found_encoded_or_not() {
        assert!(has_control("/api/v1/chats/%00"));
        assert!(has_control("/api/v1/chats/a%0Ab"));
        assert!(has_control("a%7f"));
        assert!(!has_control("/api/v1/chats/01a2-x%20y"));
        assert!(!has_control("%E2%80%AE"));
    }
}
