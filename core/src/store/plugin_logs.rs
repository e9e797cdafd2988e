//! What a workspace's plugins wrote to their log, and each call's outcome:
//! a ring of the newest [`PLUGIN_LOG_KEPT`] per workspace, written in
//! batches by each node's plugin host (see `plugins::logs`) and trimmed as
//! it is written, so a plugin that logs on every call holds a fixed share
//! of the table.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::plugin_log;
use super::{Store, StoreResult};

pub use super::entities::plugin_log::Model as PluginLogRow;

/// Lines kept per workspace (the newest).
pub const PLUGIN_LOG_KEPT: u64 = 1_000;

/// A line or a call's outcome, before it is stored.
#[derive(Debug, Clone)]
pub struct NewLogLine {
    pub tenant_id: String,
    pub at: DateTime<Utc>,
    pub plugin: String,
    pub plugin_name: String,
    pub hook: String,
    pub level: String,
    /// Control characters already escaped.
    pub message: String,
    pub chat_id: Option<String>,
    pub outcome: Option<String>,
    pub fuel: Option<i64>,
    pub elapsed_ms: Option<f64>,
}

/// Which lines an admin asks for: those after `since` (an id), or the
/// newest; of one plugin or hook, or all.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub plugin: Option<String>,
    pub hook: Option<String>,
    pub since: Option<i64>,
    pub limit: u64,
}

impl Store {
    /// Stores a batch of lines (any workspaces'), then trims each
    /// workspace it wrote to back to its newest [`PLUGIN_LOG_KEPT`]: one
    /// indexed lookup and one ranged delete each.
    pub async fn write_plugin_logs(&self, lines: Vec<NewLogLine>) -> StoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let tenants: BTreeSet<String> = lines.iter().map(|l| l.tenant_id.clone()).collect();
        let rows = lines.into_iter().map(|l| plugin_log::ActiveModel {
            tenant_id: Set(l.tenant_id),
            at: Set(l.at),
            plugin: Set(l.plugin),
            plugin_name: Set(l.plugin_name),
            hook: Set(l.hook),
            level: Set(l.level),
            message: Set(l.message),
            chat_id: Set(l.chat_id),
            outcome: Set(l.outcome),
            fuel: Set(l.fuel),
            elapsed_ms: Set(l.elapsed_ms),
            ..Default::default()
        });
        plugin_log::Entity::insert_many(rows).exec(&self.writer).await?;
        for tenant_id in tenants {
            let oldest_kept: Option<i64> = plugin_log::Entity::find()
                .select_only()
                .column(plugin_log::Column::Id)
                .filter(plugin_log::Column::TenantId.eq(&tenant_id))
                .order_by_desc(plugin_log::Column::Id)
                .offset(PLUGIN_LOG_KEPT - 1)
                .limit(1)
                .into_tuple()
                .one(&self.writer)
                .await?;
            if let Some(oldest) = oldest_kept {
                plugin_log::Entity::delete_many()
                    .filter(plugin_log::Column::TenantId.eq(&tenant_id))
                    .filter(plugin_log::Column::Id.lt(oldest))
                    .exec(&self.writer)
                    .await?;
            }
        }
        Ok(())
    }

    /// The workspace's lines, oldest first: those after `since`, or the
    /// newest `limit`.
    pub async fn plugin_logs(&self, tenant_id: &str, q: &LogQuery) -> StoreResult<Vec<PluginLogRow>> {
        let mut find = plugin_log::Entity::find().filter(plugin_log::Column::TenantId.eq(tenant_id));
        if let Some(plugin) = &q.plugin {
            find = find.filter(plugin_log::Column::Plugin.eq(plugin));
        }
        if let Some(hook) = &q.hook {
            find = find.filter(plugin_log::Column::Hook.eq(hook));
        }
        let mut rows = match q.since {
            Some(since) => {
                find.filter(plugin_log::Column::Id.gt(since))
                    .order_by_asc(plugin_log::Column::Id)
                    .limit(q.limit)
                    .all(&self.db)
                    .await?
            }
            None => {
                let mut newest = find
                    .order_by_desc(plugin_log::Column::Id)
                    .limit(q.limit)
                    .all(&self.db)
                    .await?;
                newest.reverse();
                newest
            }
        };
        rows.truncate(q.limit as usize);
        Ok(rows)
    }
}
