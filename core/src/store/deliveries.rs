//! Webhook deliveries: one row per event and webhook, queued in the
//! transaction that handles the event, claimed under a lease by a node's
//! sender (`crate::automation::webhooks`), retried with backoff, and kept
//! as the webhook's delivery log.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::{webhook, webhook_delivery};
use super::lease::Queue;
use super::{QueuedEvent, Store, StoreError, StoreResult, Webhook, new_id};

pub type Delivery = webhook_delivery::Model;

/// Deliveries a webhook's log shows at most (the newest).
pub const DELIVERIES_SHOWN: u64 = 100;

/// The states of a delivery.
pub mod delivery_state {
    pub const QUEUED: &str = "queued";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

/// How one attempt at a delivery went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    /// `None`: delivered, or given up (`error` set); `Some`: try again then.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Queues `body` (event `e`'s payload) for each of `hooks`, in the
/// transaction that handles `e`.
pub(super) async fn queue(
    txn: &DatabaseTransaction,
    e: &QueuedEvent,
    hooks: &[Webhook],
    body: &str,
) -> StoreResult<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let now = Utc::now().trunc_subsecs(6);
    let rows = hooks.iter().map(|h| webhook_delivery::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(e.tenant_id.clone()),
        webhook_id: Set(h.id.clone()),
        event_id: Set(e.id.clone()),
        event: Set(e.kind.clone()),
        ticket_id: Set(e.ticket_id.clone()),
        chat_id: Set(e.chat_id.clone()),
        body: Set(body.to_owned()),
        state: Set(delivery_state::QUEUED.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_status: Set(None),
        latency_ms: Set(None),
        response_excerpt: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    });
    webhook_delivery::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

impl Store {
    /// Takes up to `limit` due deliveries, with their webhooks, for this
    /// sender alone until `lease_until`.
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<(Delivery, Webhook)>> {
        let queue = Queue::<webhook_delivery::Entity> {
            id: webhook_delivery::Column::Id,
            tenant: webhook_delivery::Column::TenantId,
            due: webhook_delivery::Column::NextAttemptAt,
            attempts: webhook_delivery::Column::Attempts,
            state: Some((webhook_delivery::Column::State, delivery_state::QUEUED)),
        };
        let ids = self.claim(&queue, now, lease_until, limit).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let deliveries = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .order_by_asc(webhook_delivery::Column::CreatedAt)
            .all(&self.writer)
            .await?;
        let hooks = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(deliveries.iter().map(|d| d.webhook_id.clone())))
            .all(&self.writer)
            .await?;
        // A delivery whose webhook was deleted meanwhile goes with it.
        Ok(deliveries
            .into_iter()
            .filter_map(|d| {
                let h = hooks
                    .iter()
                    .find(|h| h.id == d.webhook_id && h.tenant_id == d.tenant_id)?
                    .clone();
                Some((d, h))
            })
            .collect())
    }

    /// Records how an attempt at claimed delivery `d` went. Only the claim
    /// that is still this sender's moves it, so a late report never undoes
    /// a newer one (a redelivery meanwhile).
    pub async fn delivery_attempted(&self, d: &Delivery, a: Attempt) -> StoreResult<()> {
        let now = Utc::now().trunc_subsecs(6);
        let mut update = webhook_delivery::Entity::update_many()
            .filter(webhook_delivery::Column::Id.eq(&d.id))
            .filter(webhook_delivery::Column::State.eq(delivery_state::QUEUED))
            .filter(webhook_delivery::Column::NextAttemptAt.eq(d.next_attempt_at))
            .col_expr(webhook_delivery::Column::LastStatus, Expr::value(a.status))
            .col_expr(webhook_delivery::Column::LatencyMs, Expr::value(a.latency_ms))
            .col_expr(webhook_delivery::Column::ResponseExcerpt, Expr::value(a.excerpt))
            .col_expr(webhook_delivery::Column::LastError, Expr::value(a.error.clone()));
        update = match (a.retry_at, a.error) {
            (Some(at), _) => update.col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(at.trunc_subsecs(6)),
            ),
            (None, None) => update
                .col_expr(webhook_delivery::Column::State, Expr::value(delivery_state::DELIVERED))
                .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now)),
            (None, Some(_)) => update.col_expr(webhook_delivery::Column::State, Expr::value(delivery_state::FAILED)),
        };
        update.exec(&self.writer).await?;
        Ok(())
    }

    /// A webhook's newest deliveries, newest first.
    pub async fn deliveries(&self, tenant_id: &str, webhook_id: &str) -> StoreResult<Vec<Delivery>> {
        Ok(webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(DELIVERIES_SHOWN)
            .all(&self.db)
            .await?)
    }

    /// Sends delivery `id` of webhook `webhook_id` again, now, whatever
    /// became of it: the same body and delivery id (receivers dedupe by
    /// it), its attempts counted afresh.
    pub async fn redeliver(&self, tenant_id: &str, webhook_id: &str, id: &str) -> StoreResult<Delivery> {
        let now = Utc::now().trunc_subsecs(6);
        let updated = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(delivery_state::QUEUED))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::Attempts, Expr::value(0))
            .filter(webhook_delivery::Column::Id.eq(id))
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
            .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
            .exec(&self.writer)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        webhook_delivery::Entity::find_by_id(id)
            .one(&self.writer)
            .await?
            .ok_or(StoreError::NotFound)
    }
}

/// Days a delivery stays in its webhook's log once delivered or failed.
pub const DELIVERY_LOG_DAYS: i64 = 30;
/// Days the scheduler's marks are kept: longer than any timed rule looks
/// back for the same target.
pub const SCHEDULE_MARK_DAYS: i64 = 90;

impl Store {
    /// Deletes up to `batch` settled deliveries older than `cutoff` (the
    /// retention job); returns how many.
    pub(super) async fn prune_deliveries(&self, cutoff: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
        let ids: Vec<String> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::CreatedAt.lt(cutoff))
            .filter(webhook_delivery::Column::State.ne(delivery_state::QUEUED))
            .limit(batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let done = webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .exec(&self.writer)
            .await?;
        Ok(done.rows_affected)
    }

    /// Deletes up to `batch` scheduler marks older than `cutoff`.
    pub(super) async fn prune_marks(&self, cutoff: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
        use super::entities::schedule_mark;
        let keys: Vec<String> = schedule_mark::Entity::find()
            .select_only()
            .column(schedule_mark::Column::Key)
            .filter(schedule_mark::Column::CreatedAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        let done = schedule_mark::Entity::delete_many()
            .filter(schedule_mark::Column::Key.is_in(keys))
            .exec(&self.writer)
            .await?;
        Ok(done.rows_affected)
    }
}
