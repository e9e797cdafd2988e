//! The hosting operator's side of the database: operator tokens, the
//! workspaces as the operator sees them (status, quotas, usage), making
//! one with its first admin's invitation, and erasing one whole.

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::{chat, mail_outbox, operator_token, plugin, tenant, usage_day};
use super::team::{NewInvitation, insert_invitation, locked_workspace};
use super::{Invitation, Store, StoreError, StoreResult, Tenant, new_id, new_token, token_hash};
use crate::domain::EmailAddress;
use crate::domain::hosting::{Quota, QuotaOverrides, Quotas, WorkspaceStatus, day_start};
use crate::domain::team::Role;

pub type OperatorToken = operator_token::Model;

/// Every table that holds a workspace's rows, children before parents:
/// the order deletion goes in (an export goes the other way). A test reads
/// the schema and fails when a table with a `tenant_id` is missing here.
pub const WORKSPACE_TABLES: &[&str] = &[
    "plugin_logs",
    "pipeline_rollouts",
    "schedule_marks",
    "webhook_deliveries",
    "webhooks",
    "events",
    "automations",
    "audit_log",
    "usage_days",
    "chat_terms",
    "ticket_terms",
    "visitor_blocks",
    "canned_replies",
    "plugin_faults",
    "pipeline_hooks",
    "pipeline_versions",
    "password_resets",
    "agent_invitations",
    "mailboxes",
    "inbound_mails",
    "mail_outbox",
    "ticket_comments",
    "ticket_events",
    "ratings",
    "messages",
    "tickets",
    "chats",
    "requesters",
    "visitors",
    "plugins",
    "agent_credentials",
    "agents",
];

/// Workspaces whose counts one statement of a flush writes (9 values a
/// row: well under SQLite's 32,766 parameters and PostgreSQL's 65,535).
const USAGE_ROWS_PER_STATEMENT: usize = 500;

/// A workspace as the operator lists it.
#[derive(Debug, Clone)]
pub struct WorkspaceListing {
    pub tenant: Tenant,
    pub quotas: Quotas,
}

/// What a workspace used over some days, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub conversions: i64,
    pub chats: i64,
    pub messages: i64,
    pub mails_sent: i64,
    pub plugin_calls: i64,
    pub plugin_fuel: i64,
    pub stored_bytes: i64,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, u: Usage) {
        self.conversions += u.conversions;
        self.chats += u.chats;
        self.messages += u.messages;
        self.mails_sent += u.mails_sent;
        self.plugin_calls += u.plugin_calls;
        self.plugin_fuel += u.plugin_fuel;
        self.stored_bytes += u.stored_bytes;
    }
}

impl Store {
    pub fn set_quota_defaults(&self, defaults: Quotas) {
        *self.quota_defaults.write().expect("quota defaults lock") = defaults;
    }

    pub fn quota_defaults(&self) -> Quotas {
        *self.quota_defaults.read().expect("quota defaults lock")
    }

    /// The limits in force for `workspace`: its overrides over the defaults.
    pub fn quotas_of(&self, workspace: &Tenant) -> Quotas {
        QuotaOverrides::stored(&workspace.quotas).over(&self.quota_defaults())
    }

