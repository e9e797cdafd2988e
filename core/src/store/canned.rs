//! Canned replies: a workspace's stock answers, at most
//! [`MAX_CANNED_REPLIES`], listed by title.

use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::entities::canned_reply;
use super::{Agent, Store, StoreError, StoreResult, new_id};

pub type CannedReply = canned_reply::Model;

/// Canned replies one workspace may keep: plenty for a team, and a bound
/// on what a list request reads.
pub const MAX_CANNED_REPLIES: u64 = 500;

impl Store {
    /// The workspace's canned replies by title.
    pub async fn canned_replies(&self, tenant_id: &str) -> StoreResult<Vec<CannedReply>> {
        Ok(canned_reply::Entity::find()
            .filter(canned_reply::Column::TenantId.eq(tenant_id))
            .order_by_asc(canned_reply::Column::TitleNormalized)
            .all(&self.db)
            .await?)
    }

    pub async fn create_canned_reply(&self, by: &Agent, title: &str, body: &str) -> StoreResult<CannedReply> {
        let txn = self.write_txn().await?;
        let held = canned_reply::Entity::find()
            .filter(canned_reply::Column::TenantId.eq(&by.tenant_id))
            .count(&txn)
            .await?;
        if held >= MAX_CANNED_REPLIES {
            return Err(StoreError::Conflict(format!(
                "a workspace may keep at most {MAX_CANNED_REPLIES} canned replies; delete some first"
            )));
        }
        let now = Utc::now().trunc_subsecs(6);
        let inserted = canned_reply::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(by.tenant_id.clone()),
            title: Set(title.to_owned()),
            title_normalized: Set(title.to_lowercase()),
            body: Set(body.to_owned()),
            created_by: Set(by.id.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| taken(e, title))?;
        txn.commit().await?;
        Ok(inserted)
    }

    /// Changes a canned reply's title or body (`None` keeps it).
    pub async fn change_canned_reply(
        &self,
        tenant_id: &str,
        id: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> StoreResult<CannedReply> {
        let found = canned_reply::Entity::find_by_id(id)
            .filter(canned_reply::Column::TenantId.eq(tenant_id))
            .one(&self.writer)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut row: canned_reply::ActiveModel = found.into();
        if let Some(title) = title {
            row.title = Set(title.to_owned());
            row.title_normalized = Set(title.to_lowercase());
        }
        if let Some(body) = body {
            row.body = Set(body.to_owned());
        }
        row.updated_at = Set(Utc::now().trunc_subsecs(6));
        row.update(&self.writer)
            .await
            .map_err(|e| taken(e, title.unwrap_or_default()))
    }

    pub async fn delete_canned_reply(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let done = canned_reply::Entity::delete_many()
            .filter(canned_reply::Column::Id.eq(id))
            .filter(canned_reply::Column::TenantId.eq(tenant_id))
            .exec(&self.writer)
            .await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// A unique-title violation as the conflict it is.
fn taken(e: sea_orm::DbErr, title: &str) -> StoreError {
    if e.sql_err().is_some() {
        StoreError::Conflict(format!("a canned reply is titled {title:?} already"))
    } else {
        e.into()
    }
}
