//! Contacts: one person as the workspace knows them, found from any of
//! their rows, and everything held about them (for an export or an
//! erasure).
//!
//! A person is a requester (one per address in a workspace) and the
//! visitors who chatted under that address or whose chats became the
//! requester's tickets; or, when no ticket was ever made for them, a
//! visitor alone. A contact's id is its requester's id, else its
//! visitor's; any of its visitors' ids finds it too, so the console opens
//! a contact from a chat as well as from a ticket.
//!
//! Every read here follows an index from the person (addresses, visitor
//! ids, requester id, chat and ticket ids): the cost grows with what the
//! person has, never with the workspace.

use std::collections::BTreeSet;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::entities::{chat, inbound_mail, mail_outbox, message, rating, requester, ticket, ticket_comment, visitor};
use super::{Chat, Requester, Store, StoreError, StoreResult, Ticket, Visitor};
use crate::domain::erasure::is_placeholder_email;

/// Chats or tickets a contact's view lists, newest first.
pub const CONTACT_LIST_LIMIT: u64 = 50;
/// Contacts a search returns at most.
pub const CONTACT_SEARCH_LIMIT: u64 = 20;
/// Rows of one kind read for one person at most: past this, an export or
/// an erasure refuses (409) rather than run without bound, or act on part
/// of them (no person a help desk serves has this many chats).
const MAX_ROWS_PER_PERSON: u64 = 20_000;

/// `rows`, read with `.limit(MAX_ROWS_PER_PERSON)`, if that was all of them.
fn whole<T>(rows: Vec<T>) -> StoreResult<Vec<T>> {
    if rows.len() as u64 >= MAX_ROWS_PER_PERSON {
        return Err(StoreError::Conflict(format!(
            "this contact has more than {MAX_ROWS_PER_PERSON} rows of one kind: too many to export or erase at once"
        )));
    }
    Ok(rows)
}

/// One person: their requester row, if a ticket was ever made for them,
/// and their visitors.
#[derive(Debug, Clone)]
pub struct Person {
    pub requester: Option<Requester>,
    pub visitors: Vec<Visitor>,
}

impl Person {
    /// The contact's id: its requester's, else its (first) visitor's.
    pub fn id(&self) -> &str {
        match (&self.requester, self.visitors.first()) {
            (Some(r), _) => &r.id,
            (None, Some(v)) => &v.id,
            (None, None) => "",
        }
    }

    pub fn name(&self) -> &str {
        match (&self.requester, self.visitors.first()) {
            (Some(r), _) => &r.name,
            (None, Some(v)) => &v.name,
            (None, None) => "",
        }
    }

    pub fn email(&self) -> Option<&str> {
        match &self.requester {
            Some(r) => Some(&r.email),
            None => self.visitors.iter().find_map(|v| v.email.as_deref()),
        }
    }

    pub fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        let visitors = self.visitors.iter().map(|v| v.created_at);
        self.requester
            .iter()
            .map(|r| r.created_at)
            .chain(visitors)
            .min()
            .unwrap_or_default()
    }

    /// Whether the person was erased (their rows hold placeholders).
    pub fn erased(&self) -> bool {
        self.requester.as_ref().is_some_and(|r| is_placeholder_email(&r.email))
            || (self.requester.is_none() && self.visitors.iter().all(|v| v.email.is_none()) && {
                self.visitors
                    .iter()
                    .all(|v| v.name == crate::domain::erasure::PLACEHOLDER_NAME)
            })
    }

    /// Every address the person is known by, as given and lowercased.
    pub fn addresses(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        if let Some(r) = &self.requester {
            out.insert(r.email.clone());
            out.insert(r.email_normalized.clone());
        }
        for v in &self.visitors {
            out.extend(v.email.clone());
            out.extend(v.email_normalized.clone());
        }
        out.into_iter().collect()
    }

    /// Every name the person gave.
    pub fn names(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        out.extend(self.requester.iter().map(|r| r.name.clone()));
        out.extend(self.visitors.iter().map(|v| v.name.clone()));
        out.into_iter().filter(|n| !n.trim().is_empty()).collect()
    }

    pub fn visitor_ids(&self) -> Vec<String> {
        self.visitors.iter().map(|v| v.id.clone()).collect()
    }
}

/// A contact in a search's results.
#[derive(Debug, Clone)]
pub struct ContactListing {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
}

impl From<Requester> for ContactListing {
    fn from(r: Requester) -> Self {
        Self {
            id: r.id,
            name: r.name,
            email: Some(r.email),
        }
    }
}

