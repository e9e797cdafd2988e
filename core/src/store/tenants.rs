//! Workspaces, their agents, and the credentials that resolve to them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::credentials::{CredentialKind, insert_credential};
use super::entities::{agent, chat, tenant, visitor};
use super::{Agent, Store, StoreError, StoreResult, Tenant, Visitor, new_id, new_public_key, prefixed, token_hash};
use crate::domain::hosting::WorkspaceStatus;
use crate::domain::team::Availability;
use crate::domain::{ChatStatus, EmailAddress};

/// What `tenant create` hands back: the only time the admin's token is shown.
#[derive(Debug, Clone)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub admin: CreatedAgent,
}

#[derive(Debug, Clone)]
pub struct CreatedAgent {
    pub agent: Agent,
    pub token: String,
}

impl Store {
    /// Creates a workspace and its first (admin) agent in one transaction. The
    /// slug comes from the name; a taken slug gets a numeric suffix.
    pub async fn create_tenant(
        &self,
        name: &str,
        admin_name: &str,
        admin_email: &EmailAddress,
    ) -> StoreResult<CreatedTenant> {
        for slug in slug_candidates(name) {
            let txn = self.write_txn().await?;
            let taken = tenant::Entity::find()
                .filter(tenant::Column::Slug.eq(&slug))
                .one(&txn)
                .await?
                .is_some();
            if taken {
                continue;
            }
            let tenant = match new_tenant(name, &slug).insert(&txn).await {
                Ok(t) => t,
                // Another process took the same slug between our check and insert.
                Err(e) if e.sql_err().is_some() => continue,
                Err(e) => return Err(e.into()),
            };
            let admin = insert_agent_with_token(&txn, &tenant.id, admin_name, admin_email, true).await?;
            txn.commit().await?;
            return Ok(CreatedTenant { tenant, admin });
        }
        Err(StoreError::Conflict(format!("no free slug for {name:?}")))
    }

    pub async fn create_agent(
        &self,
        tenant_id: &str,
        name: &str,
        email: &EmailAddress,
        is_admin: bool,
    ) -> StoreResult<CreatedAgent> {
        let txn = self.write_txn().await?;
        let created = insert_agent_with_token(&txn, tenant_id, name, email, is_admin).await?;
        txn.commit().await?;
        Ok(created)
    }

