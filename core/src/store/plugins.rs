//! Installed plugins, per-workspace pipeline settings, plugin faults, and
//! agents as assignment hooks see them.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, ExprTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::{agent, pipeline_hook, pipeline_version, plugin, plugin_fault, tenant};
use super::{Store, StoreError, StoreResult, new_id};
use crate::domain::hooks::HookCandidate;
use crate::domain::hosting::Quota;
use crate::domain::team::Availability;

pub use super::entities::pipeline_hook::Model as PipelineHookRow;
pub use super::entities::plugin::Model as PluginRow;
pub use super::entities::plugin_fault::Model as PluginFaultRow;

/// A plugin as listed: everything but its bytes.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PluginInfo {
    pub id: String,
    pub name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub hooks: String,
    pub uploaded_by: String,
    pub created_at: chrono::DateTime<Utc>,
    /// What its `describe` said (JSON), for 0.2.0 plugins that have one.
    pub manifest: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewFault {
    pub tenant_id: String,
    pub hook: String,
    pub plugin: String,
    pub plugin_name: String,
    pub chat_id: Option<String>,
    pub reason: String,
    pub outcome: String,
}

/// Faults kept per workspace (the newest).
pub const MAX_FAULTS_KEPT: u64 = 1000;
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

/// Who changed a pipeline, to what, and why.
#[derive(Debug, Clone)]
pub struct PipelineChange {
    /// The pipeline as `PUT /api/v1/pipeline` takes it (JSON).
    pub hooks: String,
    pub agent_id: String,
    pub agent_name: String,
    pub note: Option<String>,
}

pub type PipelineVersionRow = pipeline_version::Model;

/// `last_seen_at` is refreshed at most this often, so reads stay reads.
const SEEN_GRANULARITY_SECS: i64 = 60;