/// A contact with their newest chats and tickets.
#[derive(Debug, Clone)]
pub struct ContactView {
    pub person: Person,
    pub chats: Vec<Chat>,
    pub tickets: Vec<Ticket>,
}

/// Everything held about a person, read in one transaction.
#[derive(Debug, Default)]
pub struct Holdings {
    /// Their visitors' chats, and the chats their tickets came from.
    pub chats: Vec<chat::Model>,
    /// Every message of those chats, internal notes included (an export
    /// leaves those out; an erasure scrubs them).
    pub messages: Vec<message::Model>,
    /// Their tickets, and the tickets made from their chats.
    pub tickets: Vec<ticket::Model>,
    pub comments: Vec<ticket_comment::Model>,
    pub ratings: Vec<rating::Model>,
    /// Mail from their addresses, or about their tickets and chats.
    pub received: Vec<inbound_mail::Model>,
    /// Mail to their addresses, or about their tickets and chats.
    pub sent: Vec<mail_outbox::Model>,
}

impl Holdings {
    pub fn chat_ids(&self) -> Vec<String> {
        self.chats.iter().map(|c| c.id.clone()).collect()
    }

    pub fn ticket_ids(&self) -> Vec<String> {
        self.tickets.iter().map(|t| t.id.clone()).collect()
    }
}

impl Store {
    /// The person `id` names and everything held about them, read from one
    /// snapshot (for an export).
    pub async fn contact_holdings(&self, tenant_id: &str, id: &str) -> StoreResult<(Person, Holdings)> {
        let txn = self
            .db
            .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
            .await?;
        let person = find_person(&txn, tenant_id, id).await?;
        let held = holdings(&txn, tenant_id, &person).await?;
        txn.commit().await?;
        Ok((person, held))
    }

    /// The contact `id` names (a requester's or a visitor's id), with their
    /// newest chats and tickets.
    pub async fn contact(&self, tenant_id: &str, id: &str) -> StoreResult<ContactView> {
        let person = find_person(&self.db, tenant_id, id).await?;
        let visitor_ids = person.visitor_ids();
        let chats = if visitor_ids.is_empty() {
            Vec::new()
        } else {
            chat::Entity::find()
                .filter(chat::Column::TenantId.eq(tenant_id))
                .filter(chat::Column::VisitorId.is_in(visitor_ids))
                .order_by_desc(chat::Column::CreatedAt)
                .limit(CONTACT_LIST_LIMIT)
                .all(&self.db)
                .await?
        };
        let tickets = match &person.requester {
            Some(r) => {
                ticket::Entity::find()
                    .filter(ticket::Column::TenantId.eq(tenant_id))
                    .filter(ticket::Column::RequesterId.eq(&r.id))
                    .order_by_desc(ticket::Column::Number)
                    .limit(CONTACT_LIST_LIMIT)
                    .all(&self.db)
                    .await?
            }
            None => Vec::new(),
        };
        Ok(ContactView { person, chats, tickets })
    }

    /// Contacts whose address is `q` (when it holds an `@`), or whose name
    /// starts with `q`, ignoring case.
    pub async fn search_contacts(&self, tenant_id: &str, q: &str) -> StoreResult<Vec<ContactListing>> {
        let q = q.trim();
        if q.contains('@') {
            let address = q.to_lowercase();
            let mut out: Vec<ContactListing> = requester::Entity::find()
                .filter(requester::Column::TenantId.eq(tenant_id))
                .filter(requester::Column::EmailNormalized.eq(&address))
                .all(&self.db)
                .await?
                .into_iter()
                .map(ContactListing::from)
                .collect();
            if out.is_empty()
                && let Some(v) = visitor::Entity::find()
                    .filter(visitor::Column::TenantId.eq(tenant_id))
                    .filter(visitor::Column::EmailNormalized.eq(&address))
                    .order_by_desc(visitor::Column::CreatedAt)
                    .one(&self.db)
                    .await?
            {
                out.push(ContactListing {
                    id: v.id,
                    name: v.name,
                    email: v.email,
                });
            }
            return Ok(out);
        }
        // lower(name) is the index's expression (migration 24), compared
        // bytewise on PostgreSQL as the index is.
        let backend = self.db.get_database_backend();
        let (folded, lower_name) = match backend {
            sea_orm::DbBackend::Postgres => (
                q.to_lowercase(),
                Expr::cust("lower(\"requesters\".\"name\") COLLATE \"C\""),
            ),
            // SQLite's lower() folds ASCII only.
            _ => (q.to_ascii_lowercase(), Expr::cust("lower(\"requesters\".\"name\")")),
        };
        let (from, to) = threadline_migrations::search::prefix_range(&folded);
        let mut range = Condition::all().add(lower_name.clone().gte(Expr::val(from)));
        if let Some(to) = to {
            range = range.add(lower_name.lt(Expr::val(to)));
        }
        Ok(requester::Entity::find()
            .filter(requester::Column::TenantId.eq(tenant_id))
            .filter(range)
            .limit(CONTACT_SEARCH_LIMIT)
            .all(&self.db)
            .await?
            .into_iter()
            .map(ContactListing::from)
            .collect())
    }
}