    pub async fn tenant(&self, tenant_id: &str) -> StoreResult<Tenant> {
        tenant::Entity::find_by_id(tenant_id)
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Tenant> {
        tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn tenant_by_widget_key(&self, key: &str) -> StoreResult<Tenant> {
        tenant::Entity::find()
            .filter(tenant::Column::WidgetKey.eq(key))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The visitor holding `token`, unless every chat of theirs closed
    /// before `closed_before` (their token has expired then; reopening a
    /// chat brings it back). A visitor back with a new chat keeps it.
    pub async fn visitor_by_token(
        &self,
        token: &str,
        closed_before: DateTime<Utc>,
    ) -> StoreResult<(Visitor, WorkspaceStatus)> {
        let live = Query::select()
            .expr(Expr::val(1))
            .from(chat::Entity)
            .and_where(
                Expr::col((chat::Entity, chat::Column::VisitorId)).equals((visitor::Entity, visitor::Column::Id)),
            )
            .and_where(
                Expr::col((chat::Entity, chat::Column::Status))
                    .ne(ChatStatus::Closed.as_str())
                    .or(Expr::col((chat::Entity, chat::Column::ClosedAt)).gte(closed_before)),
            )
            .to_owned();
        let mut query = Query::select();
        prefixed::<visitor::Entity>(&mut query, "v_");
        // The workspace's status comes in the same round trip.
        query
            .expr_as(
                Expr::col((tenant::Entity, tenant::Column::Status)),
                Alias::new("t_status"),
            )
            .from(visitor::Entity)
            .join(
                JoinType::InnerJoin,
                tenant::Entity,
                Expr::col((tenant::Entity, tenant::Column::Id)).equals((visitor::Entity, visitor::Column::TenantId)),
            )
            .and_where(Expr::col((visitor::Entity, visitor::Column::TokenHash)).eq(token_hash(token)))
            .and_where(Expr::exists(live));
        let row = self.db.query_one(&query).await?.ok_or(StoreError::NotFound)?;
        let status: String = row.try_get("", "t_status")?;
        Ok((Visitor::from_query_result(&row, "v_")?, WorkspaceStatus::of(&status)))
    }

    pub async fn agent(&self, tenant_id: &str, agent_id: &str) -> StoreResult<Agent> {
        agent::Entity::find_by_id(agent_id)
            .filter(agent::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The agents of a workspace, oldest first.
    /// The workspace's first `limit` agents, oldest first.
    pub async fn agents(&self, tenant_id: &str, limit: u64) -> StoreResult<Vec<Agent>> {
        Ok(agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant_id))
            .order_by_asc(agent::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    /// Agents by id, for building a page of tickets' views in one query.
    pub async fn agents_by_ids(&self, tenant_id: &str, ids: Vec<String>) -> StoreResult<Vec<Agent>> {
        Ok(agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::Id.is_in(ids))
            .all(&self.db)
            .await?)
    }

    /// Changes the workspace's settings that `change` gives, all in one
    /// write. Service level targets apply to tickets made from then on (a
    /// ticket keeps the due times it was made with).
    pub async fn change_settings(
        &self,
        tenant_id: &str,
        change: SettingsChange,
        actor: &super::Actor,
    ) -> StoreResult<Tenant> {
        let entry = super::Audit::new("settings.changed", None, serde_json::json!({"fields": change.fields()}));
        self.update_tenant_audited(tenant_id, Some((actor, entry)), |t| {
            if let Some(zone) = change.time_zone {
                t.time_zone = Set(zone);
            }
            if let Some(minutes) = change.sla_first_response_minutes {
                t.sla_first_response_minutes = Set(minutes);
            }
            if let Some(minutes) = change.sla_resolution_minutes {
                t.sla_resolution_minutes = Set(minutes);
            }
            if let Some(on) = change.summary_on_close {
                t.summary_on_close = Set(on);
            }
            if let Some(name) = change.sender_name {
                t.sender_name = Set(name);
            }
            if let Some(address) = change.reply_to {
                t.reply_to = Set(address);
            }
            if let Some(on) = change.acknowledge_by_mail {
                t.acknowledge_by_mail = Set(on);
            }
            if let Some(days) = change.retention_closed_chats_days {
                t.retention_closed_chats_days = Set(days);
            }
            if let Some(days) = change.retention_closed_tickets_days {
                t.retention_closed_tickets_days = Set(days);
            }
            if let Some(days) = change.retention_mail_days {
                t.retention_mail_days = Set(days);
            }
        })
        .await
    }

    /// Changes the workspace's row as `change` says, in one transaction.
    pub(super) async fn update_tenant(
        &self,
        tenant_id: &str,
        change: impl FnOnce(&mut tenant::ActiveModel),
    ) -> StoreResult<Tenant> {
        self.update_tenant_audited(tenant_id, None, change).await
    }

    /// [`Self::update_tenant`], with the audit entry written in the same
    /// transaction.
    pub(super) async fn update_tenant_audited(
        &self,
        tenant_id: &str,
        audit: Option<(&super::Actor, super::Audit)>,
        change: impl FnOnce(&mut tenant::ActiveModel),
    ) -> StoreResult<Tenant> {
        let txn = self.write_txn().await?;
        let found = tenant::Entity::find_by_id(tenant_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut active: tenant::ActiveModel = found.into();
        change(&mut active);
        let updated = active.update(&txn).await?;
        if let Some((actor, entry)) = audit {
            super::audit::write(&txn, tenant_id, actor, entry).await?;
        }
        txn.commit().await?;
        Ok(updated)
    }
}

/// The slugs a workspace called `name` may take, in order: from the name,
/// then with a numeric suffix.
pub(super) fn slug_candidates(name: &str) -> impl Iterator<Item = String> {
    let base = slugify(name);
    (1..=50).map(move |attempt| {
        if attempt == 1 {
            base.clone()
        } else {
            format!("{base}-{attempt}")
        }
    })
}

/// A new, active workspace's row with the server's defaults.
pub(super) fn new_tenant(name: &str, slug: &str) -> tenant::ActiveModel {
    tenant::ActiveModel {
        id: Set(new_id()),
        name: Set(name.to_owned()),
        slug: Set(slug.to_owned()),
        widget_key: Set(new_public_key("wk")),
        summary_on_close: Set(false),
        next_ticket_number: Set(crate::domain::ticket_number::FIRST_TICKET_NUMBER),
        created_at: Set(Utc::now()),
        time_zone: Set("UTC".to_owned()),
        pipeline_version: Set(0),
        sla_first_response_minutes: Set(None),
        sla_resolution_minutes: Set(None),
        sender_name: Set(None),
        reply_to: Set(None),
        status: Set(WorkspaceStatus::Active.as_str().to_owned()),
        quotas: Set("{}".to_owned()),
        stored_bytes: Set(0),
        inbound_key: Set(Some(new_inbound_key())),
        mail_secret: Set(Some(super::hex(&rand::random::<[u8; 32]>()))),
        acknowledge_by_mail: Set(true),
        retention_closed_chats_days: Set(None),
        retention_closed_tickets_days: Set(None),
        retention_mail_days: Set(None),
        retention_run_at: Set(None),
        retention_counts: Set(None),
        event_listeners: Set(0),
        rollout_id: Set(None),
    }
}

/// The secret of a workspace's inbound URL: 128 random bits.
pub(super) fn new_inbound_key() -> String {
    format!("tli_{}", super::hex(&rand::random::<[u8; 16]>()))
}

/// An agent made on the server's shell, with an API token to start with.
async fn insert_agent_with_token(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: &str,
    name: &str,
    email: &EmailAddress,
    is_admin: bool,
) -> StoreResult<CreatedAgent> {
    let agent = insert_agent(txn, tenant_id, name, email, is_admin).await?;
    let issued = insert_credential(txn, &agent, CredentialKind::Api, "created with the agent", None).await?;
    Ok(CreatedAgent {
        agent,
        token: issued.token,
    })
}

/// Inserts an agent; an address the workspace has already is a conflict.
pub(super) async fn insert_agent(
    txn: &sea_orm::DatabaseTransaction,
    tenant_id: &str,
    name: &str,
    email: &EmailAddress,
    is_admin: bool,
) -> StoreResult<Agent> {
    let id = new_id();
    let inserted = agent::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant_id.to_owned()),
        name: Set(name.to_owned()),
        email: Set(email.as_str().to_owned()),
        email_normalized: Set(email.normalized().to_owned()),
        is_admin: Set(is_admin),
        // See the entity: tokens live in `agent_credentials`.
        token_hash: Set(format!("retired:{id}")),
        created_at: Set(Utc::now()),
        skills: Set("[]".to_owned()),
        last_seen_at: Set(None),
        open_tickets: Set(0),
        last_assigned_at: Set(None),
        active: Set(true),
        availability: Set(Availability::Online.as_str().to_owned()),
    }
    .insert(txn)
    .await;
    match inserted {
        Ok(agent) => Ok(agent),
        Err(e) if e.sql_err().is_some() => Err(StoreError::Conflict(format!(
            "an agent with email {} already exists in this workspace",
            email.as_str()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `"Acme Support, Inc."` → `"acme-support-inc"`; never empty.
pub(crate) fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(40).collect();
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "workspace".to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slugify("Acme Support, Inc."), "acme-support-inc");
        assert_eq!(slugify("  --Ünïcode!! "), "n-code");
        assert_eq!(slugify("!!!"), "workspace");
    }
}

/// Workspace settings to change: `None` leaves one as it is. An SLA target
/// of `Some(None)` turns it off.
#[derive(Debug, Default)]
pub struct SettingsChange {
    /// An IANA zone name, checked by the caller.
    pub time_zone: Option<String>,
    pub sla_first_response_minutes: Option<Option<i32>>,
    pub sla_resolution_minutes: Option<Option<i32>>,
    pub summary_on_close: Option<bool>,
    /// `Some(None)` goes back to the workspace's name.
    pub sender_name: Option<Option<String>>,
    pub reply_to: Option<Option<String>>,
    pub acknowledge_by_mail: Option<bool>,
    /// Days kept; `Some(None)` keeps for ever.
    pub retention_closed_chats_days: Option<Option<i32>>,
    pub retention_closed_tickets_days: Option<Option<i32>>,
    pub retention_mail_days: Option<Option<i32>>,
}

impl SettingsChange {
    /// The names of the settings it changes, for the audit log.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut given = |on: bool, name| {
            if on {
                out.push(name);
            }
        };
        given(self.time_zone.is_some(), "time_zone");
        given(self.sla_first_response_minutes.is_some(), "sla_first_response_minutes");
        given(self.sla_resolution_minutes.is_some(), "sla_resolution_minutes");
        given(self.summary_on_close.is_some(), "summary_on_close");
        given(self.sender_name.is_some(), "sender_name");
        given(self.reply_to.is_some(), "reply_to");
        given(self.acknowledge_by_mail.is_some(), "acknowledge_by_mail");
        given(
            self.retention_closed_chats_days.is_some(),
            "retention.closed_chats_days",
        );
        given(
            self.retention_closed_tickets_days.is_some(),
            "retention.closed_tickets_days",
        );
        given(self.retention_mail_days.is_some(), "retention.mail_days");
        out
    }
}
