//! Workspaces' IMAP mailboxes, and the lease that lets one node at a time
//! poll each (see `crate::imap`): a node claims the mailboxes whose lease
//! ran out, renews its lease as it works, and loses it when the settings
//! change, so several nodes never read one mailbox at once.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QuerySelect, Set};

use super::entities::mailbox;
use super::{Store, StoreResult};

pub type Mailbox = mailbox::Model;

/// A mailbox as an admin sets it.
pub struct MailboxSettings {
    pub host: String,
    pub port: u16,
    pub security: String,
    pub username: String,
    /// `None` keeps the one stored.
    pub password: Option<String>,
    pub folder: String,
}

impl Store {
    pub async fn mailbox(&self, tenant_id: &str) -> StoreResult<Option<Mailbox>> {
        Ok(mailbox::Entity::find_by_id(tenant_id).one(&self.db).await?)
    }

    /// Sets the workspace's mailbox; the node polling the old settings
    /// loses its lease and stops, and the new ones are claimed afresh.
    /// `Ok(None)` when a new mailbox comes without a password.
    pub async fn set_mailbox(&self, tenant_id: &str, s: MailboxSettings) -> StoreResult<Option<Mailbox>> {
        let now = Utc::now().trunc_subsecs(6);
        let txn = self.write_txn().await?;
        let old = mailbox::Entity::find_by_id(tenant_id).one(&txn).await?;
        let Some(password) = s.password.or(old.as_ref().map(|m| m.password.clone())) else {
            return Ok(None);
        };
        let row = mailbox::ActiveModel {
            tenant_id: Set(tenant_id.to_owned()),
            host: Set(s.host),
            port: Set(i32::from(s.port)),
            security: Set(s.security),
            username: Set(s.username),
            password: Set(password),
            folder: Set(s.folder),
            lease_owner: Set(None),
            lease_until: Set(None),
            last_polled_at: Set(None),
            last_error: Set(None),
            updated_at: Set(now),
        };
        let saved = match old {
            Some(_) => row.update(&txn).await?,
            None => row.insert(&txn).await?,
        };
        txn.commit().await?;
        Ok(Some(saved))
    }

    /// Stops polling the workspace's mailbox.
    pub async fn remove_mailbox(&self, tenant_id: &str) -> StoreResult<bool> {
        let gone = mailbox::Entity::delete_by_id(tenant_id).exec(&self.writer).await?;
        Ok(gone.rows_affected > 0)
    }

    /// Takes up to `limit` mailboxes nobody holds, for `node` until
    /// `until` (suspended workspaces' are left alone).
    pub async fn claim_mailboxes(
        &self,
        node: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<Mailbox>> {
        let free = Condition::any()
            .add(mailbox::Column::LeaseUntil.is_null())
            .add(mailbox::Column::LeaseUntil.lt(now));
        // Every node asks every few seconds: a read first, so that with
        // nothing to claim (no mailbox, or all held) no writer is taken.
        let any = mailbox::Entity::find()
            .select_only()
            .column(mailbox::Column::TenantId)
            .filter(free.clone())
            .limit(1)
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let txn = self.write_txn().await?;
        let mut due = mailbox::Entity::find()
            .select_only()
            .column(mailbox::Column::TenantId)
            .filter(free.clone())
            .filter(
                mailbox::Column::TenantId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(super::entities::tenant::Column::Id)
                        .from(super::entities::tenant::Entity)
                        .and_where(
                            Expr::col(super::entities::tenant::Column::Status)
                                .eq(crate::domain::hosting::WorkspaceStatus::Active.as_str()),
                        )
                        .to_owned(),
                ),
            )
            .limit(limit);
        if self.backend() == DbBackend::Postgres {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let ids: Vec<String> = due.into_tuple().all(&txn).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        mailbox::Entity::update_many()
            .col_expr(mailbox::Column::LeaseOwner, Expr::value(node))
            .col_expr(mailbox::Column::LeaseUntil, Expr::value(until))
            .filter(mailbox::Column::TenantId.is_in(ids.clone()))
            .filter(free)
            .exec(&txn)
            .await?;
        let claimed = mailbox::Entity::find()
            .filter(mailbox::Column::TenantId.is_in(ids))
            .filter(mailbox::Column::LeaseOwner.eq(node))
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(claimed)
    }

    /// Extends `node`'s lease of the mailbox, noting how the last poll
    /// went; false when the lease is no longer `node`'s (the settings
    /// changed, or it ran out and another node took it).
    pub async fn renew_mailbox(
        &self,
        tenant_id: &str,
        node: &str,
        until: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let now = Utc::now().trunc_subsecs(6);
        let renewed = mailbox::Entity::update_many()
            .col_expr(mailbox::Column::LeaseUntil, Expr::value(until))
            .col_expr(mailbox::Column::LastPolledAt, Expr::value(now))
            .col_expr(mailbox::Column::LastError, Expr::value(error.map(str::to_owned)))
            .filter(mailbox::Column::TenantId.eq(tenant_id))
            .filter(mailbox::Column::LeaseOwner.eq(node))
            .filter(mailbox::Column::LeaseUntil.gte(now))
            .exec(&self.writer)
            .await?;
        Ok(renewed.rows_affected > 0)
    }

    /// Gives the lease up early, until `until` (a failing mailbox is tried
    /// again after a pause, by any node), noting why.
    pub async fn release_mailbox(
        &self,
        tenant_id: &str,
        node: &str,
        until: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        mailbox::Entity::update_many()
            .col_expr(mailbox::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(mailbox::Column::LeaseUntil, Expr::value(until))
            .col_expr(mailbox::Column::LastError, Expr::value(error.map(str::to_owned)))
            .filter(mailbox::Column::TenantId.eq(tenant_id))
            .filter(mailbox::Column::LeaseOwner.eq(node))
            .exec(&self.writer)
            .await?;
        Ok(())
    }
}