/// The person `id` names: a requester's id, or any of their visitors'.
pub(super) async fn find_person<C: ConnectionTrait>(db: &C, tenant_id: &str, id: &str) -> StoreResult<Person> {
    if let Some(r) = requester::Entity::find_by_id(id)
        .filter(requester::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
    {
        return person_of_requester(db, r).await;
    }
    let Some(v) = visitor::Entity::find_by_id(id)
        .filter(visitor::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
    else {
        return Err(StoreError::NotFound);
    };
    if let Some(address) = &v.email_normalized
        && let Some(r) = requester::Entity::find()
            .filter(requester::Column::TenantId.eq(tenant_id))
            .filter(requester::Column::EmailNormalized.eq(address))
            .one(db)
            .await?
    {
        return person_of_requester(db, r).await;
    }
    // A chat of theirs that became a ticket names their requester (the
    // agent typed the address at conversion).
    let ticket_ids: Vec<String> = chat::Entity::find()
        .filter(chat::Column::TenantId.eq(tenant_id))
        .filter(chat::Column::VisitorId.eq(&v.id))
        .filter(chat::Column::TicketId.is_not_null())
        .limit(MAX_ROWS_PER_PERSON)
        .all(db)
        .await
        .map_err(StoreError::from)
        .and_then(whole)?
        .into_iter()
        .filter_map(|c| c.ticket_id)
        .collect();
    if !ticket_ids.is_empty() {
        let requesters: BTreeSet<String> = ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Id.is_in(ticket_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| t.requester_id)
            .collect();
        if requesters.len() == 1 {
            let id = requesters.into_iter().next().unwrap_or_default();
            if let Some(r) = requester::Entity::find_by_id(id)
                .filter(requester::Column::TenantId.eq(tenant_id))
                .one(db)
                .await?
            {
                return person_of_requester(db, r).await;
            }
        }
    }
    Ok(Person {
        requester: None,
        visitors: vec![v],
    })
}

/// A requester and their visitors: those with their address, and those
/// whose chats became their tickets.
async fn person_of_requester<C: ConnectionTrait>(db: &C, r: Requester) -> StoreResult<Person> {
    let mut visitors = visitor::Entity::find()
        .filter(visitor::Column::TenantId.eq(&r.tenant_id))
        .filter(visitor::Column::EmailNormalized.eq(&r.email_normalized))
        .limit(MAX_ROWS_PER_PERSON)
        .all(db)
        .await
        .map_err(StoreError::from)
        .and_then(whole)?;
    let origin_chats: Vec<String> = ticket::Entity::find()
        .filter(ticket::Column::TenantId.eq(&r.tenant_id))
        .filter(ticket::Column::RequesterId.eq(&r.id))
        .filter(ticket::Column::OriginChatId.is_not_null())
        .limit(MAX_ROWS_PER_PERSON)
        .all(db)
        .await
        .map_err(StoreError::from)
        .and_then(whole)?
        .into_iter()
        .filter_map(|t| t.origin_chat_id)
        .collect();
    if !origin_chats.is_empty() {
        let known: BTreeSet<String> = visitors.iter().map(|v| v.id.clone()).collect();
        let more: BTreeSet<String> = chat::Entity::find()
            .filter(chat::Column::TenantId.eq(&r.tenant_id))
            .filter(chat::Column::Id.is_in(origin_chats))
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.visitor_id)
            .filter(|id| !known.contains(id))
            .collect();
        if !more.is_empty() {
            visitors.extend(
                visitor::Entity::find()
                    .filter(visitor::Column::TenantId.eq(&r.tenant_id))
                    .filter(visitor::Column::Id.is_in(more))
                    .all(db)
                    .await?,
            );
        }
    }
    visitors.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    Ok(Person {
        requester: Some(r),
        visitors,
    })
}

/// Everything held about `person`, read on `db` (a transaction: the
/// export's snapshot, or the erasure's own).
pub(super) async fn holdings<C: ConnectionTrait>(db: &C, tenant_id: &str, person: &Person) -> StoreResult<Holdings> {
    let mut h = Holdings::default();
    let visitor_ids = person.visitor_ids();
    if !visitor_ids.is_empty() {
        h.chats = chat::Entity::find()
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::VisitorId.is_in(visitor_ids))
            .order_by_asc(chat::Column::CreatedAt)
            .limit(MAX_ROWS_PER_PERSON)
            .all(db)
            .await
            .map_err(StoreError::from)
            .and_then(whole)?;
    }
    if let Some(r) = &person.requester {
        h.tickets = ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::RequesterId.eq(&r.id))
            .order_by_asc(ticket::Column::Number)
            .limit(MAX_ROWS_PER_PERSON)
            .all(db)
            .await
            .map_err(StoreError::from)
            .and_then(whole)?;
    }
    // Tickets made from their chats under another address, and chats
    // their tickets came from under another visitor.
    let known_tickets: BTreeSet<String> = h.tickets.iter().map(|t| t.id.clone()).collect();
    let more_tickets: Vec<String> = h
        .chats
        .iter()
        .filter_map(|c| c.ticket_id.clone())
        .filter(|id| !known_tickets.contains(id))
        .collect();
    if !more_tickets.is_empty() {
        h.tickets.extend(
            ticket::Entity::find()
                .filter(ticket::Column::TenantId.eq(tenant_id))
                .filter(ticket::Column::Id.is_in(more_tickets))
                .all(db)
                .await?,
        );
    }
    let known_chats: BTreeSet<String> = h.chats.iter().map(|c| c.id.clone()).collect();
    let more_chats: Vec<String> = h
        .tickets
        .iter()
        .filter_map(|t| t.origin_chat_id.clone())
        .filter(|id| !known_chats.contains(id))
        .collect();
    if !more_chats.is_empty() {
        h.chats.extend(
            chat::Entity::find()
                .filter(chat::Column::TenantId.eq(tenant_id))
                .filter(chat::Column::Id.is_in(more_chats))
                .all(db)
                .await?,
        );
    }
    let chat_ids = h.chat_ids();
    let ticket_ids = h.ticket_ids();
    if !chat_ids.is_empty() {
        h.messages = message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::ChatId.is_in(chat_ids.clone()))
            .order_by_asc(message::Column::Id)
            .all(db)
            .await?;
        h.ratings = rating::Entity::find()
            .filter(rating::Column::TenantId.eq(tenant_id))
            .filter(rating::Column::ChatId.is_in(chat_ids.clone()))
            .all(db)
            .await?;
    }
    if !ticket_ids.is_empty() {
        h.comments = ticket_comment::Entity::find()
            .filter(ticket_comment::Column::TenantId.eq(tenant_id))
            .filter(ticket_comment::Column::TicketId.is_in(ticket_ids.clone()))
            .order_by_asc(ticket_comment::Column::CreatedAt)
            .all(db)
            .await?;
    }
    let addresses = person.addresses();
    let about = |address: Expr, ticket: Expr, chat: Expr| {
        let mut c = Condition::any();
        if !addresses.is_empty() {
            c = c.add(address.is_in(addresses.clone()));
        }
        if !ticket_ids.is_empty() {
            c = c.add(ticket.is_in(ticket_ids.clone()));
        }
        if !chat_ids.is_empty() {
            c = c.add(chat.is_in(chat_ids.clone()));
        }
        c
    };
    if !(addresses.is_empty() && ticket_ids.is_empty() && chat_ids.is_empty()) {
        h.received = inbound_mail::Entity::find()
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(about(
                Expr::col(inbound_mail::Column::FromAddress),
                Expr::col(inbound_mail::Column::TicketId),
                Expr::col(inbound_mail::Column::ChatId),
            ))
            .order_by_asc(inbound_mail::Column::ReceivedAt)
            .limit(MAX_ROWS_PER_PERSON)
            .all(db)
            .await
            .map_err(StoreError::from)
            .and_then(whole)?;
        h.sent = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::TenantId.eq(tenant_id))
            .filter(about(
                Expr::col(mail_outbox::Column::ToAddress),
                Expr::col(mail_outbox::Column::TicketId),
                Expr::col(mail_outbox::Column::ChatId),
            ))
            .order_by_asc(mail_outbox::Column::CreatedAt)
            .limit(MAX_ROWS_PER_PERSON)
            .all(db)
            .await
            .map_err(StoreError::from)
            .and_then(whole)?;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_past_the_bound_is_refused_not_cut_short() {
        let under = vec![0u8; MAX_ROWS_PER_PERSON as usize - 1];
        assert_eq!(whole(under).unwrap().len(), MAX_ROWS_PER_PERSON as usize - 1);
        let at = vec![0u8; MAX_ROWS_PER_PERSON as usize];
        assert!(matches!(whole(at), Err(StoreError::Conflict(_))));
    }
}
