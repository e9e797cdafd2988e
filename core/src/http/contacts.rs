//! Contacts: the people a workspace serves. Agents look them up and see
//! their conversations; admins export everything held about one of them
//! (the GDPR's right of access) or erase them (its right to erasure).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{AuthAdmin, AuthAgent};
use crate::domain::{InvalidInput, MessageKind, TicketNumber};
use crate::store::{Actor, Audit, ContactListing, Erased, Holdings, Person};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_contacts))
        .routes(routes!(get_contact, erase_contact))
        .routes(routes!(export_contact))
}

/// The export's `format` and `version`.
pub const EXPORT_FORMAT: &str = "threadline-contact";
pub const EXPORT_VERSION: u32 = 1;

#[derive(Serialize, ToSchema)]
pub struct ContactSummary {
    /// A requester's id, or a visitor's for someone never made a requester.
    id: String,
    name: String,
    email: Option<String>,
}

impl From<ContactListing> for ContactSummary {
    fn from(c: ContactListing) -> Self {
        Self {
            id: c.id,
            name: c.name,
            email: c.email,
        }
    }
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
}

/// Contacts whose e-mail address is `q` (when it holds an `@`), or whose
/// name starts with `q` (ignoring case); at most 20.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", security(("agent_token" = [])),
    params(("q" = String, Query, description = "An address, or the start of a name")),
    responses((status = 200, description = "OK", body = Vec<ContactSummary>),
        (status = 422, description = "q is missing or too long", body = ErrorBody)))]
async fn search_contacts(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Query(params): Query<SearchParams>,
) -> Result<axum::Json<Vec<ContactSummary>>, ApiError> {
    let q = params.q.as_deref().map(str::trim).unwrap_or("");
    if q.is_empty() || q.chars().count() > 254 {
        return Err(InvalidInput::new("q", "q must be an address or the start of a name, 1 to 254 characters").into());
    }
    let found = state.store.search_contacts(&agent.tenant_id, q).await?;
    Ok(axum::Json(found.into_iter().map(ContactSummary::from).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    id: String,
    name: String,
    email: Option<String>,
    /// True once erased: the name and address are placeholders.
    erased: bool,
    created_at: DateTime<Utc>,
    /// Chats and tickets, a chat and the ticket made from it counted once
    /// (of the newest 50 of each).
    conversations: usize,
    /// Newest first, at most 50.
    chats: Vec<ContactChat>,
    /// Newest first, at most 50.
    tickets: Vec<ContactTicket>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactChat {
    id: String,
    status: String,
    subject: Option<String>,
    created_at: DateTime<Utc>,
    /// The ticket made from it (`TK-1042`).
    ticket_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactTicket {
    id: String,
    number: String,
    subject: String,
    status: String,
    channel: String,
    created_at: DateTime<Utc>,
}

/// A contact, from a requester's or any of their visitors' ids, with their
/// newest chats and tickets.
#[utoipa::path(get, path = "/api/v1/contacts/{contact_id}", tag = "contacts", security(("agent_token" = [])),
    params(("contact_id" = String, Path, description = "A requester's or a visitor's id")),
    responses((status = 200, description = "OK", body = ContactView),
        (status = 404, description = "No such contact in this workspace", body = ErrorBody)))]
async fn get_contact(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(contact_id): Path<String>,
) -> Result<axum::Json<ContactView>, ApiError> {
    let view = state
        .store
        .contact(&agent.tenant_id, &contact_id)
        .await
        .or_not_found("contact")?;
    let ticket_chats = view
        .tickets
        .iter()
        .filter(|t| {
            t.origin_chat_id
                .as_ref()
                .is_some_and(|c| view.chats.iter().any(|x| &x.id == c))
        })
        .count();
    let p = &view.person;
    Ok(axum::Json(ContactView {
        id: p.id().to_owned(),
        name: p.name().to_owned(),
        email: p.email().map(str::to_owned),
        erased: p.erased(),
        created_at: p.created_at(),
        conversations: view.chats.len() + view.tickets.len() - ticket_chats,
        chats: view
            .chats
            .iter()
            .map(|c| ContactChat {
                id: c.id.clone(),
                status: c.status.clone(),
                subject: c.subject.clone(),
                created_at: c.created_at,
                ticket_id: c.ticket_id.clone(),
            })
            .collect(),
        tickets: view
            .tickets
            .iter()
            .map(|t| ContactTicket {
                id: t.id.clone(),
                number: TicketNumber(t.number).to_string(),
                subject: t.subject.clone(),
                status: t.status.clone(),
                channel: t.channel.clone(),
                created_at: t.created_at,
            })
            .collect(),
    }))
}

/// Erases the contact across every place they appear, in one transaction
/// (README "Personal data"): their rows keep their ids under a placeholder,
/// their words go, the workspace's tickets, numbers, agents' replies and
/// figures stay. Logged in the audit log without the erased data.
#[utoipa::path(delete, path = "/api/v1/contacts/{contact_id}", tag = "contacts", security(("agent_token" = ["admin"])),
    params(("contact_id" = String, Path, description = "A requester's or a visitor's id")),
    responses((status = 200, description = "Erased: what changed", body = ErasedView),
        (status = 404, description = "No such contact in this workspace", body = ErrorBody),
        (status = 409, description = "More than 20,000 rows of one kind: nothing is erased", body = ErrorBody)))]
