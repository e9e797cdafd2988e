//! Tickets and requesters: created by conversion, then worked by agents
//! (status, assignee, priority), each change kept in the ticket's activity.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::conversion_commit::{custom_json, tags_json};
use super::entities::{agent, requester, ticket, ticket_event};
use super::events::{Doer, NewEvent};
use super::{Requester, Store, StoreError, StoreResult, Ticket, new_id};
use crate::domain::automation::EventKind;
use crate::domain::hooks::{Priority, TicketFields};
use crate::domain::{SearchQuery, TicketNumber, TicketStatus, sla};
use threadline_migrations::search::{self, SearchIndex};

impl Store {
    pub async fn ticket_by_number(&self, tenant_id: &str, number: i64) -> StoreResult<Ticket> {
        ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Number.eq(number))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn ticket(&self, tenant_id: &str, ticket_id: &str) -> StoreResult<Ticket> {
        ticket::Entity::find_by_id(ticket_id)
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Tickets of a workspace, newest number first, below `before_number`
    /// when paging.
    pub async fn list_tickets(
        &self,
        tenant_id: &str,
        filter: &TicketFilter,
        before_number: Option<i64>,
        limit: u64,
    ) -> StoreResult<Vec<Ticket>> {
        let mut query = filter
            .apply(tenant_id, ticket::Entity::find())
            .order_by_desc(ticket::Column::Number)
            .limit(limit);
        if let Some(n) = before_number {
            query = query.filter(ticket::Column::Number.lt(n));
        }
        Ok(query.all(&self.db).await?)
    }

    /// Tickets with a target still to meet, soonest due first (then by
    /// number), after `after` (the due time and number of the previous
    /// page's last); with `overdue_at`, only those due before it. Read
    /// through the `(tenant_id, due_at, number)` index.
    pub async fn list_tickets_by_due(
        &self,
        tenant_id: &str,
        filter: &TicketFilter,
        overdue_at: Option<chrono::DateTime<Utc>>,
        after: Option<(chrono::DateTime<Utc>, i64)>,
        limit: u64,
    ) -> StoreResult<Vec<Ticket>> {
        use sea_orm::Condition;
        let mut query = filter
            .apply(tenant_id, ticket::Entity::find())
            .filter(ticket::Column::DueAt.is_not_null())
            .order_by_asc(ticket::Column::DueAt)
            .order_by_asc(ticket::Column::Number)
            .limit(limit);
        if let Some(at) = overdue_at {
            query = query.filter(ticket::Column::DueAt.lt(at));
        }
        if let Some((due, number)) = after {
            query = query.filter(
                Condition::any().add(ticket::Column::DueAt.gt(due)).add(
                    Condition::all()
                        .add(ticket::Column::DueAt.eq(due))
                        .add(ticket::Column::Number.gt(number)),
                ),
            );
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn requester(&self, tenant_id: &str, requester_id: &str) -> StoreResult<Requester> {
        requester::Entity::find_by_id(requester_id)
            .filter(requester::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Requesters by id, for building many tickets' views in one query.
    pub async fn requesters_by_ids(&self, tenant_id: &str, ids: Vec<String>) -> StoreResult<Vec<Requester>> {
        Ok(requester::Entity::find()
            .filter(requester::Column::TenantId.eq(tenant_id))
            .filter(requester::Column::Id.is_in(ids))
            .all(&self.db)
            .await?)
    }

    /// The requester with this (normalized) email in this workspace, if any.
    pub async fn find_requester(&self, tenant_id: &str, email_normalized: &str) -> StoreResult<Option<Requester>> {
        Ok(requester::Entity::find()
            .filter(requester::Column::TenantId.eq(tenant_id))
            .filter(requester::Column::EmailNormalized.eq(email_normalized))
            .one(&self.db)
            .await?)
    }
}

/// Which tickets a list shows (each filter has its index: migration 12, and
/// 16 for search).
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub assignee_id: Option<String>,
    pub requester_id: Option<String>,
    /// Only tickets this search finds.
    pub search: Option<SearchQuery>,
}

impl TicketFilter {
    /// Adds the filters that are set to `query`.
    fn apply(&self, tenant_id: &str, mut query: sea_orm::Select<ticket::Entity>) -> sea_orm::Select<ticket::Entity> {
        query = query.filter(ticket::Column::TenantId.eq(tenant_id));
        if let Some(status) = self.status {
            query = query.filter(ticket::Column::Status.eq(status.as_str()));
        }
        if let Some(assignee) = &self.assignee_id {
            query = query.filter(ticket::Column::AssigneeId.eq(assignee.as_str()));
        }
        if let Some(requester) = &self.requester_id {
            query = query.filter(ticket::Column::RequesterId.eq(requester.as_str()));
        }
        // A word may be in the ticket (subject, requester, comments) or in
        // the chat it came from (the transcript): the chat's own index
        // answers for the transcript, so a conversion writes no more terms.
        for term in self.search.as_ref().map(SearchQuery::terms).unwrap_or_default() {
            query = query.filter(
                Condition::any()
                    .add(ticket::Column::Id.in_subquery(search::matching(SearchIndex::Tickets, tenant_id, term)))
                    .add(ticket::Column::OriginChatId.in_subquery(search::matching(
                        SearchIndex::Chats,
                        tenant_id,
                        term,
                    ))),
            );
        }
        query
    }
}

/// A change to a ticket an agent asks for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TicketChange {
    pub status: Option<TicketStatus>,
    /// `Some(None)` unassigns.
    pub assignee_id: Option<Option<String>>,
    pub priority: Option<Priority>,
    /// Tags and custom fields, checked already (`hooks::validate::fields`);
    /// `Some` replaces them all.
    pub fields: Option<TicketFields>,
    /// When the changer last saw the ticket (its `updated_at`): a field
    /// changed by someone else since then is not overwritten (a conflict
    /// naming who changed what). `None` changes regardless (scripts).
    pub seen_at: Option<DateTime<Utc>>,
}

pub type TicketEvent = ticket_event::Model;

/// Events shown with a ticket at most (the newest).
pub const MAX_EVENTS_SHOWN: u64 = 200;

impl Store {
    /// Applies `change` to the ticket, as `agent`, with one activity entry
    /// per field that changed, all in one transaction; returns the ticket.
    /// A closed ticket refuses any change (409); an assignee must be an agent
    /// of the workspace (422 on `assignee_id`). The open-ticket counts
    /// follow through the triggers on `tickets`.
    pub async fn change_ticket(
        &self,
        tenant_id: &str,
        number: i64,
        by: Doer<'_>,
        change: &TicketChange,
    ) -> StoreResult<Ticket> {
        // Two agents reassigning tickets between each other at once can
        // deadlock in PostgreSQL's count trigger (each transaction locks
        // the two agents' rows in its own order); the database aborts one,
        // which is retried.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.change_ticket_once(tenant_id, number, by, change).await {
                Err(StoreError::Db(e)) if tries < 4 && is_deadlock(&e) => continue,
                other => return other,
            }
        }
    }

    async fn change_ticket_once(
        &self,
        tenant_id: &str,
        number: i64,
        by: Doer<'_>,
        change: &TicketChange,
    ) -> StoreResult<Ticket> {
        let txn = self.write_txn().await?;
        let ticket = self.ticket_for_update(&txn, tenant_id, number).await?;
        let ticket = change_ticket_in(&txn, ticket, by, change).await?;
        txn.commit().await?;
        Ok(ticket)
    }

    /// Ticket `number`, read in `txn` under a row lock on PostgreSQL (SQLite's
    /// writer transaction is exclusive already), so changes and comments of
    /// one ticket take turns.
    pub(super) async fn ticket_for_update(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        tenant_id: &str,
        number: i64,
    ) -> StoreResult<Ticket> {
        let mut find = ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Number.eq(number));
        if self.backend() == DbBackend::Postgres {
            find = find.lock_exclusive();
        }
        find.one(txn).await?.ok_or(StoreError::NotFound)
    }

