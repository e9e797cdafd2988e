//! A workspace's pipeline settings and their history, and its staged
//! rollout of a candidate pipeline: started, counted, promoted, abandoned
//! by hand or by itself. Every change to either is a version of the
//! history (`pipeline_versions`), written in the same transaction, and
//! bumps `tenants.pipeline_version`, which tells every node's copy that it
//! is stale.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    ExprTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::{pipeline_hook, pipeline_rollout, pipeline_version, plugin, tenant};
use super::{Store, StoreError, StoreResult, is_uploaded_plugin_ref};

pub use super::entities::pipeline_hook::Model as PipelineHookRow;
pub use super::entities::pipeline_rollout::Model as RolloutRow;

/// Pipeline versions kept per workspace.
pub const MAX_HISTORY_KEPT: u64 = 100;
/// And at most this much of it (characters of the pipelines it holds): a
/// JavaScript rule may be 64 KiB a hook, and a hundred versions of five
/// would let one workspace hold 32 MB of history.
pub const MAX_HISTORY_CHARS: i64 = 4 << 20;

/// The newest version past [`MAX_HISTORY_CHARS`], counting from the newest:
/// it and everything older go.
const HISTORY_OVER_POSTGRES: &str = "SELECT version FROM (SELECT version, SUM(LENGTH(hooks)) OVER (ORDER BY \
     version DESC) AS kept FROM pipeline_versions WHERE tenant_id = $1) AS h WHERE kept > $2 ORDER BY version DESC \
     LIMIT 1";
const HISTORY_OVER_SQLITE: &str = "SELECT version FROM (SELECT version, SUM(LENGTH(hooks)) OVER (ORDER BY \
     version DESC) AS kept FROM pipeline_versions WHERE tenant_id = ?) AS h WHERE kept > ? ORDER BY version DESC \
     LIMIT 1";

/// The words of the conflict a pipeline change meets during a rollout.
pub const ROLLOUT_UNDER_WAY: &str =
    "a rollout is under way: promote it or abandon it (DELETE /api/v1/pipeline/rollout) before changing the pipeline";

/// Who changed a pipeline, to what, and why.
#[derive(Debug, Clone)]
pub struct PipelineChange {
    /// The pipeline in effect after the change, as its history stores it.
    pub hooks: String,
    pub agent_id: String,
    pub agent_name: String,
    pub note: Option<String>,
}

pub type PipelineVersionRow = pipeline_version::Model;

/// Which of a rollout's two pipelines ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Current,
    Candidate,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Current => "current",
            Arm::Candidate => "candidate",
        }
    }
}

/// Why a rollout was given up by itself: its history entry's note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    pub version: i64,
    pub reason: String,
}

