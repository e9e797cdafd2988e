//! Websockets of live updates: agents get every event of their workspace,
//! a visitor the events of their own chat (internal notes never).
//!
//! No token travels in the URL, where proxies and access logs keep it.
//! Browsers cannot set headers on a websocket, so they send the token as
//! the socket's first frame, `{"token": "…"}`, within ten seconds; other
//! clients may send `Authorization: Bearer` with the handshake instead. A
//! socket whose token is refused is closed with code 4401 (4404 for a chat
//! that is not the visitor's), and so is an agent's socket when the session
//! or API token it was opened with ends (signed out, revoked, its password
//! changed elsewhere). Once authenticated, the server's first frame
//! is `{"kind":"ready"}`: from then on no event is missed. A socket that
//! falls too far behind gets `{"kind":"resync"}` and should refetch. When
//! the server shuts down, sockets are closed with code 1001.
//!
//! After the token, a client may say two things. An agent's console may
//! say where its agent is, `{"kind":"presence","chat_id":"…"}` or
//! `{"kind":"presence","ticket":"TK-1001","typing":true}` (neither: nowhere),
//! repeated while the page stays open; other agents get a `presence` event,
//! and one with `here: false` when the agent goes elsewhere or the socket
//! ends. Visitors never see presence. And a client may say that its person is typing,
//! `{"kind":"typing","chat_id":"…","active":true,"internal":false}` (a
//! visitor's socket leaves out `chat_id`: it has one chat). It reaches the
//! other side as a `typing` event; an agent typing an internal note is seen
//! by agents only. A socket's typing is thinned (see [`TypingThrottle`]) and
//! its frames are small ([`MAX_CLIENT_FRAME`]); anything else is ignored.

use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::edge::ConnectionHold;
use super::error::ApiError;
use crate::realtime::{Event, EventKind, Subscription, Typist};

mod said;

use said::{ClientFrame, Speaker, TypingThrottle, left};

/// How long a socket may take to send its token frame.
const TOKEN_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest frame a client may send: a token or a typing notice. A
/// larger one closes the socket, so nobody can make the server buffer more.
const MAX_CLIENT_FRAME: usize = 4 * 1024;

/// Close codes in the range RFC 6455 leaves to applications, after the
/// HTTP statuses they stand for.
const CLOSE_UNAUTHORIZED: u16 = 4401;
const CLOSE_NOT_FOUND: u16 = 4404;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/events", get(agent_events))
        .route("/api/v1/widget/chats/{chat_id}/events", get(visitor_events))
}

/// The token of the handshake's `Authorization: Bearer`, if it has one.
fn header_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::extract::bearer_token)
        .map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenFrame {
    token: String,
}

