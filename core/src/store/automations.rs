//! A workspace's rules (`automations`) and webhooks, and the bits of
//! `tenants.event_listeners` they set: every change to either recomputes
//! the workspace's bits in the same transaction, from at most
//! [`MAX_AUTOMATIONS`] and [`MAX_WEBHOOKS`] rows.

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::entities::{automation_rule, tenant, webhook, webhook_delivery};
use super::{Store, StoreError, StoreResult, new_id};
use crate::domain::automation::{EventKind, SCHEDULE};

pub type Automation = automation_rule::Model;
pub type Webhook = webhook::Model;

/// Rules a workspace may have.
pub const MAX_AUTOMATIONS: u64 = 50;
/// Webhooks a workspace may have.
pub const MAX_WEBHOOKS: u64 = 10;

/// A rule to create, checked already.
#[derive(Debug, Clone)]
pub struct NewAutomation {
    pub name: String,
    pub event: String,
    pub plugin: String,
    pub config: String,
    pub enabled: bool,
    pub limits: Option<String>,
}

/// A change to a rule; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AutomationChange {
    pub name: Option<String>,
    pub config: Option<String>,
    pub enabled: Option<bool>,
    pub limits: Option<Option<String>>,
}

/// A change to a webhook; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<EventKind>>,
    pub active: Option<bool>,
}

fn events_json(events: &[EventKind]) -> String {
    serde_json::to_string(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>()).expect("strings serialise")
}

/// A webhook's event kinds, as stored.
pub fn webhook_events(w: &Webhook) -> Vec<EventKind> {
    serde_json::from_str::<Vec<String>>(&w.events)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect()
}