impl Store {
    /// The workspace's pipeline settings: one row per hook that differs from
    /// the defaults.
    pub async fn pipeline(&self, tenant_id: &str) -> StoreResult<Vec<PipelineHookRow>> {
        Ok(pipeline_hook::Entity::find()
            .filter(pipeline_hook::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?)
    }

    /// Replaces the workspace's pipeline and records the change in its
    /// history; returns the new version. Plugins named by id must belong
    /// to the workspace, and no rollout may be under way (both checked in
    /// the transaction that writes).
    pub async fn set_pipeline(
        &self,
        tenant_id: &str,
        rows: Vec<PipelineHookRow>,
        change: PipelineChange,
    ) -> StoreResult<i64> {
        let txn = self.write_txn().await?;
        if pipeline_rollout::Entity::find_by_id(tenant_id)
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(ROLLOUT_UNDER_WAY.to_owned()));
        }
        replace_hooks(&txn, tenant_id, rows).await?;
        let version = record_version(&txn, tenant_id, change).await?;
        txn.commit().await?;
        Ok(version)
    }

    /// The workspace's pipeline changes, newest first (at most `limit`).
    pub async fn pipeline_history(&self, tenant_id: &str, limit: u64) -> StoreResult<Vec<PipelineVersionRow>> {
        Ok(pipeline_version::Entity::find()
            .filter(pipeline_version::Column::TenantId.eq(tenant_id))
            .order_by_desc(pipeline_version::Column::Version)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// One version of the workspace's pipeline.
    pub async fn pipeline_version(&self, tenant_id: &str, version: i64) -> StoreResult<PipelineVersionRow> {
        pipeline_version::Entity::find_by_id((tenant_id.to_owned(), version))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The workspace's rollout, if one is under way.
    pub async fn rollout(&self, tenant_id: &str) -> StoreResult<Option<RolloutRow>> {
        Ok(pipeline_rollout::Entity::find_by_id(tenant_id).one(&self.db).await?)
    }

    /// Starts a rollout (`row.base_version` is filled in): a conflict when
    /// one is under way already, on whichever node it was started.
    pub async fn start_rollout(&self, mut row: RolloutRow, change: PipelineChange) -> StoreResult<RolloutRow> {
        let txn = self.write_txn().await?;
        let tenant_id = row.tenant_id.clone();
        if pipeline_rollout::Entity::find_by_id(&tenant_id)
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(
                "a rollout is under way already: promote it or abandon it first".to_owned(),
            ));
        }
        check_plugins(&txn, &tenant_id, rollout_plugins(&row.hooks)).await?;
        row.base_version = record_version(&txn, &tenant_id, change).await?;
        pipeline_rollout::ActiveModel::from(row.clone()).insert(&txn).await?;
        set_rollout(&txn, &tenant_id, Some(row.id.clone())).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Ends rollout `rollout_id`: with `promoted` (the candidate's rows)
    /// the candidate becomes the pipeline, without it the current one
    /// stays. `NotFound` when that rollout is not (or no longer) under way.
    pub async fn end_rollout(
        &self,
        tenant_id: &str,
        rollout_id: &str,
        promoted: Option<Vec<PipelineHookRow>>,
        change: PipelineChange,
    ) -> StoreResult<i64> {
        let txn = self.write_txn().await?;
        let gone = pipeline_rollout::Entity::delete_many()
            .filter(pipeline_rollout::Column::TenantId.eq(tenant_id))
            .filter(pipeline_rollout::Column::Id.eq(rollout_id))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        set_rollout(&txn, tenant_id, None).await?;
        if let Some(rows) = promoted {
            replace_hooks(&txn, tenant_id, rows).await?;
        }
        let version = record_version(&txn, tenant_id, change).await?;
        txn.commit().await?;
        Ok(version)
    }

    /// Counts one run of a rollout's pipeline (a conversion or a summary)
    /// and whether any of its hooks faulted. When the candidate's fault
    /// rate over its last `min_calls` runs passes `max_fault_rate`, the
    /// rollout is abandoned in the same transaction, and the history says
    /// why: it happens once, whichever node counts the run that tips it.
    /// `current_hooks` is what the history entry records (the pipeline that
    /// stays).
    pub async fn count_rollout_run(
        &self,
        tenant_id: &str,
        rollout_id: &str,
        arm: Arm,
        faulted: bool,
        current_hooks: impl FnOnce() -> String,
    ) -> StoreResult<Option<Abandoned>> {
        let txn = self.write_txn().await?;
        let mut find =
            pipeline_rollout::Entity::find_by_id(tenant_id).filter(pipeline_rollout::Column::Id.eq(rollout_id));
        if txn.get_database_backend() == DbBackend::Postgres {
            find = find.lock_exclusive();
        }
        // Ended meanwhile: the run counts for nothing.
        let Some(row) = find.one(&txn).await? else {
            return Ok(None);
        };
        let fault = i64::from(faulted);
        let mut update = pipeline_rollout::ActiveModel {
            tenant_id: Set(row.tenant_id.clone()),
            ..Default::default()
        };
        let mut recent = row.recent.clone();
        match arm {
            Arm::Current => {
                update.current_calls = Set(row.current_calls + 1);
                update.current_faults = Set(row.current_faults + fault);
            }
            Arm::Candidate => {
                update.candidate_calls = Set(row.candidate_calls + 1);
                update.candidate_faults = Set(row.candidate_faults + fault);
                recent.push(if faulted { '1' } else { '0' });
                let window = usize::try_from(row.min_calls).unwrap_or(1).max(1);
                if recent.len() > window {
                    recent.drain(..recent.len() - window);
                }
                update.recent = Set(recent.clone());
            }
        }
        let verdict = (arm == Arm::Candidate)
            .then(|| crate::domain::rollout::verdict(&recent, row.min_calls, row.max_fault_rate))
            .flatten();
        let Some(reason) = verdict else {
            update.update(&txn).await?;
            txn.commit().await?;
            return Ok(None);
        };
        pipeline_rollout::Entity::delete_by_id(tenant_id).exec(&txn).await?;
        set_rollout(&txn, tenant_id, None).await?;
        let change = PipelineChange {
            hooks: current_hooks(),
            agent_id: "system".to_owned(),
            agent_name: "Automatic rollback".to_owned(),
            note: Some(format!("rollout abandoned by itself: {reason}")),
        };
        let version = record_version(&txn, tenant_id, change).await?;
        txn.commit().await?;
        Ok(Some(Abandoned { version, reason }))
    }
}

/// The plugins a stored pipeline record names, for the check that they
/// are this workspace's.
fn rollout_plugins(hooks: &str) -> Vec<String> {
    let stored: serde_json::Value = serde_json::from_str(hooks).unwrap_or_default();
    let hooks = stored.get("hooks").unwrap_or(&stored);
    hooks
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|h| h["plugin"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Plugins named by id must belong to the workspace.
async fn check_plugins(txn: &DatabaseTransaction, tenant_id: &str, plugins: Vec<String>) -> StoreResult<()> {
    for id in plugins.iter().filter(|p| is_uploaded_plugin_ref(p)) {
        let found = plugin::Entity::find_by_id(id)
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .one(txn)
            .await?;
        if found.is_none() {
            return Err(StoreError::Conflict(format!("plugin {id} is not installed")));
        }
    }
    Ok(())
}

async fn replace_hooks(txn: &DatabaseTransaction, tenant_id: &str, rows: Vec<PipelineHookRow>) -> StoreResult<()> {
    check_plugins(txn, tenant_id, rows.iter().map(|r| r.plugin.clone()).collect()).await?;
    pipeline_hook::Entity::delete_many()
        .filter(pipeline_hook::Column::TenantId.eq(tenant_id))
        .exec(txn)
        .await?;
    for row in rows {
        pipeline_hook::ActiveModel::from(row).insert(txn).await?;
    }
    Ok(())
}

/// Marks the workspace's rollout on its row (read by every conversion).
async fn set_rollout(txn: &DatabaseTransaction, tenant_id: &str, rollout_id: Option<String>) -> StoreResult<()> {
    tenant::Entity::update_many()
        .col_expr(tenant::Column::RolloutId, Expr::value(rollout_id))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Bumps the workspace's `pipeline_version` and writes the history entry
/// of that version, keeping the newest [`MAX_HISTORY_KEPT`] within
/// [`MAX_HISTORY_CHARS`].
async fn record_version(txn: &DatabaseTransaction, tenant_id: &str, change: PipelineChange) -> StoreResult<i64> {
    // Tells every node's cached copy of this pipeline that it is stale.
    tenant::Entity::update_many()
        .col_expr(
            tenant::Column::PipelineVersion,
            Expr::col(tenant::Column::PipelineVersion).add(1),
        )
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(txn)
        .await?;
    let version: i64 = tenant::Entity::find_by_id(tenant_id)
        .select_only()
        .column(tenant::Column::PipelineVersion)
        .into_tuple()
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    pipeline_version::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        version: Set(version),
        hooks: Set(change.hooks),
        changed_by: Set(change.agent_id),
        changed_by_name: Set(change.agent_name),
        changed_at: Set(Utc::now()),
        note: Set(change.note),
    }
    .insert(txn)
    .await?;
    // The newest MAX_HISTORY_KEPT stay: one lookup for the cut-off and
    // one delete below it, whatever the history's length.
    let cutoff: Option<i64> = pipeline_version::Entity::find()
        .select_only()
        .column(pipeline_version::Column::Version)
        .filter(pipeline_version::Column::TenantId.eq(tenant_id))
        .order_by_desc(pipeline_version::Column::Version)
        .offset(MAX_HISTORY_KEPT - 1)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    if let Some(cutoff) = cutoff {
        pipeline_version::Entity::delete_many()
            .filter(pipeline_version::Column::TenantId.eq(tenant_id))
            .filter(pipeline_version::Column::Version.lt(cutoff))
            .exec(txn)
            .await?;
    }
    // Then by size (reading at most the hundred kept): the version
    // just written always stays, being far under the cap.
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => HISTORY_OVER_POSTGRES,
        _ => HISTORY_OVER_SQLITE,
    };
    let over = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant_id.into(), MAX_HISTORY_CHARS.into()],
        ))
        .await?;
    if let Some(row) = over {
        let over: i64 = row.try_get("", "version")?;
        pipeline_version::Entity::delete_many()
            .filter(pipeline_version::Column::TenantId.eq(tenant_id))
            .filter(pipeline_version::Column::Version.lte(over))
            .exec(txn)
            .await?;
    }
    Ok(version)
}