/// Waits for the socket's `{"token": …}` frame; `None` if none came in time.
async fn token_frame(socket: &mut WebSocket) -> Option<String> {
    let first = tokio::time::timeout(TOKEN_FRAME_TIMEOUT, async {
        loop {
            match socket.recv().await? {
                Ok(Message::Text(text)) => return Some(text),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()??;
    serde_json::from_str::<TokenFrame>(&first).ok().map(|f| f.token)
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Buffers a socket starts with, each way. A node holds tens of thousands
/// of mostly idle sockets whose frames are a few hundred bytes; the
/// library's 128 KiB each way made 700 sockets cost 100 MiB
/// (`--bench sockets`). Both grow when a frame needs it.
const SOCKET_BUFFER: usize = 4 * 1024;

fn upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<WebSocketUpgrade, ApiError> {
    ws.map(|ws| {
        ws.max_message_size(MAX_CLIENT_FRAME)
            .max_frame_size(MAX_CLIENT_FRAME)
            .read_buffer_size(SOCKET_BUFFER)
            .write_buffer_size(SOCKET_BUFFER)
    })
    .map_err(|e| ApiError::BadRequest(format!("connect with a websocket here ({e})")))
}

/// Why a socket's token was refused.
enum Refused {
    Unauthorized,
    NotFound,
    Failed(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Refused::Unauthorized,
            ApiError::NotFound(_) => Refused::NotFound,
            other => Refused::Failed(other),
        }
    }
}

/// What an authenticated socket may see, the agent credential it was
/// opened with (none for a visitor's), and who it speaks for.
type Admitted<W> = (W, Option<String>, Speaker);

/// Serves a socket: authenticated already by its handshake header
/// (`early`), else by its first frame through `who`; then subscribes and
/// pumps.
async fn serve_socket<F, Fut, W>(
    mut socket: WebSocket,
    early: Option<Admitted<W>>,
    hold: Option<ConnectionHold>,
    state: AppState,
    who: F,
) where
    F: FnOnce(AppState, String) -> Fut,
    Fut: std::future::Future<Output = Result<Admitted<W>, ApiError>>,
    W: Fn(&Event) -> bool,
{
    let mut stopping = hold.as_ref().map(ConnectionHold::stopping);
    let kept = state.clone();
    let (wanted, credential, speaker) = match early {
        Some(admitted) => admitted,
        None => {
            let token = tokio::select! {
                token = token_frame(&mut socket) => token,
                () = super::edge::stopped(stopping.as_mut()) => {
                    return close(socket, 1001, "server shutting down").await;
                }
            };
            let Some(token) = token else {
                return close(socket, CLOSE_UNAUTHORIZED, "send {\"token\": …} as the first frame").await;
            };
            match who(state, token).await.map_err(Refused::from) {
                Ok(admitted) => admitted,
                Err(Refused::Unauthorized) => return close(socket, CLOSE_UNAUTHORIZED, "unauthorized").await,
                Err(Refused::NotFound) => return close(socket, CLOSE_NOT_FOUND, "chat not found").await,
                Err(Refused::Failed(e)) => {
                    tracing::warn!(error = %e, "cannot authenticate a socket");
                    return close(socket, 1011, "internal error").await;
                }
            }
        }
    };
    // Subscribed before "ready" is sent (in `pump`), so nothing after it
    // can be missed.
    let events = match &speaker {
        Speaker::Agent { tenant_id, .. } => kept.bus.subscribe_workspace(tenant_id),
        Speaker::Visitor { tenant_id, chat_id } => kept.bus.subscribe_chat(tenant_id, chat_id),
    };
    // A visitor's open socket says they are here, every minute, and once
    // more as it closes: an agent's answer after they left goes by mail.
    let visitor = match &speaker {
        Speaker::Visitor { tenant_id, chat_id } => Some((kept.store.clone(), tenant_id.clone(), chat_id.clone())),
        Speaker::Agent { .. } => None,
    };
    let heartbeat = visitor.clone().map(|(store, tenant, chat)| {
        tokio::spawn(async move {
            loop {
                if let Err(e) = store.visitor_seen(&tenant, &chat).await {
                    tracing::debug!(error = %e, "cannot note a visitor's presence");
                }
                tokio::time::sleep(VISITOR_HEARTBEAT).await;
            }
        })
    });
    pump(socket, events, wanted, credential, speaker, kept, hold).await;
    if let Some(task) = heartbeat {
        task.abort();
    }
    if let Some((store, tenant, chat)) = visitor {
        let _ = store.visitor_seen(&tenant, &chat).await;
    }
}

/// How often an open visitor socket notes its visitor is here: well within
/// `domain::chat::VISITOR_GONE_AFTER`.
const VISITOR_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(60);

/// An agent's socket sees every event of their workspace.
async fn agent_admitted(state: AppState, token: String) -> Result<Admitted<impl Fn(&Event) -> bool>, ApiError> {
    let caller = super::extract::authenticate_agent(&state, &token).await?;
    let speaker = Speaker::Agent {
        tenant_id: caller.agent.tenant_id.clone(),
        agent_id: caller.agent.id,
        name: caller.agent.name,
    };
    let tenant = caller.agent.tenant_id;
    Ok((
        move |e: &Event| e.tenant_id == tenant,
        Some(caller.credential.id),
        speaker,
    ))
}

/// A visitor's socket sees the public events of their own chat.
async fn visitor_admitted(
    state: AppState,
    token: String,
    chat_id: String,
) -> Result<Admitted<impl Fn(&Event) -> bool>, ApiError> {
    let tenant = visitor_of_chat(&state, &token, &chat_id).await?;
    let speaker = Speaker::Visitor {
        tenant_id: tenant.clone(),
        chat_id: chat_id.clone(),
    };
    let wanted = move |e: &Event| {
        e.tenant_id == tenant
            && e.chat_id == chat_id
            && !e.internal
            && e.kind != EventKind::ChatStarted
            && e.kind != EventKind::Presence
            && e.typing.as_ref().is_none_or(|t| t.by != Typist::Visitor)
    };
    Ok((wanted, None, speaker))
}

async fn agent_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    hold: Option<axum::Extension<ConnectionHold>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = upgrade(ws)?;
    // A script's bad header token gets a plain 401 before the upgrade.
    let early = match header_token(&headers) {
        Some(token) => Some(agent_admitted(state.clone(), token).await?),
        None => None,
    };
    let hold = hold.map(|h| h.0);
    Ok(ws.on_upgrade(move |socket| serve_socket(socket, early, hold, state, agent_admitted)))
}

async fn visitor_events(
    State(state): State<AppState>,
    Path(chat_id): Path<String>,
    headers: HeaderMap,
    hold: Option<axum::Extension<ConnectionHold>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = upgrade(ws)?;
    let early = match header_token(&headers) {
        Some(token) => Some(visitor_admitted(state.clone(), token, chat_id.clone()).await?),
        None => None,
    };
    let hold = hold.map(|h| h.0);
    Ok(ws.on_upgrade(move |socket| {
        serve_socket(socket, early, hold, state, move |state, token| {
            visitor_admitted(state, token, chat_id)
        })
    }))
}

/// The workspace of the visitor holding `token`, if `chat_id` is their chat.
async fn visitor_of_chat(state: &AppState, token: &str, chat_id: &str) -> Result<String, ApiError> {
    let (visitor, status) = state
        .store
        .visitor_by_token(token, state.access.visitor_chats_closed_before())
        .await
        .map_err(super::extract::unauthorized_if_missing)?;
    if status == crate::domain::hosting::WorkspaceStatus::Suspended {
        return Err(ApiError::Suspended);
    }
    let chat = state.store.chat(&visitor.tenant_id, chat_id).await;
    if !chat.is_ok_and(|c| c.visitor_id == visitor.id) {
        return Err(ApiError::NotFound("chat"));
    }
    Ok(visitor.tenant_id)
}

/// Forwards the events `wanted` lets through until either side goes away,
/// and publishes what the client says (typing) as `speaker`; pings keep
/// proxies from closing a quiet socket. The socket keeps its
/// connection's place under the server's connection caps (`hold`), is
/// closed with 1001 (going away) when the server shuts down, and with 4401
/// when the agent credential it was opened with (`credential`) ends. An
/// agent's open socket is their console being there: it notes them as
/// seen once a minute, so an `online` agent turns `away` only when their
/// console has gone (see `domain::team::Availability`).
async fn pump(
    mut socket: WebSocket,
    mut events: Subscription,
    wanted: impl Fn(&Event) -> bool,
    credential: Option<String>,
    speaker: Speaker,
    state: AppState,
    hold: Option<ConnectionHold>,
) {
    let bus = &state.bus;
    let mut throttle = TypingThrottle::new(Instant::now());
    let mut stopping = hold.as_ref().map(ConnectionHold::stopping);
    if socket.send(Message::Text(r#"{"kind":"ready"}"#.into())).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    let mut seen_at = Instant::now();
    // Where this socket's agent was last said to be: left when they go
    // elsewhere or the socket ends.
    let mut viewing: Option<Event> = None;
    loop {
        let frame = tokio::select! {
            event = events.recv() => match event {
                Ok(e) if e.kind == EventKind::CredentialEnded => {
                    if e.credential_id.as_deref() == Some(crate::realtime::EVERY_CREDENTIAL) {
                        close(socket, CLOSE_UNAUTHORIZED, "workspace suspended").await;
                        break;
                    }
                    if credential.is_some() && e.credential_id == credential {
                        close(socket, CLOSE_UNAUTHORIZED, "session ended").await;
                        break;
                    }
                    continue;
                }
                Ok(e) if wanted(&e) => Message::Text(e.to_client_json().into()),
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Message::Text(r#"{"kind":"resync"}"#.into()),
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(Message::Text(text))) => {
                    let event = serde_json::from_str::<ClientFrame>(&text).ok().and_then(|f| speaker.event(f));
                    if let Some(event) = event.as_ref().filter(|e| e.kind == EventKind::Presence) {
                        let elsewhere = viewing.as_ref().is_some_and(|v| v.chat_id != event.chat_id || v.ticket != event.ticket);
                        if elsewhere && let Some(old) = viewing.take() {
                            bus.publish(left(old)).await;
                        }
                        let p = event.presence.as_ref().expect("a presence event has one");
                        if p.here && throttle.allow_any(Instant::now()) {
                            bus.publish(event.clone()).await;
                            viewing = Some(event.clone());
                        }
                        continue;
                    }
                    if let Some(event) = event {
                        let active = event.typing.as_ref().is_some_and(|t| t.active);
                        if throttle.allow(&event.chat_id, active, Instant::now()) {
                            bus.publish(event).await;
                        }
                    }
                    continue;
                }
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => {
                if let Speaker::Agent { agent_id, .. } = &speaker
                    && seen_at.elapsed() >= Duration::from_secs(60)
                {
                    seen_at = Instant::now();
                    if let Err(e) = state.store.touch_agent(agent_id).await {
                        tracing::warn!(agent = %agent_id, error = %e, "cannot note agent activity");
                    }
                }
                Message::Ping(Default::default())
            }
            () = super::edge::stopped(stopping.as_mut()) => {
                close(socket, 1001, "server shutting down").await;
                break;
            }
        };
        if socket.send(frame).await.is_err() {
            break;
        }
    }
    if let Some(old) = viewing {
        bus.publish(left(old)).await;
    }
}
