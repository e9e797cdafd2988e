//! The audit log: who signed in, read an export, erased a contact, or
//! changed roles, settings, the pipeline or plugins. Append-only: nothing
//! here updates a row, and only the retention job deletes them, past
//! `--audit-retention-days`. A row names the person acted on by id only,
//! never by the personal data the action touched.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::Value;

use super::entities::audit_entry;
use super::{Agent, Store, StoreResult, new_id};

pub use super::entities::audit_entry::Model as AuditEntry;

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    Agent {
        id: String,
        name: String,
    },
    /// The hosting operator (an operator token's name).
    Operator(String),
    /// The server itself (the retention job).
    System,
}

impl Actor {
    pub fn agent(agent: &Agent) -> Self {
        Self::Agent {
            id: agent.id.clone(),
            name: agent.name.clone(),
        }
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct Audit {
    /// `<thing>.<verb>`, such as `contact.erased` (README lists them).
    pub action: &'static str,
    pub target: Option<String>,
    /// What changed (fields, counts), never personal data.
    pub detail: Value,
}

impl Audit {
    pub fn new(action: &'static str, target: Option<&str>, detail: Value) -> Self {
        Self {
            action,
            target: target.map(str::to_owned),
            detail,
        }
    }
}

/// Writes `entry` on `db`: the transaction of the change it records,
/// where there is one, so the change and its entry commit together.
pub(super) async fn write<C: ConnectionTrait>(db: &C, tenant_id: &str, actor: &Actor, entry: Audit) -> StoreResult<()> {
    let (kind, id, name) = match actor {
        Actor::Agent { id, name } => ("agent", Some(id.clone()), name.clone()),
        Actor::Operator(name) => ("operator", None, name.clone()),
        Actor::System => ("system", None, "Threadline".to_owned()),
    };
    audit_entry::Entity::insert(audit_entry::ActiveModel {
        id: Set(new_id()),
        tenant_id: Set(tenant_id.to_owned()),
        at: Set(Utc::now().trunc_subsecs(6)),
        actor_kind: Set(kind.to_owned()),
        actor_id: Set(id),
        actor_name: Set(name),
        action: Set(entry.action.to_owned()),
        target: Set(entry.target),
        detail: Set(entry.detail.to_string()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

impl Store {
    /// Records what `actor` did, in a write of its own (for actions whose
    /// change is not a transaction of this store's: a sign-in, an export).
    pub async fn audit(&self, tenant_id: &str, actor: &Actor, entry: Audit) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        write(&txn, tenant_id, actor, entry).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The workspace's log, newest first, `limit` entries older than the
    /// entry `before` (an id), filtered by action when `action` is given.
    pub async fn audit_log(
        &self,
        tenant_id: &str,
        before: Option<&str>,
        action: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut q = audit_entry::Entity::find().filter(audit_entry::Column::TenantId.eq(tenant_id));
        if let Some(before) = before {
            q = q.filter(audit_entry::Column::Id.lt(before));
        }
        if let Some(action) = action {
            q = q.filter(audit_entry::Column::Action.eq(action));
        }
        Ok(q.order_by_desc(audit_entry::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Deletes up to `batch` entries (of every workspace) written before
    /// `cutoff`; returns how many went.
    pub(super) async fn prune_audit(&self, cutoff: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
        let ids: Vec<String> = audit_entry::Entity::find()
            .select_only()
            .column(audit_entry::Column::Id)
            .filter(audit_entry::Column::At.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let txn = self.write_txn().await?;
        let done = audit_entry::Entity::delete_many()
            .filter(audit_entry::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(done.rows_affected)
    }
}