/// Recomputes workspace `tenant_id`'s listener bits from its enabled rules
/// and active webhooks.
async fn recompute_listeners(db: &impl ConnectionTrait, tenant_id: &str) -> StoreResult<()> {
    let rules: Vec<String> = automation_rule::Entity::find()
        .select_only_event()
        .filter(automation_rule::Column::TenantId.eq(tenant_id))
        .filter(automation_rule::Column::Enabled.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::TenantId.eq(tenant_id))
        .filter(webhook::Column::Active.eq(true))
        .all(db)
        .await?;
    let mut mask = EventKind::mask(rules.iter().filter_map(|e| e.parse().ok()));
    for h in &hooks {
        mask |= EventKind::mask(webhook_events(h));
    }
    tenant::Entity::update_many()
        .col_expr(tenant::Column::EventListeners, Expr::value(mask))
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

trait SelectEvent {
    fn select_only_event(self) -> sea_orm::Select<automation_rule::Entity>;
}

impl SelectEvent for sea_orm::Select<automation_rule::Entity> {
    fn select_only_event(self) -> sea_orm::Select<automation_rule::Entity> {
        use sea_orm::QuerySelect;
        self.select_only().column(automation_rule::Column::Event)
    }
}

impl Store {
    pub async fn automations(&self, tenant_id: &str) -> StoreResult<Vec<Automation>> {
        Ok(automation_rule::Entity::find()
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .order_by_asc(automation_rule::Column::CreatedAt)
            .order_by_asc(automation_rule::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn automation(&self, tenant_id: &str, id: &str) -> StoreResult<Automation> {
        automation_rule::Entity::find_by_id(id)
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The workspace's enabled rules on `event` (an event kind or
    /// [`SCHEDULE`]).
    pub async fn rules_on(&self, tenant_id: &str, event: &str) -> StoreResult<Vec<Automation>> {
        Ok(automation_rule::Entity::find()
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .filter(automation_rule::Column::Event.eq(event))
            .filter(automation_rule::Column::Enabled.eq(true))
            .order_by_asc(automation_rule::Column::CreatedAt)
            .order_by_asc(automation_rule::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// Every workspace's enabled timed rules, for the scheduler.
    pub async fn scheduled_rules(&self) -> StoreResult<Vec<Automation>> {
        Ok(automation_rule::Entity::find()
            .filter(automation_rule::Column::Event.eq(SCHEDULE))
            .filter(automation_rule::Column::Enabled.eq(true))
            .order_by_asc(automation_rule::Column::TenantId)
            .order_by_asc(automation_rule::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn create_automation(&self, tenant_id: &str, new: NewAutomation) -> StoreResult<Automation> {
        let txn = self.write_txn().await?;
        let count = automation_rule::Entity::find()
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .count(&txn)
            .await?;
        if count >= MAX_AUTOMATIONS {
            return Err(StoreError::Conflict(format!(
                "a workspace has at most {MAX_AUTOMATIONS} automations; delete one first"
            )));
        }
        let now = Utc::now().trunc_subsecs(6);
        let row = automation_rule::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            name: Set(new.name),
            event: Set(new.event),
            plugin: Set(new.plugin),
            config: Set(new.config),
            enabled: Set(new.enabled),
            limits: Set(new.limits),
            created_at: Set(now),
            updated_at: Set(now),
            last_fault: Set(None),
            last_fault_at: Set(None),
        }
        .insert(&txn)
        .await?;
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Notes why rule `id` last failed (its run, or an action refused), for
    /// its admins to read: kept to 500 characters.
    pub async fn rule_failed(&self, tenant_id: &str, id: &str, reason: &str) -> StoreResult<()> {
        let reason: String = reason.chars().take(500).collect();
        automation_rule::Entity::update_many()
            .col_expr(automation_rule::Column::LastFault, Expr::value(reason))
            .col_expr(
                automation_rule::Column::LastFaultAt,
                Expr::value(Utc::now().trunc_subsecs(6)),
            )
            .filter(automation_rule::Column::Id.eq(id))
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn change_automation(
        &self,
        tenant_id: &str,
        id: &str,
        change: AutomationChange,
    ) -> StoreResult<Automation> {
        let txn = self.write_txn().await?;
        let found = automation_rule::Entity::find_by_id(id)
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut row: automation_rule::ActiveModel = found.into();
        if let Some(name) = change.name {
            row.name = Set(name);
        }
        if let Some(config) = change.config {
            row.config = Set(config);
        }
        if let Some(enabled) = change.enabled {
            row.enabled = Set(enabled);
        }
        if let Some(limits) = change.limits {
            row.limits = Set(limits);
        }
        row.updated_at = Set(Utc::now().trunc_subsecs(6));
        let row = row.update(&txn).await?;
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(row)
    }

    pub async fn delete_automation(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let gone = automation_rule::Entity::delete_many()
            .filter(automation_rule::Column::Id.eq(id))
            .filter(automation_rule::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn webhooks(&self, tenant_id: &str) -> StoreResult<Vec<Webhook>> {
        Ok(webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .order_by_asc(webhook::Column::CreatedAt)
            .order_by_asc(webhook::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn webhook(&self, tenant_id: &str, id: &str) -> StoreResult<Webhook> {
        webhook::Entity::find_by_id(id)
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The workspace's active webhooks that hear `kind`.
    pub async fn webhooks_on(&self, tenant_id: &str, kind: EventKind) -> StoreResult<Vec<Webhook>> {
        let all = webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .filter(webhook::Column::Active.eq(true))
            .all(&self.db)
            .await?;
        Ok(all.into_iter().filter(|w| webhook_events(w).contains(&kind)).collect())
    }

    /// A new webhook with a new secret (returned with it, this once).
    pub async fn create_webhook(
        &self,
        tenant_id: &str,
        url: &str,
        events: &[EventKind],
        active: bool,
    ) -> StoreResult<Webhook> {
        let txn = self.write_txn().await?;
        let count = webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .count(&txn)
            .await?;
        if count >= MAX_WEBHOOKS {
            return Err(StoreError::Conflict(format!(
                "a workspace has at most {MAX_WEBHOOKS} webhooks; delete one first"
            )));
        }
        let now = Utc::now().trunc_subsecs(6);
        let row = webhook::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            url: Set(url.to_owned()),
            events: Set(events_json(events)),
            active: Set(active),
            // 256 random bits.
            secret: Set(format!("whsec_{}", super::hex(&rand::random::<[u8; 32]>()))),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(row)
    }

    pub async fn change_webhook(&self, tenant_id: &str, id: &str, change: WebhookChange) -> StoreResult<Webhook> {
        let txn = self.write_txn().await?;
        let found = webhook::Entity::find_by_id(id)
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut row: webhook::ActiveModel = found.into();
        if let Some(url) = change.url {
            row.url = Set(url);
        }
        if let Some(events) = change.events {
            row.events = Set(events_json(&events));
        }
        if let Some(active) = change.active {
            row.active = Set(active);
        }
        row.updated_at = Set(Utc::now().trunc_subsecs(6));
        let row = row.update(&txn).await?;
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Deletes a webhook and its delivery log (pending deliveries with it).
    pub async fn delete_webhook(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let gone = webhook::Entity::delete_many()
            .filter(webhook::Column::Id.eq(id))
            .filter(webhook::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        if gone.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::WebhookId.eq(id))
            .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        recompute_listeners(&txn, tenant_id).await?;
        txn.commit().await?;
        Ok(())
    }
}
