//! Tickets made by hand in the console (no chat behind them): the
//! workspace the hooks run on, and the one transaction that writes the
//! ticket.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::EntityTrait;
use threadline_migrations::search::SearchIndex;

use super::comments::{Comment, write_comment};
use super::conversion_commit::{custom_json, tags_json, take_ticket_number, upsert_requester};
use super::entities::ticket;
use super::events::{Doer, NewEvent};
use super::outbox::OutboxMail;
use super::{Agent, Requester, Store, StoreError, StoreResult, Ticket};
use crate::domain::automation::EventKind;
use crate::domain::hooks::TicketFields;
use crate::domain::{EmailAddress, TicketStatus};

/// A ticket an agent makes by hand, its hooks already run.
#[derive(Debug, Clone)]
pub struct HandTicket {
    pub id: String,
    pub tenant_id: String,
    pub subject: String,
    pub body: String,
    pub requester_email: EmailAddress,
    /// Used when the requester is new; a known requester keeps their name.
    pub requester_name: String,
    pub assignee_id: Option<String>,
    pub fields: TicketFields,
    pub receipt: String,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// Mail the body to the requester, as the ticket's first public reply.
    pub notify: bool,
}

impl Store {
    /// Writes `t` by `agent` in one transaction: the requester (found by
    /// address or created), the next number, the ticket (open), its search
    /// words and, if asked, the body as its first public reply, queued for
    /// the requester.
    pub async fn create_ticket_by_hand(
        &self,
        t: &HandTicket,
        agent: &Agent,
    ) -> StoreResult<(Ticket, Requester, Option<(Comment, Option<OutboxMail>)>)> {
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        let (ticket, requester) = write_open_ticket(&txn, t, "agent", now).await?;
        super::events::queue(
            &txn,
            &ticket.tenant_id,
            NewEvent::by(EventKind::TicketCreated, Doer::agent(agent)).ticket(&ticket.id),
        )
        .await?;
        let reply = if t.notify {
            Some(write_comment(&txn, &ticket, Doer::agent(agent), &t.body, false).await?)
        } else {
            None
        };
        let ticket = ticket::Entity::find_by_id(&t.id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        let written = t.subject.len() + t.body.len() * if t.notify { 2 } else { 1 };
        self.meter.count(&t.tenant_id, |u| u.stored_bytes += written as i64);
        Ok((ticket, requester, reply))
    }
}

/// Writes `t` in `txn` as an open ticket that came in by `channel` (no
/// chat behind it): its requester (found by address or created), the next
/// number (taken last, as a conversion takes it), the ticket and its
/// search words.
pub(super) async fn write_open_ticket(
    txn: &sea_orm::DatabaseTransaction,
    t: &HandTicket,
    channel: &str,
    now: DateTime<Utc>,
) -> StoreResult<(Ticket, Requester)> {
    let requester = upsert_requester(txn, &t.tenant_id, &t.requester_email, &t.requester_name, now).await?;
    let number = take_ticket_number(txn, &t.tenant_id).await?;
    let status = TicketStatus::Open;
    let clock = crate::domain::sla::Clock {
        first_response_due_at: t.first_response_due_at,
        resolution_due_at: t.resolution_due_at,
        first_response_at: None,
        solved_at: None,
    };
    let ticket = Ticket {
        id: t.id.clone(),
        tenant_id: t.tenant_id.clone(),
        number,
        subject: t.subject.clone(),
        description: t.body.clone(),
        status: status.to_string(),
        assignee_id: t.assignee_id.clone(),
        requester_id: requester.id.clone(),
        first_response_at: None,
        origin_chat_id: None,
        summary: None,
        created_at: now,
        updated_at: now,
        priority: t.fields.priority.unwrap_or_default().as_str().to_owned(),
        tags: tags_json(&t.fields),
        custom_fields: custom_json(&t.fields),
        receipt: t.receipt.clone(),
        first_response_due_at: t.first_response_due_at,
        resolution_due_at: t.resolution_due_at,
        solved_at: None,
        due_at: clock.next_due(status),
        channel: channel.to_owned(),
    };
    ticket::Entity::insert(ticket::ActiveModel::from(ticket.clone()))
        .exec_without_returning(txn)
        .await?;
    let number_text = number.to_string();
    let texts = [
        t.subject.as_str(),
        requester.name.as_str(),
        requester.email.as_str(),
        t.body.as_str(),
        number_text.as_str(),
    ];
    super::index_terms(txn, SearchIndex::Tickets, &t.tenant_id, &t.id, texts).await?;
    Ok((ticket, requester))
}
