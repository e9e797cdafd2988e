//! Installed plugins, per-workspace pipeline settings, plugin faults, and
//! agents as assignment hooks see them.

use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, ExprTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entities::{agent, pipeline_hook, pipeline_rollout, plugin, plugin_fault};
use super::{Store, StoreError, StoreResult, new_id};
use crate::domain::hooks::HookCandidate;
use crate::domain::hosting::Quota;
use crate::domain::team::Availability;

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
        // Plugin ids are unique: the candidate's record naming it is enough.
        let rollout = pipeline_rollout::Entity::find_by_id(tenant_id).one(&txn).await?;
        if rollout.is_some_and(|r| r.hooks.contains(&format!("\"{plugin_id}\""))) {
            return Err(StoreError::Conflict(
                "the rollout's candidate pipeline runs this plugin; promote or abandon the rollout first".to_owned(),
            ));
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
/// An agent as the assignment hook sees them.
pub fn candidate(a: super::Agent) -> HookCandidate {
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
