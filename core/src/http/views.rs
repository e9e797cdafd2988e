//! JSON shapes of the API: requests and responses, described for OpenAPI.
//! Only this layer knows them; handlers build them from store records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::domain::TicketNumber;
use crate::store::{Agent, Message, Requester, Ticket};

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    /// `visitor`, `agent`, `internal_note` or `system`.
    pub kind: String,
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            kind: m.kind,
            author_name: m.author_name,
            body: m.body,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

impl From<Agent> for AgentRef {
    fn from(a: Agent) -> Self {
        Self { id: a.id, name: a.name }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VisitorView {
    /// The visitor's id: `GET /api/v1/contacts/{id}` opens their contact.
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

/// A link to a ticket: what the chat sidebar shows as "View ticket TK-… →".
#[derive(Serialize, ToSchema)]
pub struct TicketRef {
    pub id: String,
    /// e.g. `TK-1001`
    pub number: String,
    pub url: String,
}

impl TicketRef {
    pub fn of(ticket: &Ticket) -> Self {
        let number = TicketNumber(ticket.number).to_string();
        Self {
            id: ticket.id.clone(),
            url: format!("/api/v1/tickets/{number}"),
            number,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChatView {
    pub id: String,
    /// `open` or `closed`.
    pub status: String,
    pub subject: Option<String>,
    pub visitor: VisitorView,
    pub assignee: Option<AgentRef>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    /// The ticket this chat was converted to, if any. Reopening keeps it.
    pub ticket: Option<TicketRef>,
    pub created_at: DateTime<Utc>,
    /// Last activity: a message, a close or a reopen.
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Oldest first, internal notes included (agents only).
    pub messages: Vec<MessageView>,
    /// The visitor's rating of the conversation, once given.
    pub rating: Option<RatingView>,
}

#[derive(Serialize, ToSchema)]
pub struct RatingView {
    /// 1 to 5.
    pub score: i16,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatListItemView {
    pub id: String,
    pub status: String,
    pub subject: Option<String>,
    pub visitor: VisitorView,
    pub has_ticket: bool,
    pub created_at: DateTime<Utc>,
    /// Last activity (a message, a close, a reopen): the list's order,
    /// newest first.
    pub updated_at: DateTime<Utc>,
    /// The newest public message's first words, on one line.
    pub last_message: Option<String>,
    /// The visitor wrote last: the chat waits for an agent's reply (since
    /// `updated_at`).
    pub waiting: bool,
    /// Who has the chat, if anyone.
    pub assignee_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RequesterView {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// The "Originated from chat" backlink of a ticket.
#[derive(Serialize, ToSchema)]
pub struct OriginView {
    pub chat_id: String,
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct TicketView {
    pub id: String,
    /// e.g. `TK-1001`
    pub number: String,
    pub subject: String,
    /// For a converted chat: its plain-text transcript, without internal notes.
    pub description: String,
    /// `in_progress` after conversion.
    pub status: String,
    pub assignee: Option<AgentRef>,
    pub requester: RequesterView,
    pub first_response_at: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    pub origin: Option<OriginView>,
    /// Where it began: `chat` (converted), `agent` (made by hand), `email`
    /// (a mail opened it) or `widget` (a message left while nobody was
    /// online).
    pub channel: String,
    /// `low`, `normal` (the default), `high` or `urgent`.
    pub priority: String,
    /// Lowercase tags, as the fields hook set them.
    pub tags: Vec<String>,
    /// Custom fields by key, as the fields hook set them.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// For a converted chat, what ran for each hook: `{hook, plugin,
    /// plugin_name, version, sha256, outcome (ok, fell_back, native,
    /// typed), reason, fuel, elapsed_ms}`.
    #[schema(value_type = Vec<Object>)]
    pub receipt: Vec<serde_json::Value>,
    /// Service level: when the workspace's targets fall due (counted from
    /// the chat's start) and whether they were missed.
    pub sla: SlaView,
    /// On a single ticket: who changed which field from what to what, and
    /// when, oldest first (the newest 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Vec<TicketEventView>>,
    /// On a single ticket: its comments, oldest first (the newest 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<CommentView>>,
    /// On a single ticket: the mail it received, oldest first (the newest
    /// 200), with the files each carried; each names the comment it
    /// became by `comment_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_mail: Option<Vec<super::inbound::ReceivedMailView>>,
    /// On a single ticket: `smtp` when public comments are mailed to the
    /// requester, `not_configured` when they wait in the outbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_delivery: Option<&'static str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketEventView {
    /// `status`, `assignee` (agent ids) or `priority`.
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: AgentRef,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SlaView {
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// Set (to the due time) when the first response came late or has not
    /// come by its due time.
    pub first_response_breached_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// Set (to the due time) when the ticket was solved late or is not
    /// solved by its due time.
    pub resolution_breached_at: Option<DateTime<Utc>>,
    /// The next target still to meet; none once solved.
    pub next_due_at: Option<DateTime<Utc>>,
    pub solved_at: Option<DateTime<Utc>>,
}

impl SlaView {
    fn of(t: &Ticket) -> Self {
        let clock = crate::domain::sla::Clock {
            first_response_due_at: t.first_response_due_at,
            resolution_due_at: t.resolution_due_at,
            first_response_at: t.first_response_at,
            solved_at: t.solved_at,
        };
        let now = Utc::now();
        Self {
            first_response_due_at: t.first_response_due_at,
            first_response_breached_at: clock.first_response_breached_at(now),
            resolution_due_at: t.resolution_due_at,
            resolution_breached_at: clock.resolution_breached_at(now),
            next_due_at: t.due_at,
            solved_at: t.solved_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CommentView {
    pub id: String,
    pub body: String,
    /// Internal comments are for agents only; public ones are mailed to
    /// the requester.
    pub internal: bool,
    pub author: AgentRef,
    pub created_at: DateTime<Utc>,
    /// `agent` (written in the console; the author is an agent) or `email`
    /// (the requester's mail, without the history it quoted; the author is
    /// the requester, or whoever else answered the thread).
    pub source: String,
    /// A public comment's mail.
    pub delivery: Option<DeliveryView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// `queued` (waiting, or retrying after a failure), `sent` or `failed`
    /// (given up; see `last_error`).
    pub state: String,
    pub to: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl CommentView {
    pub fn new(c: crate::store::Comment, mail: Option<crate::store::OutboxMail>) -> Self {
        Self {
            id: c.id,
            body: c.body,
            internal: c.internal,
            author: AgentRef {
                id: c.author_id,
                name: c.author_name,
            },
            created_at: c.created_at,
            source: c.source,
            delivery: mail.map(|m| DeliveryView {
                state: m.state,
                to: m.to_address,
                attempts: m.attempts,
                last_error: m.last_error,
                sent_at: m.sent_at,
            }),
        }
    }
}

impl From<crate::store::TicketEvent> for TicketEventView {
    fn from(e: crate::store::TicketEvent) -> Self {
        Self {
            field: e.field,
            from: e.old_value,
            to: e.new_value,
            by: AgentRef {
                id: e.agent_id,
                name: e.agent_name,
            },
            at: e.created_at,
        }
    }
}

impl TicketView {
    /// Loads what one ticket links to (assignee, requester) and builds its view.
    pub async fn load(state: &AppState, ticket: Ticket) -> Result<Self, ApiError> {
        let store = &state.store;
        let assignee = match &ticket.assignee_id {
            Some(id) => store.agent(&ticket.tenant_id, id).await.ok(),
            None => None,
        };
        let requester = store.requester(&ticket.tenant_id, &ticket.requester_id).await?;
        Ok(Self::build(ticket, assignee.map(AgentRef::from), requester))
    }

    pub fn build(ticket: Ticket, assignee: Option<AgentRef>, requester: Requester) -> Self {
        Self {
            sla: SlaView::of(&ticket),
            number: TicketNumber(ticket.number).to_string(),
            priority: ticket.priority,
            // Written by this server as JSON; unreadable text would be a
            // bug of ours, shown as empty rather than failing the ticket.
            tags: serde_json::from_str(&ticket.tags).unwrap_or_default(),
            custom_fields: serde_json::from_str(&ticket.custom_fields).unwrap_or_default(),
            receipt: serde_json::from_str(&ticket.receipt).unwrap_or_default(),
            activity: None,
            comments: None,
            received_mail: None,
            email_delivery: None,
            id: ticket.id,
            subject: ticket.subject,
            description: ticket.description,
            status: ticket.status,
            assignee,
            requester: RequesterView {
                id: requester.id,
                email: requester.email,
                name: requester.name,
            },
            first_response_at: ticket.first_response_at,
            summary: ticket.summary,
            channel: ticket.channel,
            origin: ticket.origin_chat_id.map(|chat_id| OriginView {
                url: format!("/api/v1/chats/{chat_id}"),
                chat_id,
            }),
            created_at: ticket.created_at,
            updated_at: ticket.updated_at,
        }
    }
}

/// The Convert panel's fields. Both optional in JSON so that a missing email
/// gets the same clear 422 as an empty one.
#[derive(Deserialize, ToSchema, Default)]
pub struct ConvertRequest {
    /// Required: the requester's email.
    #[schema(required = true, value_type = String, format = Email, max_length = 254, example = "ada@example.com")]
    pub visitor_email: Option<String>,
    /// Optional: blank or absent means the default subject.
    #[schema(max_length = 255)]
    pub subject: Option<String>,
    /// Optional: why the chat becomes a ticket, kept as the ticket's first
    /// internal comment (agents only, never mailed).
    #[schema(max_length = 10000)]
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PrefillView {
    /// The email the chat captured, if it did.
    pub visitor_email: Option<String>,
    /// The chat's subject, else "Chat with <visitor name>".
    pub subject: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewRequesterView {
    pub email: String,
    pub name: String,
    /// True when a requester with this email exists and would be reused.
    pub exists: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub subject: String,
    pub description: String,
    pub status: String,
    pub assignee: AgentRef,
    pub requester: PreviewRequesterView,
    pub first_response_at: Option<DateTime<Utc>>,
    /// Set when the chat is already converted: converting returns this ticket.
    pub existing_ticket: Option<TicketRef>,
}
