//! The event queue: what happened, written in the transaction of the
//! change that caused it (only when something in the workspace listens:
//! `tenants.event_listeners`), claimed under a lease by a node's
//! dispatcher (`crate::automation`), and deleted in the transaction that
//! applies its rules' actions and queues its webhook deliveries, so an
//! event is handled once across crashes and nodes.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::{event, tenant};
use super::lease::Queue;
use super::{Agent, Store, StoreResult, new_id};
use crate::domain::automation::EventKind;

pub type QueuedEvent = event::Model;

tokio::task_local! {
    /// Set when the task queued an event (see [`noting_events`]).
    static QUEUED: std::cell::Cell<bool>;
}

/// Runs `work` and says whether it queued an event, so that whoever runs
/// it (the HTTP layer, after a request) rings the dispatcher only then: a
/// request in a workspace nobody listens to costs nothing more.
pub async fn noting_events<F: std::future::Future>(work: F) -> (F::Output, bool) {
    QUEUED
        .scope(std::cell::Cell::new(false), async {
            let out = work.await;
            (out, QUEUED.with(std::cell::Cell::get))
        })
        .await
}

/// Notes that this task queued an event (nothing outside `noting_events`).
pub(super) fn note_queued() {
    let _ = QUEUED.try_with(|q| q.set(true));
}

/// Who makes a change: an agent, or a rule (whose change's events carry
/// it, one level deeper, so it does not fire itself again).
#[derive(Debug, Clone, Copy)]
pub struct Doer<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The rule's id, and the depth of the events its change causes.
    pub rule: Option<(&'a str, i32)>,
}

impl<'a> Doer<'a> {
    pub fn agent(agent: &'a Agent) -> Self {
        Self {
            id: &agent.id,
            name: &agent.name,
            rule: None,
        }
    }

    /// The id an activity entry or a comment carries: the agent's, or
    /// `rule:<id>` (no agent has it, so nothing mistakes it for one).
    pub fn activity_id(&self) -> String {
        match self.rule {
            Some((rule, _)) => format!("rule:{rule}"),
            None => self.id.to_owned(),
        }
    }

    /// `agent:<id>` or `rule:<id>`, as events and webhooks name the actor.
    pub fn actor(&self) -> String {
        match self.rule {
            Some((rule, _)) => format!("rule:{rule}"),
            None => format!("agent:{}", self.id),
        }
    }
}

/// An event to queue.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub ticket_id: Option<&'a str>,
    pub chat_id: Option<&'a str>,
    pub comment_id: Option<&'a str>,
    /// For `ticket_updated`: `{field: {from, to}}`.
    pub changes: Option<serde_json::Value>,
    pub actor: String,
    pub rule: Option<(&'a str, i32)>,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: EventKind, actor: impl Into<String>) -> Self {
        Self {
            kind,
            ticket_id: None,
            chat_id: None,
            comment_id: None,
            changes: None,
            actor: actor.into(),
            rule: None,
        }
    }

    pub fn by(kind: EventKind, doer: Doer<'a>) -> Self {
        Self {
            rule: doer.rule,
            ..Self::new(kind, doer.actor())
        }
    }

    pub fn ticket(mut self, id: &'a str) -> Self {
        self.ticket_id = Some(id);
        self
    }

    pub fn chat(mut self, id: &'a str) -> Self {
        self.chat_id = Some(id);
        self
    }

    pub fn comment(mut self, id: &'a str) -> Self {
        self.comment_id = Some(id);
        self
    }
}

