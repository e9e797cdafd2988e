//! What an event says, as rules and webhooks read it: built when the event
//! is handled, from the rows it names (the ticket as it is then, with its
//! requester; the comment; the chat with its visitor).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::entities::{chat, requester, ticket, ticket_comment, visitor};
use super::{QueuedEvent, Store, StoreResult, Ticket};
use crate::domain::TicketNumber;

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

/// A ticket as an event carries it.
pub(super) fn ticket_json(t: &Ticket, r: Option<&requester::Model>) -> Value {
    json!({
        "id": t.id,
        "number": TicketNumber(t.number).to_string(),
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "assignee_id": t.assignee_id,
        "channel": t.channel,
        "tags": serde_json::from_str::<Value>(&t.tags).unwrap_or(Value::Array(Vec::new())),
        "custom_fields": serde_json::from_str::<Value>(&t.custom_fields).unwrap_or(json!({})),
        "origin_chat_id": t.origin_chat_id,
        "created_at": time(Some(t.created_at)),
        "updated_at": time(Some(t.updated_at)),
        "due_at": time(t.due_at),
        "first_response_at": time(t.first_response_at),
        "requester": r.map(|r| json!({"id": r.id, "name": r.name, "email": r.email})),
    })
}

impl Store {
    /// The payload of `e`: `{id, event, occurred_at, actor, ticket?,
    /// changes?, comment?, chat?}` (README, "Events"). What was deleted
    /// since is left out.
    pub async fn event_payload(&self, e: &QueuedEvent) -> StoreResult<Value> {
        let tenant = &e.tenant_id;
        let mut out = json!({
            "id": e.id,
            "event": e.kind,
            "occurred_at": time(Some(e.created_at)),
            "actor": e.actor,
        });
        if let Some(id) = &e.ticket_id
            && let Some(t) = ticket::Entity::find_by_id(id)
                .filter(ticket::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?
        {
            let r = requester::Entity::find_by_id(&t.requester_id)
                .filter(requester::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?;
            out["ticket"] = ticket_json(&t, r.as_ref());
        }
        if let Some(changes) = &e.changes {
            out["changes"] = serde_json::from_str(changes).unwrap_or(Value::Null);
        }
        if let Some(id) = &e.comment_id
            && let Some(c) = ticket_comment::Entity::find_by_id(id)
                .filter(ticket_comment::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?
        {
            out["comment"] = json!({
                "id": c.id,
                "body": c.body,
                "internal": c.internal,
                "author_name": c.author_name,
                "source": c.source,
                "created_at": time(Some(c.created_at)),
            });
        }
        if let Some(id) = &e.chat_id
            && let Some(c) = chat::Entity::find_by_id(id)
                .filter(chat::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?
        {
            let v = visitor::Entity::find_by_id(&c.visitor_id)
                .filter(visitor::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?;
            out["chat"] = json!({
                "id": c.id,
                "status": c.status,
                "subject": c.subject,
                "assignee_id": c.assignee_id,
                "ticket_id": c.ticket_id,
                "created_at": time(Some(c.created_at)),
                "closed_at": time(c.closed_at),
                "last_message": c.last_message_preview,
                "visitor": v.map(|v| json!({"id": v.id, "name": v.name, "email": v.email})),
            });
        }
        Ok(out)
    }
}
