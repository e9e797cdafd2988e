//! Queues whose rows are claimed under a lease: the mail outbox, the event
//! queue, webhook deliveries. A row is due when its `next_attempt_at` has
//! passed; claiming moves that to the end of the claimer's lease (and
//! counts an attempt), so a claimer that dies leaves its rows to be claimed
//! again once the lease is over, and other claimers skip them meanwhile
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL; the one writer on SQLite). A
//! suspended workspace's rows wait, unclaimed, until it is resumed.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::tenant;
use super::{Store, StoreResult};
use crate::domain::hosting::WorkspaceStatus;

/// The columns of a leased queue `E`.
pub(super) struct Queue<E: EntityTrait> {
    pub id: E::Column,
    pub tenant: E::Column,
    /// When it may be claimed (`next_attempt_at`).
    pub due: E::Column,
    pub attempts: E::Column,
    /// Only rows with this value here are claimable (`state = 'queued'`).
    pub state: Option<(E::Column, &'static str)>,
}

impl Store {
    /// Claims up to `limit` due rows of `q`, the longest due first, until
    /// `lease_until`; returns their ids (in no order). Polled often by every
    /// node: a read of the index on the poller's connection first, so an
    /// empty queue costs no write transaction (and no counted statement).
    pub(super) async fn claim<E>(
        &self,
        q: &Queue<E>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<String>>
    where
        E: EntityTrait + Default,
        E::Column: Copy,
    {
        let due = || {
            let mut find = E::find().select_only().column(q.id).filter(q.due.lte(now));
            if let Some((column, value)) = q.state {
                find = find.filter(column.eq(value));
            }
            find
        };
        let any: Option<String> = due().limit(1).into_tuple().one(&self.poller).await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let txn = self.write_txn().await?;
        let mut claimable = due()
            .filter(Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(tenant::Entity)
                    .and_where(Expr::col((tenant::Entity, tenant::Column::Id)).equals((E::default(), q.tenant)))
                    .and_where(Expr::col((tenant::Entity, tenant::Column::Status)).eq(WorkspaceStatus::Active.as_str()))
                    .to_owned(),
            ))
            .order_by_asc(q.due)
            .order_by_asc(q.id)
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            // Two nodes polling at once take different rows rather than
            // waiting on each other.
            claimable = claimable.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<String> = claimable.into_tuple().all(&txn).await?;
        if !ids.is_empty() {
            E::update_many()
                .col_expr(q.due, Expr::value(lease_until.trunc_subsecs(6)))
                .col_expr(q.attempts, Expr::col(q.attempts).add(1))
                .filter(q.id.is_in(ids.clone()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids)
    }
}