impl Store {
    /// Installs an uploaded plugin, within the workspace's quotas of
    /// plugins, their bytes and its stored bytes (counted with the
    /// workspace's row locked, so uploads at once take turns).
    pub async fn insert_plugin(&self, row: PluginRow) -> StoreResult<PluginInfo> {
        let name = row.name.clone();
        let (tenant_id, size) = (row.tenant_id.clone(), u64::try_from(row.size_bytes).unwrap_or(0));
        let txn = self.write_txn().await?;
        let workspace = super::team::locked_workspace(&txn, &tenant_id).await?;
        let quotas = self.quotas_of(&workspace);
        if quotas.plugins.is_some() || quotas.plugin_bytes.is_some() {
            let sizes: Vec<i64> = plugin::Entity::find()
                .select_only()
                .column(plugin::Column::SizeBytes)
                .filter(plugin::Column::TenantId.eq(&tenant_id))
                .into_tuple()
                .all(&txn)
                .await?;
            quotas.check(Quota::Plugins, sizes.len() as u64, 1)?;
            quotas.check(
                Quota::PluginBytes,
                u64::try_from(sizes.iter().sum::<i64>()).unwrap_or(0),
                size,
            )?;
        }
        super::check_stored(&quotas, &workspace, size)?;
        let inserted = match plugin::ActiveModel::from(row).insert(&txn).await {
            Ok(p) => p,
            Err(e) if e.sql_err().is_some() => {
                return Err(StoreError::Conflict(format!(
                    "a plugin named {name:?} is already installed; delete it first or pick another name"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        txn.commit().await?;
        self.meter.count(&tenant_id, |u| u.stored_bytes += size as i64);
        Ok(info(inserted))
    }

    pub async fn plugins(&self, tenant_id: &str) -> StoreResult<Vec<PluginInfo>> {
        Ok(Self::info_query()
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .order_by_asc(plugin::Column::CreatedAt)
            .into_model::<PluginInfo>()
            .all(&self.db)
            .await?)
    }

    /// One plugin without its bytes (a node whose disk cache has its
    /// compiled code needs no more).
    pub async fn plugin_info(&self, tenant_id: &str, plugin_id: &str) -> StoreResult<PluginInfo> {
        Self::info_query()
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .filter(plugin::Column::Id.eq(plugin_id))
            .into_model::<PluginInfo>()
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    fn info_query() -> sea_orm::Select<plugin::Entity> {
        plugin::Entity::find().select_only().columns([
            plugin::Column::Id,
            plugin::Column::Name,
            plugin::Column::Sha256,
            plugin::Column::SizeBytes,
            plugin::Column::Hooks,
            plugin::Column::UploadedBy,
            plugin::Column::CreatedAt,
            plugin::Column::Manifest,
        ])
    }

    /// A plugin with its bytes.
    pub async fn plugin(&self, tenant_id: &str, plugin_id: &str) -> StoreResult<PluginRow> {
        plugin::Entity::find_by_id(plugin_id)
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Deletes a plugin the pipeline does not use; returns the SHA-256 of its
    /// bytes.
    pub async fn delete_plugin(&self, tenant_id: &str, plugin_id: &str) -> StoreResult<String> {
        let txn = self.write_txn().await?;
        let using: Vec<String> = pipeline_hook::Entity::find()
            .filter(pipeline_hook::Column::TenantId.eq(tenant_id))
            .filter(pipeline_hook::Column::Plugin.eq(plugin_id))
            .all(&txn)
            .await?
            .into_iter()
            .map(|h| h.hook)
            .collect();
        if !using.is_empty() {
            return Err(StoreError::Conflict(format!(
                "the pipeline still runs this plugin for: {}; change the pipeline first",
                using.join(", ")
            )));
        }
        let found: Option<(String, i64)> = plugin::Entity::find_by_id(plugin_id)
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .select_only()
            .column(plugin::Column::Sha256)
            .column(plugin::Column::SizeBytes)
            .into_tuple()
            .one(&txn)
            .await?;
        let (sha256, size) = found.ok_or(StoreError::NotFound)?;
        plugin::Entity::delete_many()
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .filter(plugin::Column::Id.eq(plugin_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.meter.count(tenant_id, |u| u.stored_bytes -= size);
        Ok(sha256)
    }

    /// Whether any plugin of any workspace has bytes with this SHA-256 (one
    /// index lookup), so compiled code shared by workspaces outlives the
    /// deletion of one copy.
    pub async fn plugin_bytes_in_use(&self, sha256: &str) -> StoreResult<bool> {
        let found: Option<String> = plugin::Entity::find()
            .select_only()
            .column(plugin::Column::Id)
            .filter(plugin::Column::Sha256.eq(sha256))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// The SHA-256 of every installed plugin's bytes, all workspaces (for
    /// pruning the compiled-plugin cache at start and hourly; never per
    /// request).
    pub async fn plugin_hashes(&self) -> StoreResult<std::collections::HashSet<String>> {
        let hashes: Vec<String> = plugin::Entity::find()
            .select_only()
            .column(plugin::Column::Sha256)
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(hashes.into_iter().collect())
    }

    /// The workspace's pipeline settings: one row per hook that differs from
    /// the defaults.
    pub async fn pipeline(&self, tenant_id: &str) -> StoreResult<Vec<PipelineHookRow>> {
        Ok(pipeline_hook::Entity::find()
            .filter(pipeline_hook::Column::TenantId.eq(tenant_id))
            .all(&self.db)
            .await?)
    }

    /// Replaces the pipeline settings and bumps the workspace's
    /// `pipeline_version`. Plugins named by id must belong to the workspace
    /// (checked in the same transaction that writes).
    /// Replaces the workspace's pipeline and records the change in its
    /// history (`change.hooks`, the pipeline as the API takes it); returns
    /// the new version.
    pub async fn set_pipeline(
        &self,
        tenant_id: &str,
        rows: Vec<PipelineHookRow>,
        change: PipelineChange,
    ) -> StoreResult<i64> {
        let txn = self.write_txn().await?;
        for row in &rows {
            if is_uploaded_plugin_ref(&row.plugin) {
                let found = plugin::Entity::find_by_id(&row.plugin)
                    .filter(plugin::Column::TenantId.eq(tenant_id))
                    .one(&txn)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::Conflict(format!("plugin {} is not installed", row.plugin)));
                }
            }
        }
        pipeline_hook::Entity::delete_many()
            .filter(pipeline_hook::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        for row in rows {
            pipeline_hook::ActiveModel::from(row).insert(&txn).await?;
        }
        // Tells every node's cached copy of this pipeline that it is stale.
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::PipelineVersion,
                Expr::col(tenant::Column::PipelineVersion).add(1),
            )
            .filter(tenant::Column::Id.eq(tenant_id))
            .exec(&txn)
            .await?;
        let version: i64 = tenant::Entity::find_by_id(tenant_id)
            .select_only()
            .column(tenant::Column::PipelineVersion)
            .into_tuple()
            .one(&txn)
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
        .insert(&txn)
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
            .one(&txn)
            .await?;
        if let Some(cutoff) = cutoff {
            pipeline_version::Entity::delete_many()
                .filter(pipeline_version::Column::TenantId.eq(tenant_id))
                .filter(pipeline_version::Column::Version.lt(cutoff))
                .exec(&txn)
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
                .exec(&txn)
                .await?;
        }
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

    /// Records faults, keeping each workspace's newest [`MAX_FAULTS_KEPT`]:
    /// a plugin failing on every conversion must not grow the table forever.
    pub async fn record_faults(&self, faults: Vec<NewFault>) -> StoreResult<()> {
        let tenants: std::collections::BTreeSet<String> = faults.iter().map(|f| f.tenant_id.clone()).collect();
        let txn = self.write_txn().await?;
        for f in faults {
            plugin_fault::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(f.tenant_id),
                hook: Set(f.hook),
                plugin: Set(f.plugin),
                plugin_name: Set(f.plugin_name),
                chat_id: Set(f.chat_id),
                reason: Set(f.reason),
                outcome: Set(f.outcome),
                created_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await?;
        }
        for tenant_id in tenants {
            let oldest_kept: Option<String> = plugin_fault::Entity::find()
                .select_only()
                .column(plugin_fault::Column::Id)
                .filter(plugin_fault::Column::TenantId.eq(&tenant_id))
                .order_by_desc(plugin_fault::Column::Id)
                .offset(MAX_FAULTS_KEPT - 1)
                .limit(1)
                .into_tuple()
                .one(&txn)
                .await?;
            if let Some(oldest_kept) = oldest_kept {
                plugin_fault::Entity::delete_many()
                    .filter(plugin_fault::Column::TenantId.eq(&tenant_id))
                    .filter(plugin_fault::Column::Id.lt(oldest_kept))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Faults, newest first, older than the fault `before` when paging.
    pub async fn faults(&self, tenant_id: &str, before: Option<&str>, limit: u64) -> StoreResult<Vec<PluginFaultRow>> {
        let mut query = plugin_fault::Entity::find()
            .filter(plugin_fault::Column::TenantId.eq(tenant_id))
            .order_by_desc(plugin_fault::Column::Id)
            .limit(limit);
        if let Some(b) = before {
            query = query.filter(plugin_fault::Column::Id.lt(b));
        }
        Ok(query.all(&self.db).await?)
    }

    /// Notes that the agent is active, at most once a minute.
    pub async fn touch_agent(&self, agent_id: &str) -> StoreResult<()> {
        let now = Utc::now();
        agent::Entity::update_many()
            .col_expr(agent::Column::LastSeenAt, now.into())
            .filter(agent::Column::Id.eq(agent_id))
            .filter(
                agent::Column::LastSeenAt
                    .is_null()
                    .or(agent::Column::LastSeenAt.lt(now - Duration::seconds(SEEN_GRANULARITY_SECS))),
            )
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn set_agent_skills(&self, tenant_id: &str, agent_id: &str, skills: &[String]) -> StoreResult<()> {
        let json = serde_json::to_string(skills).expect("strings serialize");
        let updated = agent::Entity::update_many()
            .col_expr(agent::Column::Skills, json.into())
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::Id.eq(agent_id))
            .exec(&self.writer)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// An agent as assignment rules see it: online if they said so and their
/// console has not gone quiet.
pub(super) fn candidate(a: super::Agent) -> HookCandidate {
    let availability = Availability::effective(&a.availability, a.last_seen_at, Utc::now());
    HookCandidate {
        online: availability == Availability::Online,
        open_tickets: a.open_tickets.clamp(0, u32::MAX as i64) as u32,
        skills: serde_json::from_str(&a.skills).unwrap_or_default(),
        last_assigned_at: a.last_assigned_at,
        id: a.id,
        name: a.name,
    }
}

/// Whether an agent last seen at `at` should be marked as seen now.
pub fn seen_long_ago(at: Option<chrono::DateTime<Utc>>) -> bool {
    at.is_none_or(|t| t < Utc::now() - Duration::seconds(SEEN_GRANULARITY_SECS))
}

/// Built-in plugins are named (`subject-default`); uploaded ones go by id (a UUID).
pub fn is_uploaded_plugin_ref(plugin: &str) -> bool {
    uuid::Uuid::parse_str(plugin).is_ok()
}

fn info(p: PluginRow) -> PluginInfo {
    PluginInfo {
        id: p.id,
        name: p.name,
        sha256: p.sha256,
        size_bytes: p.size_bytes,
        hooks: p.hooks,
        uploaded_by: p.uploaded_by,
        created_at: p.created_at,
        manifest: p.manifest,
    }
}