    /// A ticket's activity, oldest first (its newest [`MAX_EVENTS_SHOWN`]).
    pub async fn ticket_events(&self, tenant_id: &str, ticket_id: &str) -> StoreResult<Vec<TicketEvent>> {
        let mut events = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(ticket_id))
            .filter(ticket_event::Column::TenantId.eq(tenant_id))
            .order_by_desc(ticket_event::Column::CreatedAt)
            .order_by_desc(ticket_event::Column::Id)
            .limit(MAX_EVENTS_SHOWN)
            .all(&self.db)
            .await?;
        events.reverse();
        Ok(events)
    }
}

/// A ticket's service level times, with `solved_at` as given.
pub(super) fn sla_clock(t: &Ticket, solved_at: Option<chrono::DateTime<Utc>>) -> sla::Clock {
    sla::Clock {
        first_response_due_at: t.first_response_due_at,
        resolution_due_at: t.resolution_due_at,
        first_response_at: t.first_response_at,
        solved_at,
    }
}

/// PostgreSQL's "deadlock detected" (SQLSTATE 40P01).
fn is_deadlock(e: &DbErr) -> bool {
    e.to_string().contains("40P01") || e.to_string().contains("deadlock detected")
}

/// Refuses `change` when a field it sets was changed by someone else after
/// `seen` (the page that asks was stale): the conflict names who changed
/// what, when. Reads the ticket's activity after `seen`, newest first, by
/// the index on `(ticket_id, created_at)`.
async fn stale_check(
    txn: &sea_orm::DatabaseTransaction,
    ticket: &Ticket,
    change: &TicketChange,
    seen: DateTime<Utc>,
    changer_id: &str,
) -> StoreResult<()> {
    let fields: Vec<&str> = [
        change.status.map(|_| "status"),
        change.assignee_id.as_ref().map(|_| "assignee"),
        change.priority.map(|_| "priority"),
        change.fields.as_ref().map(|_| "tags"),
        change.fields.as_ref().map(|_| "custom_fields"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if fields.is_empty() {
        return Ok(());
    }
    let newer = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(&ticket.id))
        .filter(ticket_event::Column::CreatedAt.gt(seen))
        .filter(ticket_event::Column::Field.is_in(fields))
        .filter(ticket_event::Column::AgentId.ne(changer_id))
        .order_by_desc(ticket_event::Column::CreatedAt)
        .one(txn)
        .await?;
    let Some(e) = newer else { return Ok(()) };
    let what = match (e.field.as_str(), &e.old_value, &e.new_value) {
        ("assignee", ..) => "changed the assignee".to_owned(),
        ("tags", ..) => "changed the tags".to_owned(),
        ("custom_fields", ..) => "changed the custom fields".to_owned(),
        (field, Some(old), Some(new)) => {
            format!(
                "changed {field} from {} to {}",
                old.replace('_', " "),
                new.replace('_', " ")
            )
        }
        (field, ..) => format!("changed {field}"),
    };
    Err(StoreError::Conflict(format!(
        "{} {what} at {} UTC, after this page was loaded; nothing was saved: reload to see the ticket as it is now",
        e.agent_name,
        e.created_at.format("%H:%M:%S")
    )))
}

/// Applies `change` to `ticket` (read in `txn`, which holds its row) as
/// `by`, with one activity entry per field that changed and, when the
/// workspace listens, a `ticket_updated` event naming the changes; returns
/// the ticket as it is now. See [`Store::change_ticket`].
pub(super) async fn change_ticket_in(
    txn: &sea_orm::DatabaseTransaction,
    ticket: Ticket,
    by: Doer<'_>,
    change: &TicketChange,
) -> StoreResult<Ticket> {
    let (tenant_id, number) = (ticket.tenant_id.as_str(), ticket.number);
    if let Some(seen) = change.seen_at {
        stale_check(txn, &ticket, change, seen, by.id).await?;
    }
    let status: TicketStatus = ticket
        .status
        .parse()
        .map_err(|e: String| StoreError::Db(DbErr::Custom(e)))?;
    let now = Utc::now().trunc_subsecs(6);
    let mut events: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
    let mut update = ticket::Entity::update_many()
        .filter(ticket::Column::Id.eq(&ticket.id))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now));
    if let Some(next) = change.status
        && next != status
    {
        if !status.can_become(next) {
            return Err(StoreError::Conflict(format!(
                "ticket {} is closed and cannot change; open a new ticket instead",
                TicketNumber(number)
            )));
        }
        update = update.col_expr(ticket::Column::Status, Expr::value(next.as_str()));
        // Solving stops the resolution clock; working it again restarts
        // it from where the targets put it.
        let settled = matches!(next, TicketStatus::Solved | TicketStatus::Closed);
        let solved_at = if settled { ticket.solved_at.or(Some(now)) } else { None };
        let clock = sla_clock(&ticket, solved_at);
        update = update
            .col_expr(ticket::Column::SolvedAt, Expr::value(solved_at))
            .col_expr(ticket::Column::DueAt, Expr::value(clock.next_due(next)));
        events.push(("status", Some(status.to_string()), Some(next.to_string())));
    } else if status == TicketStatus::Closed && (change.assignee_id.is_some() || change.priority.is_some()) {
        return Err(StoreError::Conflict(format!(
            "ticket {} is closed and cannot change; open a new ticket instead",
            TicketNumber(number)
        )));
    }
    if let Some(assignee) = &change.assignee_id
        && *assignee != ticket.assignee_id
    {
        let name = |id: &Option<String>| id.clone();
        if let Some(id) = assignee {
            let found = agent::Entity::find_by_id(id)
                .filter(agent::Column::TenantId.eq(tenant_id))
                .one(txn)
                .await?;
            match found {
                None => {
                    return Err(StoreError::Invalid(
                        "assignee_id",
                        "assignee_id must be an agent of this workspace".into(),
                    ));
                }
                Some(a) if !a.active => {
                    return Err(StoreError::Invalid(
                        "assignee_id",
                        format!("{} is deactivated and takes no tickets", a.name),
                    ));
                }
                Some(_) => {}
            }
        }
        update = update.col_expr(ticket::Column::AssigneeId, Expr::value(assignee.clone()));
        events.push(("assignee", name(&ticket.assignee_id), name(assignee)));
    }
    if let Some(p) = change.priority
        && p.as_str() != ticket.priority
    {
        update = update.col_expr(ticket::Column::Priority, Expr::value(p.as_str()));
        events.push(("priority", Some(ticket.priority.clone()), Some(p.as_str().to_owned())));
    }
    if let Some(fields) = &change.fields {
        let (tags, custom) = (tags_json(fields), custom_json(fields));
        if tags != ticket.tags {
            update = update.col_expr(ticket::Column::Tags, Expr::value(tags.clone()));
            events.push(("tags", Some(ticket.tags.clone()), Some(tags)));
        }
        if custom != ticket.custom_fields {
            update = update.col_expr(ticket::Column::CustomFields, Expr::value(custom.clone()));
            events.push(("custom_fields", Some(ticket.custom_fields.clone()), Some(custom)));
        }
    }
    if events.is_empty() {
        return Ok(ticket);
    }
    update.exec(txn).await?;
    let changes: serde_json::Map<String, serde_json::Value> = events
        .iter()
        .map(|(field, old, new)| ((*field).to_owned(), serde_json::json!({"from": old, "to": new})))
        .collect();
    super::events::queue(
        txn,
        tenant_id,
        NewEvent {
            changes: Some(changes.into()),
            ..NewEvent::by(EventKind::TicketUpdated, by).ticket(&ticket.id)
        },
    )
    .await?;
    for (field, old, new) in events {
        ticket_event::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            ticket_id: Set(ticket.id.clone()),
            agent_id: Set(by.activity_id()),
            agent_name: Set(by.name.to_owned()),
            field: Set(field.to_owned()),
            old_value: Set(old),
            new_value: Set(new),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    let ticket = ticket::Entity::find_by_id(&ticket.id)
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(ticket)
}