/// Queues `e` in `db` (the change's transaction) if anything in workspace
/// `tenant_id` listens to its kind: one statement either way, an `INSERT
/// ... SELECT` from the workspace's row that inserts nothing when its bit
/// is clear, so a workspace with no rules and no webhooks pays one indexed
/// read and writes nothing.
pub(super) async fn queue(db: &impl ConnectionTrait, tenant_id: &str, e: NewEvent<'_>) -> StoreResult<()> {
    let now = Utc::now().trunc_subsecs(6);
    let (rule_id, depth) = match e.rule {
        Some((id, depth)) => (Some(id.to_owned()), depth),
        None => (None, 0),
    };
    let values: [Expr; 13] = [
        Expr::val(new_id()),
        Expr::val(tenant_id),
        Expr::val(e.kind.as_str()),
        Expr::val(e.ticket_id.map(str::to_owned)),
        Expr::val(e.chat_id.map(str::to_owned)),
        Expr::val(e.comment_id.map(str::to_owned)),
        Expr::val(e.changes.map(|c| c.to_string())),
        Expr::val(e.actor),
        Expr::val(rule_id),
        Expr::val(depth),
        Expr::val(0),
        Expr::val(now),
        Expr::val(now),
    ];
    let select = Query::select()
        .exprs(values)
        .from(tenant::Entity)
        .and_where(Expr::col(tenant::Column::Id).eq(tenant_id))
        .and_where(Expr::col(tenant::Column::EventListeners).bit_and(e.kind.bit()).ne(0))
        .to_owned();
    let insert = Query::insert()
        .into_table(event::Entity)
        .columns([
            event::Column::Id,
            event::Column::TenantId,
            event::Column::Kind,
            event::Column::TicketId,
            event::Column::ChatId,
            event::Column::CommentId,
            event::Column::Changes,
            event::Column::Actor,
            event::Column::RuleId,
            event::Column::Depth,
            event::Column::Attempts,
            event::Column::NextAttemptAt,
            event::Column::CreatedAt,
        ])
        .select_from(select)
        .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?
        .to_owned();
    if db.execute(&insert).await?.rows_affected() > 0 {
        note_queued();
    }
    Ok(())
}

/// The row of event `e` with id `id`, for a writer that knows the
/// workspace listens (the conversion, from its snapshot).
pub(super) fn row(id: String, tenant_id: &str, e: NewEvent<'_>, now: DateTime<Utc>) -> event::ActiveModel {
    let (rule_id, depth) = match e.rule {
        Some((id, depth)) => (Some(id.to_owned()), depth),
        None => (None, 0),
    };
    event::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id.to_owned()),
        kind: Set(e.kind.as_str().to_owned()),
        ticket_id: Set(e.ticket_id.map(str::to_owned)),
        chat_id: Set(e.chat_id.map(str::to_owned)),
        comment_id: Set(e.comment_id.map(str::to_owned)),
        changes: Set(e.changes.map(|c| c.to_string())),
        actor: Set(Some(e.actor)),
        rule_id: Set(rule_id),
        depth: Set(depth),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(now),
    }
}

impl Store {
    /// Takes up to `limit` due events, oldest first, for this dispatcher
    /// alone until `lease_until` (the way the mail sender claims mail).
    pub async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<QueuedEvent>> {
        let queue = Queue::<event::Entity> {
            id: event::Column::Id,
            tenant: event::Column::TenantId,
            due: event::Column::NextAttemptAt,
            attempts: event::Column::Attempts,
            state: None,
        };
        let ids = self.claim(&queue, now, lease_until, limit).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(event::Entity::find()
            .filter(event::Column::Id.is_in(ids))
            .order_by_asc(event::Column::Id)
            .all(&self.writer)
            .await?)
    }

    /// Puts a claimed event back for `at` (its handling failed).
    pub async fn retry_event(&self, e: &QueuedEvent, at: DateTime<Utc>) -> StoreResult<()> {
        event::Entity::update_many()
            .col_expr(event::Column::NextAttemptAt, Expr::value(at.trunc_subsecs(6)))
            .filter(event::Column::Id.eq(&e.id))
            .filter(event::Column::NextAttemptAt.eq(e.next_attempt_at))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Drops an event given up on.
    pub async fn drop_event(&self, e: &QueuedEvent) -> StoreResult<()> {
        event::Entity::delete_by_id(&e.id).exec(&self.writer).await?;
        Ok(())
    }

    /// Events waiting in the queue (all workspaces): `/metrics`, tests.
    pub async fn events_waiting(&self) -> StoreResult<u64> {
        use sea_orm::PaginatorTrait;
        Ok(event::Entity::find().count(&self.db).await?)
    }
}

/// Takes claimed event `e` off the queue in `txn`, the transaction that
/// applies what handling it does: false when it is no longer this
/// dispatcher's (its lease ran out and another took it), and then nothing
/// of this handling may be committed.
pub(super) async fn take(txn: &DatabaseTransaction, e: &QueuedEvent) -> StoreResult<bool> {
    let gone = event::Entity::delete_many()
        .filter(event::Column::Id.eq(&e.id))
        .filter(event::Column::NextAttemptAt.eq(e.next_attempt_at))
        .exec(txn)
        .await?;
    Ok(gone.rows_affected == 1)
}
