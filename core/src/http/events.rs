//! Websockets of live updates: agents get every event of their workspace,
//! a visitor the events of their own chat (internal notes never).
//!
//! Browsers cannot set headers on a websocket, so the token may come as
//! `?access_token=`; `Authorization: Bearer` works too. The first frame is
//! `{"kind":"ready"}`: from then on no event is missed. A socket that falls
//! too far behind gets `{"kind":"resync"}` and should refetch.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::AppState;
use super::error::ApiError;
use crate::realtime::{Event, EventKind};
use crate::store::StoreError;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/events", get(agent_events))
        .route("/api/v1/widget/chats/{chat_id}/events", get(visitor_events))
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

fn token(q: &TokenQuery, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(t) = q.access_token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(t.to_owned());
    }
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::extract::bearer_token)
        .map(str::to_owned)
        .ok_or(ApiError::Unauthorized)
}

fn unauthorized(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::Unauthorized,
        other => other.into(),
    }
}

fn upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<WebSocketUpgrade, ApiError> {
    ws.map_err(|e| ApiError::BadRequest(format!("connect with a websocket here ({e})")))
}

async fn agent_events(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let agent = state
        .store
        .agent_by_token(&token(&q, &headers)?)
        .await
        .map_err(unauthorized)?;
    let ws = upgrade(ws)?;
    // Subscribed before the upgrade, so nothing between "ready" and the
    // first event can be missed.
    let events = state.bus.subscribe();
    let tenant = agent.tenant_id;
    Ok(ws.on_upgrade(move |socket| pump(socket, events, move |e| e.tenant_id == tenant)))
}

async fn visitor_events(
    State(state): State<AppState>,
    Path(chat_id): Path<String>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let visitor = state
        .store
        .visitor_by_token(&token(&q, &headers)?, state.access.visitor_chats_closed_before())
        .await
        .map_err(unauthorized)?;
    let chat = state.store.chat(&visitor.tenant_id, &chat_id).await;
    if !chat.is_ok_and(|c| c.visitor_id == visitor.id) {
        return Err(ApiError::NotFound("chat"));
    }
    let ws = upgrade(ws)?;
    let events = state.bus.subscribe();
    let tenant = visitor.tenant_id;
    Ok(ws.on_upgrade(move |socket| {
        pump(socket, events, move |e| {
            e.tenant_id == tenant && e.chat_id == chat_id && !e.internal && e.kind != EventKind::ChatStarted
        })
    }))
}

/// Forwards the events `wanted` lets through until either side goes away;
/// pings keep proxies from closing a quiet socket.
async fn pump(mut socket: WebSocket, mut events: broadcast::Receiver<Event>, wanted: impl Fn(&Event) -> bool) {
    if socket.send(Message::Text(r#"{"kind":"ready"}"#.into())).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    loop {
        let frame = tokio::select! {
            event = events.recv() => match event {
                Ok(e) if wanted(&e) => Message::Text(e.to_client_json().into()),
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Message::Text(r#"{"kind":"resync"}"#.into()),
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        if socket.send(frame).await.is_err() {
            break;
        }
    }
}