async fn erase_contact(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(contact_id): Path<String>,
) -> Result<axum::Json<ErasedView>, ApiError> {
    let erased = state
        .store
        .erase_contact(&admin.tenant_id, &contact_id, &Actor::agent(&admin))
        .await
        .or_not_found("contact")?;
    tracing::info!(tenant = %admin.tenant_id, by = %admin.id, contact = %erased.contact_id, "contact erased");
    Ok(axum::Json(erased.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ErasedView {
    contact_id: String,
    visitors: usize,
    chats: usize,
    tickets: usize,
    /// Messages and comments rewritten.
    messages: usize,
    comments: usize,
    /// Received and sent mail deleted.
    mails_deleted: usize,
}

impl From<Erased> for ErasedView {
    fn from(e: Erased) -> Self {
        Self {
            contact_id: e.contact_id,
            visitors: e.visitors,
            chats: e.chats,
            tickets: e.tickets,
            messages: e.messages,
            comments: e.comments,
            mails_deleted: e.mails_deleted,
        }
    }
}

/// Everything the workspace holds about one person (README "Personal
/// data" documents each field). Internal notes and ticket activity are
/// left out; of other people, only agents' display names appear.
#[derive(Serialize, ToSchema)]
pub struct ContactExport {
    /// `threadline-contact`.
    format: &'static str,
    version: u32,
    exported_at: DateTime<Utc>,
    /// The workspace's name: who holds the data.
    workspace: String,
    contact: ExportedContact,
    chats: Vec<ExportedChat>,
    tickets: Vec<ExportedTicket>,
    mail_received: Vec<ExportedMailIn>,
    mail_sent: Vec<ExportedMailOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedContact {
    id: String,
    name: String,
    email: Option<String>,
    created_at: DateTime<Utc>,
    /// Each visitor identity they chatted under.
    visitors: Vec<ExportedVisitor>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedVisitor {
    id: String,
    name: String,
    email: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedChat {
    id: String,
    subject: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    /// The summary written at close.
    summary: Option<String>,
    /// The ticket made from it (`TK-1042`).
    ticket: Option<String>,
    /// Public messages, oldest first (no internal notes).
    messages: Vec<ExportedMessage>,
    rating: Option<ExportedRating>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedMessage {
    at: DateTime<Utc>,
    /// `visitor` (the person), `agent` or `system`.
    kind: String,
    /// Their name, an agent's display name, or `System`.
    author: String,
    body: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedRating {
    score: i16,
    comment: Option<String>,
    at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedTicket {
    number: String,
    subject: String,
    status: String,
    priority: String,
    /// `chat`, `email`, `widget` or `agent`.
    channel: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// A converted chat's transcript, or the first message.
    description: String,
    summary: Option<String>,
    /// Public comments, oldest first (no internal notes).
    comments: Vec<ExportedComment>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedComment {
    at: DateTime<Utc>,
    /// An agent's display name, or theirs for a comment from their mail.
    author: String,
    /// `agent` or `email`.
    source: String,
    body: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedMailIn {
    received_at: DateTime<Utc>,
    from: String,
    subject: String,
    /// What became of it: `ticket`, `comment`, `chat` or `ignored`.
    outcome: String,
    /// The message as received (cut at 256 KiB).
    original: String,
    /// JSON list of `{name, content_type, size}` (the files are not kept).
    attachments: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedMailOut {
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    to: String,
    /// `reply`, `acknowledgement`, `chat_reply`, ...
    kind: String,
    /// `pending`, `sent` or `failed`.
    state: String,
    subject: String,
    /// Empty for mail composed as it is sent (an acknowledgement).
    body: String,
}

/// Everything held about the contact as one JSON document (admins), read
/// from one snapshot. Each export is logged in the audit log.
#[utoipa::path(get, path = "/api/v1/contacts/{contact_id}/export", tag = "contacts", security(("agent_token" = ["admin"])),
    params(("contact_id" = String, Path, description = "A requester's or a visitor's id")),
    responses((status = 200, description = "The document (served as an attachment)", body = ContactExport),
        (status = 404, description = "No such contact in this workspace", body = ErrorBody),
        (status = 409, description = "More than 20,000 rows of one kind", body = ErrorBody)))]
async fn export_contact(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(contact_id): Path<String>,
) -> Result<Response, ApiError> {
    let (person, mut held) = state
        .store
        .contact_holdings(&admin.tenant_id, &contact_id)
        .await
        .or_not_found("contact")?;
    let workspace = state.store.tenant(&admin.tenant_id).await?;
    state
        .store
        .audit(
            &admin.tenant_id,
            &Actor::agent(&admin),
            Audit::new("contact.exported", Some(person.id()), serde_json::json!({})),
        )
        .await?;
    // Mail from or to other addresses about their tickets is other
    // people's data (a colleague in the thread): not theirs to receive.
    let addresses = person.addresses();
    held.received.retain(|m| addresses.contains(&m.from_address));
    held.sent.retain(|m| addresses.contains(&m.to_address));
    let id = person.id().to_owned();
    let document = export_document(workspace.name, person, held);
    let disposition = format!("attachment; filename=\"contact-{id}.json\"");
    Ok(([(header::CONTENT_DISPOSITION, disposition)], axum::Json(document)).into_response())
}

fn export_document(workspace: String, person: Person, held: Holdings) -> ContactExport {
    let Holdings {
        chats,
        messages,
        tickets,
        comments,
        ratings,
        received,
        sent,
    } = held;
    let mut by_chat: HashMap<String, Vec<ExportedMessage>> = HashMap::new();
    for m in messages {
        let public = m
            .kind
            .parse::<MessageKind>()
            .map(MessageKind::is_public)
            .unwrap_or(false);
        if public {
            by_chat.entry(m.chat_id).or_default().push(ExportedMessage {
                at: m.created_at,
                kind: m.kind,
                author: m.author_name,
                body: m.body,
            });
        }
    }
    let mut rating_of: HashMap<String, ExportedRating> = ratings
        .into_iter()
        .map(|r| {
            (
                r.chat_id,
                ExportedRating {
                    score: r.score,
                    comment: r.comment,
                    at: r.created_at,
                },
            )
        })
        .collect();
    let mut by_ticket: HashMap<String, Vec<ExportedComment>> = HashMap::new();
    for c in comments.into_iter().filter(|c| !c.internal) {
        by_ticket.entry(c.ticket_id).or_default().push(ExportedComment {
            at: c.created_at,
            author: c.author_name,
            source: c.source,
            body: c.body,
        });
    }
    let number_of: HashMap<String, String> = tickets
        .iter()
        .map(|t| (t.id.clone(), TicketNumber(t.number).to_string()))
        .collect();
    ContactExport {
        format: EXPORT_FORMAT,
        version: EXPORT_VERSION,
        exported_at: Utc::now(),
        workspace,
        contact: ExportedContact {
            id: person.id().to_owned(),
            name: person.name().to_owned(),
            email: person.email().map(str::to_owned),
            created_at: person.created_at(),
            visitors: person
                .visitors
                .into_iter()
                .map(|v| ExportedVisitor {
                    id: v.id,
                    name: v.name,
                    email: v.email,
                    created_at: v.created_at,
                })
                .collect(),
        },
        chats: chats
            .into_iter()
            .map(|c| ExportedChat {
                messages: by_chat.remove(&c.id).unwrap_or_default(),
                rating: rating_of.remove(&c.id),
                ticket: c.ticket_id.and_then(|t| number_of.get(&t).cloned()),
                id: c.id,
                subject: c.subject,
                status: c.status,
                created_at: c.created_at,
                closed_at: c.closed_at,
                summary: c.summary,
            })
            .collect(),
        tickets: tickets
            .into_iter()
            .map(|t| ExportedTicket {
                comments: by_ticket.remove(&t.id).unwrap_or_default(),
                number: TicketNumber(t.number).to_string(),
                subject: t.subject,
                status: t.status,
                priority: t.priority,
                channel: t.channel,
                created_at: t.created_at,
                updated_at: t.updated_at,
                description: t.description,
                summary: t.summary,
            })
            .collect(),
        mail_received: received
            .into_iter()
            .map(|m| ExportedMailIn {
                received_at: m.received_at,
                from: m.from_address,
                subject: m.subject,
                outcome: m.outcome,
                original: m.original,
                attachments: serde_json::from_str(&m.attachments).unwrap_or_default(),
            })
            .collect(),
        mail_sent: sent
            .into_iter()
            .map(|m| ExportedMailOut {
                created_at: m.created_at,
                sent_at: m.sent_at,
                to: m.to_address,
                kind: m.kind,
                state: m.state,
                subject: m.subject,
                body: m.body,
            })
            .collect(),
    }
}