    /// Makes an operator token called `name` (unique); the token is
    /// returned this once and stored only as its hash.
    pub async fn create_operator_token(&self, name: &str) -> StoreResult<(OperatorToken, String)> {
        let (token, hash) = new_token("tlo");
        let inserted = operator_token::ActiveModel {
            id: Set(new_id()),
            name: Set(name.to_owned()),
            token_hash: Set(hash),
            created_at: Set(Utc::now().trunc_subsecs(6)),
            last_used_at: Set(None),
        }
        .insert(&self.writer)
        .await;
        match inserted {
            Ok(row) => Ok((row, token)),
            Err(e) if e.sql_err().is_some() => Err(StoreError::Conflict(format!(
                "an operator token called {name:?} exists already; revoke it first"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the operator token called `name`; `NotFound` if none is.
    pub async fn revoke_operator_token(&self, name: &str) -> StoreResult<()> {
        let gone = operator_token::Entity::delete_many()
            .filter(operator_token::Column::Name.eq(name))
            .exec(&self.writer)
            .await?;
        if gone.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The operator token `token` is, noting its use at most once a minute.
    pub async fn operator_by_token(&self, token: &str) -> StoreResult<OperatorToken> {
        let found = operator_token::Entity::find()
            .filter(operator_token::Column::TokenHash.eq(token_hash(token)))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?;
        if super::seen_long_ago(found.last_used_at) {
            operator_token::Entity::update_many()
                .col_expr(
                    operator_token::Column::LastUsedAt,
                    Expr::value(Utc::now().trunc_subsecs(6)),
                )
                .filter(operator_token::Column::Id.eq(&found.id))
                .exec(&self.writer)
                .await?;
        }
        Ok(found)
    }

    /// Makes a workspace with no agent yet and invites its first admin, in
    /// one transaction. A `slug` asked for must be free (a conflict
    /// otherwise); without one, it comes from the name as on the shell.
    pub async fn create_workspace(
        &self,
        name: &str,
        slug: Option<&str>,
        admin_email: &EmailAddress,
        admin_name: &str,
        public_url: &str,
    ) -> StoreResult<(Tenant, Invitation, String)> {
        let candidates: Vec<String> = match slug {
            Some(slug) => vec![slug.to_owned()],
            None => super::tenants::slug_candidates(name).collect(),
        };
        for slug in &candidates {
            let txn = self.write_txn().await?;
            let inserted = super::tenants::new_tenant(name, slug).insert(&txn).await;
            let workspace = match inserted {
                Ok(t) => t,
                // Taken: the next candidate, in a new transaction (a failed
                // statement ends PostgreSQL's).
                Err(e) if e.sql_err().is_some() => continue,
                Err(e) => return Err(e.into()),
            };
            let (invitation, token) = insert_invitation(
                &txn,
                &workspace,
                &self.quotas_of(&workspace),
                NewInvitation {
                    email: admin_email,
                    name: Some(admin_name.to_owned()),
                    role: Role::Admin,
                    invited_by: "operator",
                    inviter_name: "The service's operator",
                },
                public_url,
            )
            .await?;
            txn.commit().await?;
            return Ok((workspace, invitation, token));
        }
        Err(StoreError::Conflict(match slug {
            Some(slug) => format!("the slug {slug:?} is taken"),
            None => format!("no free slug for {name:?}"),
        }))
    }

    /// A page of workspaces, newest first, after the workspace `before` (an
    /// id), of `status` if given.
    pub async fn workspaces(
        &self,
        status: Option<WorkspaceStatus>,
        before: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<WorkspaceListing>> {
        let mut find = tenant::Entity::find();
        if let Some(status) = status {
            find = find.filter(tenant::Column::Status.eq(status.as_str()));
        }
        if let Some(before) = before {
            find = find.filter(tenant::Column::Id.lt(before));
        }
        let rows = find
            .order_by_desc(tenant::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|tenant| WorkspaceListing {
                quotas: self.quotas_of(&tenant),
                tenant,
            })
            .collect())
    }

    /// Changes a workspace's status and quota overrides, in one write.
    pub async fn change_workspace(
        &self,
        tenant_id: &str,
        status: Option<WorkspaceStatus>,
        quotas: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> StoreResult<Tenant> {
        let txn = self.write_txn().await?;
        let found = locked_workspace(&txn, tenant_id).await?;
        let mut row: tenant::ActiveModel = found.clone().into();
        if let Some(status) = status {
            row.status = Set(status.as_str().to_owned());
        }
        if let Some(change) = quotas {
            let mut overrides = QuotaOverrides::stored(&found.quotas);
            overrides
                .apply(change)
                .map_err(|e| StoreError::Invalid("quotas", e.message))?;
            row.quotas = Set(overrides.to_stored());
        }
        let updated = row.update(&txn).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Erases every row of the workspace from every table, in one
    /// transaction: all or nothing. Returns the id and sha256 of each of
    /// its uploaded plugins, for the caller to clear from the plugin cache.
    pub async fn delete_workspace(&self, tenant_id: &str) -> StoreResult<Vec<(String, String)>> {
        let txn = self.write_txn().await?;
        locked_workspace(&txn, tenant_id).await?;
        let plugins: Vec<(String, String)> = plugin::Entity::find()
            .select_only()
            .column(plugin::Column::Id)
            .column(plugin::Column::Sha256)
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .into_tuple()
            .all(&txn)
            .await?;
        for table in WORKSPACE_TABLES {
            let delete = Query::delete()
                .from_table(sea_orm::sea_query::Alias::new(*table))
                .and_where(Expr::col(sea_orm::sea_query::Alias::new("tenant_id")).eq(tenant_id))
                .to_owned();
            txn.execute(&delete).await?;
        }
        tenant::Entity::delete_by_id(tenant_id).exec(&txn).await?;
        txn.commit().await?;
        Ok(plugins)
    }

    /// What the workspace used from the first of `at`'s month (UTC) on:
    /// at most 31 rows.
    pub async fn usage_this_month(&self, tenant_id: &str, at: DateTime<Utc>) -> StoreResult<Usage> {
        let first = at.date_naive().with_day(1).expect("every month has a first day");
        self.usage_since(tenant_id, &first.format("%Y-%m-%d").to_string()).await
    }

    /// What the workspace used from `day` (`YYYY-MM-DD`) on.
    pub async fn usage_since(&self, tenant_id: &str, day: &str) -> StoreResult<Usage> {
        let rows = usage_day::Entity::find()
            .filter(usage_day::Column::TenantId.eq(tenant_id))
            .filter(usage_day::Column::Day.gte(day))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().fold(Usage::default(), |mut sum, r| {
            sum += Usage {
                conversions: r.conversions,
                chats: r.chats,
                messages: r.messages,
                mails_sent: r.mails_sent,
                plugin_calls: r.plugin_calls,
                plugin_fuel: r.plugin_fuel,
                stored_bytes: r.stored_bytes,
            };
            sum
        }))
    }

    /// Adds a node's counts to the day's rows and what they stored to the
    /// workspaces' running totals, in one transaction of a few statements
    /// (an upsert and an update per [`USAGE_ROWS_PER_STATEMENT`] workspaces).
    pub async fn add_usage(&self, day: &str, counts: &[(String, Usage)]) -> StoreResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        for chunk in counts.chunks(USAGE_ROWS_PER_STATEMENT) {
            let add = |c: usage_day::Column| {
                Expr::col((usage_day::Entity, c)).add(Expr::col((sea_orm::sea_query::Alias::new("excluded"), c)))
            };
            let mut upsert = Query::insert();
            upsert.into_table(usage_day::Entity).columns([
                usage_day::Column::TenantId,
                usage_day::Column::Day,
                usage_day::Column::Conversions,
                usage_day::Column::Chats,
                usage_day::Column::Messages,
                usage_day::Column::MailsSent,
                usage_day::Column::PluginCalls,
                usage_day::Column::PluginFuel,
                usage_day::Column::StoredBytes,
            ]);
            for (tenant_id, u) in chunk {
                upsert.values_panic([
                    tenant_id.clone().into(),
                    day.into(),
                    u.conversions.into(),
                    u.chats.into(),
                    u.messages.into(),
                    u.mails_sent.into(),
                    u.plugin_calls.into(),
                    u.plugin_fuel.into(),
                    u.stored_bytes.into(),
                ]);
            }
            upsert.on_conflict(
                OnConflict::columns([usage_day::Column::TenantId, usage_day::Column::Day])
                    .values([
                        (usage_day::Column::Conversions, add(usage_day::Column::Conversions)),
                        (usage_day::Column::Chats, add(usage_day::Column::Chats)),
                        (usage_day::Column::Messages, add(usage_day::Column::Messages)),
                        (usage_day::Column::MailsSent, add(usage_day::Column::MailsSent)),
                        (usage_day::Column::PluginCalls, add(usage_day::Column::PluginCalls)),
                        (usage_day::Column::PluginFuel, add(usage_day::Column::PluginFuel)),
                        (usage_day::Column::StoredBytes, add(usage_day::Column::StoredBytes)),
                    ])
                    .to_owned(),
            );
            txn.execute(&upsert).await?;
            // The running totals: one UPDATE, each row by its own amount.
            let stored: Vec<&(String, Usage)> = chunk.iter().filter(|(_, u)| u.stored_bytes != 0).collect();
            if !stored.is_empty() {
                let mut by_row = sea_orm::sea_query::CaseStatement::new();
                for (tenant_id, u) in &stored {
                    by_row = by_row.case(Expr::col(tenant::Column::Id).eq(tenant_id.as_str()), u.stored_bytes);
                }
                let by_row = by_row.finally(0);
                tenant::Entity::update_many()
                    .col_expr(
                        tenant::Column::StoredBytes,
                        Expr::col(tenant::Column::StoredBytes).add(by_row),
                    )
                    .filter(tenant::Column::Id.is_in(stored.iter().map(|(id, _)| id.clone())))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Chats the workspace started today (UTC), counted up to `limit`: the
    /// `chats_per_day` quota's check reads at most that many index entries.
    pub async fn chats_today(&self, tenant_id: &str, limit: u64) -> StoreResult<u64> {
        let ids: Vec<String> = chat::Entity::find()
            .select_only()
            .column(chat::Column::Id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::CreatedAt.gte(day_start(Utc::now())))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.len() as u64)
    }

    /// Mail the workspace sent today (UTC), counted up to `limit`.
    pub async fn mails_sent_today(&self, tenant_id: &str, limit: u64) -> StoreResult<u64> {
        let ids: Vec<String> = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(mail_outbox::Column::TenantId.eq(tenant_id))
            .filter(mail_outbox::Column::State.eq(super::mail_state::SENT))
            .filter(mail_outbox::Column::SentAt.gte(day_start(Utc::now())))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.len() as u64)
    }

    /// Refuses a chat start past the workspace's daily chat quota or its
    /// stored bytes, or in a suspended workspace.
    pub async fn check_chat_start(&self, workspace: &Tenant) -> StoreResult<()> {
        if WorkspaceStatus::of(&workspace.status) == WorkspaceStatus::Suspended {
            return Err(StoreError::Suspended);
        }
        let quotas = self.quotas_of(workspace);
        check_stored(&quotas, workspace, 1)?;
        if let Some(limit) = quotas.chats_per_day {
            let started = self.chats_today(&workspace.id, limit.saturating_add(1)).await?;
            quotas.check(Quota::ChatsPerDay, started, 1)?;
        }
        Ok(())
    }
}

/// Refuses a write of `adding` bytes to a workspace whose metered store is
/// at its quota. The total is the meter's (flushed every few seconds), so
/// a burst may pass the quota by what the nodes have not flushed yet.
pub fn check_stored(quotas: &Quotas, workspace: &Tenant, adding: u64) -> StoreResult<()> {
    Ok(quotas.check(
        Quota::StoredBytes,
        u64::try_from(workspace.stored_bytes).unwrap_or(0),
        adding,
    )?)
}
