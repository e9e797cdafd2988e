//! Rules on events, the durable event queue, webhooks and their
//! deliveries, and the marks of what the scheduler did once.

/// A workspace's rule: a plugin run on one event kind (or on the
/// schedule, for the built-in timed rules) with its settings.
pub mod automation_rule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "automations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        /// An event kind (`ticket_created` ...) or `schedule`.
        pub event: String,
        /// `javascript`, a built-in rule's name, or an uploaded plugin's.
        pub plugin: String,
        /// JSON object of the rule's settings.
        pub config: String,
        pub enabled: bool,
        /// JSON `{fuel, memory_mb, time_ms}` or none (the plugin's defaults).
        pub limits: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Why it last failed (a fault, or an action refused), and when.
        pub last_fault: Option<String>,
        pub last_fault_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

/// Something that happened, waiting for its rules and webhooks: written in
/// the change's own transaction, deleted once handled.
pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        /// UUIDv7: time-ordered.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub kind: String,
        pub ticket_id: Option<String>,
        pub chat_id: Option<String>,
        pub comment_id: Option<String>,
        /// JSON object `{field: {from, to}}` for `ticket_updated`.
        pub changes: Option<String>,
        /// Who caused it: `agent:<id>`, `rule:<id>`, `visitor`, `email`, `widget`,
        /// `schedule`.
        pub actor: Option<String>,
        /// The rule whose action caused it (it does not fire that rule).
        pub rule_id: Option<String>,
        /// How many rule actions led here (0: a person or the schedule).
        pub depth: i32,
        pub attempts: i32,
        /// When it may be claimed: now, or once a claim's lease ran out.
        pub next_attempt_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

/// Where a workspace's events are posted.
pub mod webhook {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "webhooks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub url: String,
        /// JSON array of event kinds.
        pub events: String,
        pub active: bool,
        /// The HMAC key deliveries are signed with; shown once, at creation.
        pub secret: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

/// One event posted to one webhook: its body (fixed when queued, so a
/// redelivery sends the same bytes) and how its attempts went.
pub mod webhook_delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub webhook_id: String,
        pub event_id: String,
        pub event: String,
        pub ticket_id: Option<String>,
        pub chat_id: Option<String>,
        pub body: String,
        /// `queued`, `delivered` or `failed`.
        pub state: String,
        pub attempts: i32,
        pub next_attempt_at: DateTimeUtc,
        pub last_status: Option<i32>,
        pub latency_ms: Option<i32>,
        pub response_excerpt: Option<String>,
        pub last_error: Option<String>,
        pub created_at: DateTimeUtc,
        pub delivered_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

/// Something the scheduler did once: its key says what (a rule on a
/// ticket for a due time, a breach's event).
pub mod schedule_mark {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "schedule_marks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub tenant_id: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}
