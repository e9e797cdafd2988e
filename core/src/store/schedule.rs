//! What the scheduler's timed rules look for, each an index range of one
//! workspace, oldest first, a bounded batch a run: pending tickets left
//! alone, tickets coming due, chats waiting for an answer. What a rule did
//! once is a row of `schedule_marks`, and candidates already marked are
//! left out in the query itself, so a backlog of them never hides the rest.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{BinOper, Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{chat, schedule_mark, tenant, ticket};
use super::{Chat, Store, StoreResult, Ticket};
use crate::domain::automation::EventKind;
use crate::domain::{ChatStatus, MessageKind, TicketStatus};

/// Candidates a timed rule takes per run at most.
pub const SCHEDULE_BATCH: u64 = 100;

/// Which target a ticket's `due_at` is: its first response's, until it had
/// one, then its resolution's. A mark names it, so a rule acts once per
/// target.
pub fn due_target(t: &Ticket) -> &'static str {
    if t.first_response_at.is_none() { "fr" } else { "res" }
}

/// SQL's `a || b` (both databases; sea-query has it for PostgreSQL alone).
fn cat(a: impl Into<SimpleExpr>, b: impl Into<SimpleExpr>) -> SimpleExpr {
    a.into().binary(BinOper::Custom("||"), b)
}

/// `NOT EXISTS (a mark with key = prefix || id [|| ':' || target])`.
fn unmarked(prefix: &str, id: SimpleExpr, with_target: bool) -> SimpleExpr {
    let mut key = cat(Expr::val(prefix.to_owned()), id);
    if with_target {
        key = cat(
            key,
            Expr::case(
                Expr::col((ticket::Entity, ticket::Column::FirstResponseAt)).is_null(),
                ":fr",
            )
            .finally(":res"),
        );
    }
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(schedule_mark::Entity)
            .and_where(Expr::col((schedule_mark::Entity, schedule_mark::Column::Key)).eq(key))
            .to_owned(),
    )
    .not()
}

impl Store {
    /// Workspace `tenant_id`'s pending tickets unchanged since `cutoff`.
    pub async fn pending_since(&self, tenant_id: &str, cutoff: DateTime<Utc>) -> StoreResult<Vec<Ticket>> {
        Ok(ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::Status.eq(TicketStatus::Pending.as_str()))
            .filter(ticket::Column::UpdatedAt.lte(cutoff))
            .order_by_asc(ticket::Column::UpdatedAt)
            .limit(SCHEDULE_BATCH)
            .all(&self.db)
            .await?)
    }

    /// Workspace `tenant_id`'s tickets whose next target falls due by
    /// `horizon` and that have no mark `<prefix><id>:<target>`.
    pub async fn due_by(&self, tenant_id: &str, horizon: DateTime<Utc>, prefix: &str) -> StoreResult<Vec<Ticket>> {
        let id = Expr::col((ticket::Entity, ticket::Column::Id));
        Ok(ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .filter(ticket::Column::DueAt.is_not_null())
            .filter(ticket::Column::DueAt.lte(horizon))
            .filter(unmarked(prefix, id, true))
            .order_by_asc(ticket::Column::DueAt)
            .limit(SCHEDULE_BATCH)
            .all(&self.db)
            .await?)
    }

    /// Workspace `tenant_id`'s open chats whose last public word is the
    /// visitor's, since `cutoff`, with no mark `<prefix><id>`.
    pub async fn chats_waiting(&self, tenant_id: &str, cutoff: DateTime<Utc>, prefix: &str) -> StoreResult<Vec<Chat>> {
        let id = Expr::col((chat::Entity, chat::Column::Id));
        Ok(chat::Entity::find()
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::Status.eq(ChatStatus::Open.as_str()))
            .filter(chat::Column::LastMessageKind.eq(MessageKind::Visitor.as_str()))
            .filter(chat::Column::UpdatedAt.lte(cutoff))
            .filter(unmarked(prefix, id, false))
            .order_by_asc(chat::Column::UpdatedAt)
            .limit(SCHEDULE_BATCH)
            .all(&self.db)
            .await?)
    }

    /// The workspaces something listens to `kind` in (a scan of the
    /// workspaces, once a scheduler run).
    pub async fn workspaces_hearing(&self, kind: EventKind) -> StoreResult<Vec<String>> {
        Ok(tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .filter(Expr::col(tenant::Column::EventListeners).bit_and(kind.bit()).ne(0))
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
