//! Receiving mail over HTTP: a relay (a Postfix pipe, a provider's inbound
//! webhook, `curl --data-binary @mail.eml`) posts the raw message to the
//! workspace's secret URL; and what admins see of the mail received.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AuthAdmin, AuthAgent};
use crate::domain::hosting::WorkspaceStatus;
use crate::domain::inbound::Attachment;
use crate::domain::{InvalidInput, TicketNumber, single_line};
use crate::inbound::ReceiveError;
use crate::store::{InboundMail, Received, StoreError, Via};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .routes(routes!(list_received))
        .routes(routes!(original))
        .routes(routes!(get_mailbox, put_mailbox, delete_mailbox))
}

#[derive(Serialize, ToSchema)]
pub struct MailboxView {
    host: String,
    port: u16,
    /// `tls` (from the start, port 993), `starttls` (port 143) or `none`
    /// (only for a server on the same machine).
    security: String,
    username: String,
    /// The password is stored and never shown.
    has_password: bool,
    folder: String,
    /// When it was last read, and the last error, if the last read failed.
    last_polled_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl From<crate::store::Mailbox> for MailboxView {
    fn from(m: crate::store::Mailbox) -> Self {
        Self {
            host: m.host,
            port: u16::try_from(m.port).unwrap_or_default(),
            security: m.security,
            username: m.username,
            has_password: !m.password.is_empty(),
            folder: m.folder,
            last_polled_at: m.last_polled_at,
            last_error: m.last_error,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxUpdate {
    host: String,
    port: u16,
    security: String,
    username: String,
    /// Required the first time; left out, the stored one is kept.
    password: Option<String>,
    /// `INBOX` when left out.
    folder: Option<String>,
}

/// The workspace's IMAP mailbox, if it has one (admins).
#[utoipa::path(get, path = "/api/v1/settings/imap", tag = "mail", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = MailboxView), (status = 404, description = "No mailbox", body = ErrorBody)))]
async fn get_mailbox(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<MailboxView>, ApiError> {
    let mailbox = state.store.mailbox(&admin.tenant_id).await?;
    Ok(axum::Json(mailbox.ok_or(ApiError::NotFound("mailbox"))?.into()))
}

/// Polls an IMAP mailbox for the workspace's mail: unseen mail becomes
/// tickets and comments, and is marked seen once it has (admins). The
/// node polling the old settings stops.
#[utoipa::path(put, path = "/api/v1/settings/imap", tag = "mail", security(("agent_token" = ["admin"])),
    request_body = MailboxUpdate,
    responses((status = 200, description = "OK", body = MailboxView), (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn put_mailbox(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    super::extract::ApiJson(u): super::extract::ApiJson<MailboxUpdate>,
) -> Result<axum::Json<MailboxView>, ApiError> {
    let host = single_line("host", &u.host, 253)?;
    if host.contains([' ', '/', '@']) {
        return Err(InvalidInput::new("host", "host must be a host name or an address").into());
    }
    if u.port == 0 {
        return Err(InvalidInput::new("port", "port must be from 1 to 65535").into());
    }
    if !matches!(u.security.as_str(), "tls" | "starttls" | "none") {
        return Err(InvalidInput::new("security", "security must be tls, starttls or none").into());
    }
    let username = single_line("username", &u.username, 320)?;
    let password = match u.password {
        Some(p) if p.is_empty() || p.len() > 1024 || p.contains(['\r', '\n']) => {
            return Err(InvalidInput::new("password", "password must be 1 to 1024 characters on one line").into());
        }
        other => other,
    };
    let folder = single_line("folder", u.folder.as_deref().unwrap_or("INBOX"), 200)?;
    let settings = crate::store::MailboxSettings {
        host,
        port: u.port,
        security: u.security,
        username,
        password,
        folder,
    };
    let saved = state
        .store
        .set_mailbox(&admin.tenant_id, settings)
        .await?
        .ok_or_else(|| InvalidInput::new("password", "password is required for a new mailbox"))?;
    tracing::info!(tenant = %admin.tenant_id, agent = %admin.id, host = %saved.host, "IMAP mailbox set");
    Ok(axum::Json(saved.into()))
}

/// Stops polling the workspace's mailbox (admins).
#[utoipa::path(delete, path = "/api/v1/settings/imap", tag = "mail", security(("agent_token" = ["admin"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "No mailbox", body = ErrorBody)))]
async fn delete_mailbox(State(state): State<AppState>, AuthAdmin(admin): AuthAdmin) -> Result<StatusCode, ApiError> {
    if state.store.remove_mailbox(&admin.tenant_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("mailbox"))
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReceivedResult {
    /// `ticket` (it opened one), `comment` (it joined one), `chat` (it
    /// joined an open chat as its visitor's message), `ignored`
    /// (kept, but answered by nothing: see `reason`) or `duplicate` (this
    /// Message-ID came before; nothing changed).
    outcome: &'static str,
    /// The ticket it opened or joined, e.g. `TK-1042`.
    ticket: Option<String>,
    /// The chat it joined (`chat`: a visitor's answer to an agent's reply
    /// mailed after they left).
    chat_id: Option<String>,
    reason: Option<String>,
}

/// Receives one mail for the workspace whose inbound key is in the path.
/// The body is the raw RFC 5322 message (`Content-Type: message/rfc822`;
/// any type is read the same). Answered once the mail is written with what
/// it became; delivering it again changes nothing.
#[utoipa::path(post, path = "/api/v1/inbound/{inbound_key}", tag = "mail",
    params(("inbound_key" = String, Path, description = "The workspace's inbound key (settings)")),
    request_body(content = String, content_type = "message/rfc822"),
    responses(
        (status = 202, description = "Received", body = ReceivedResult),
        (status = 404, description = "No workspace has this key", body = ErrorBody),
        (status = 413, description = "Over the size limit (`--inbound-max-bytes`)", body = ErrorBody),
        (status = 422, description = "Not a mail", body = ErrorBody),
    ))]
async fn receive(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<ReceivedResult>), ApiError> {
    // The key first: a stranger's body is not read.
    let workspace = match state.store.workspace_by_inbound_key(&key).await {
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("inbound key")),
        other => other?,
    };
    if workspace.status != WorkspaceStatus::Active.as_str() {
        return Err(ApiError::Suspended);
    }
    let limit = state.inbound.settings().max_bytes;
    let raw = read_at_most(body, limit).await?;
    let received = match state.inbound.receive(&workspace, &raw, Via::Http).await {
        Ok(r) => r,
        Err(ReceiveError::NotAMessage(e)) => return Err(ApiError::Unprocessable(e.to_string())),
        Err(ReceiveError::TooLarge { limit, .. }) => {
            return Err(ApiError::TooLarge(format!(
                "a mail may be at most {limit} bytes (--inbound-max-bytes)"
            )));
        }
        Err(ReceiveError::Store(e)) => return Err(e.into()),
    };
    let number = |n: i64| Some(TicketNumber(n).to_string());
    let result = match received {
        Received::Opened(t) => ReceivedResult {
            outcome: "ticket",
            ticket: number(t.number),
            chat_id: None,
            reason: None,
        },
        Received::Joined(t, _) => ReceivedResult {
            outcome: "comment",
            ticket: number(t.number),
            chat_id: None,
            reason: None,
        },
        Received::Chatted(chat, _) => ReceivedResult {
            outcome: "chat",
            ticket: None,
            chat_id: Some(chat.id),
            reason: None,
        },
        Received::Ignored(reason) => ReceivedResult {
            outcome: "ignored",
            ticket: None,
            chat_id: None,
            reason: Some(reason),
        },
        Received::Duplicate => ReceivedResult {
            outcome: "duplicate",
            ticket: None,
            chat_id: None,
            reason: None,
        },
    };
    Ok((StatusCode::ACCEPTED, axum::Json(result)))
}

#[derive(Serialize, ToSchema)]
pub struct ReceivedMailView {
    pub id: String,
    pub message_id: String,
    pub from: String,
    pub from_name: String,
    pub subject: String,
    pub received_at: DateTime<Utc>,
    /// `ticket`, `comment`, `chat` or `ignored`.
    pub outcome: String,
    /// Why it was ignored, or how it found its ticket.
    pub reason: Option<String>,
    pub ticket_id: Option<String>,
    pub comment_id: Option<String>,
    pub chat_id: Option<String>,
    /// Files it carried, listed (their bytes are not kept).
    pub attachments: Vec<Attachment>,
    pub size_bytes: i64,
    /// `http`, `imap` or `widget` (a message left while nobody was online).
    pub via: String,
}

impl From<InboundMail> for ReceivedMailView {
    fn from(m: InboundMail) -> Self {
        Self {
            attachments: serde_json::from_str(&m.attachments).unwrap_or_default(),
            id: m.id,
            message_id: m.message_id,
            from: m.from_address,
            from_name: m.from_name,
            subject: m.subject,
            received_at: m.received_at,
            outcome: m.outcome,
            reason: m.reason,
            ticket_id: m.ticket_id,
            comment_id: m.comment_id,
            chat_id: m.chat_id,
            size_bytes: m.size_bytes,
            via: m.via,
        }
    }
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// At most this many, 1 to 200 (50 by default).
    limit: Option<u64>,
    /// Only mail received before this time (the last one of a page).
    before: Option<DateTime<Utc>>,
}

/// The mail the workspace received, newest first: what each became, or why
/// it became nothing (admins).
#[utoipa::path(get, path = "/api/v1/mail/received", tag = "mail", security(("agent_token" = ["admin"])),
    params(ListQuery),
    responses((status = 200, description = "OK", body = Vec<ReceivedMailView>)))]
async fn list_received(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Vec<ReceivedMailView>>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mail = state.store.received_mail(&admin.tenant_id, q.before, limit).await?;
    Ok(axum::Json(mail.into_iter().map(ReceivedMailView::from).collect()))
}

/// A received mail's whole text, quoted history included (a comment holds
/// the reply alone), as plain text.
#[utoipa::path(get, path = "/api/v1/mail/received/{id}/original", tag = "mail", security(("agent_token" = [])),
    params(("id" = String, Path, description = "The received mail's id")),
    responses((status = 200, description = "The text", content_type = "text/plain"), (status = 404, description = "Not found", body = ErrorBody)))]
async fn original(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let mail = match state.store.received_mail_by_id(&agent.tenant_id, &id).await {
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("received mail")),
        other => other?,
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline"),
        ],
        mail.original,
    ))
}

/// The body, refused with 413 once it passes `limit` bytes (never held
/// past it). The rest of a refused body is read and dropped, up to as much
/// again, so the sender hears the 413 instead of a connection cut under
/// its upload (as a web server's lingering close does).
async fn read_at_most(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut raw = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        seen += chunk.len();
        if seen > limit {
            raw = Vec::new();
            if seen > limit.saturating_mul(2) {
                break;
            }
            continue;
        }
        raw.extend_from_slice(&chunk);
    }
    if seen > limit {
        return Err(ApiError::TooLarge(format!(
            "a mail may be at most {limit} bytes (--inbound-max-bytes)"
        )));
    }
    Ok(raw)
}
