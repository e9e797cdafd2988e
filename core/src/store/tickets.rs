//! Tickets and requesters (read side; tickets are written by conversion).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{requester, ticket};
use super::{Requester, Store, StoreError, StoreResult, Ticket};

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
        before_number: Option<i64>,
        limit: u64,
    ) -> StoreResult<Vec<Ticket>> {
        let mut query = ticket::Entity::find()
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .order_by_desc(ticket::Column::Number)
            .limit(limit);
        if let Some(n) = before_number {
            query = query.filter(ticket::Column::Number.lt(n));
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
