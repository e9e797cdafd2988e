//! sea-orm entities, one module a table. Only `store` uses them; the rest of
//! the server sees the plain records that `store`'s queries return.
//!
//! Relations are not declared: every query here is written by hand with its
//! `tenant_id` filter in plain sight, which is the point.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

// Mail, both ways: the outbox, received mail and IMAP mailboxes.
mod mail;
pub use mail::{inbound_mail, mail_outbox, mailbox};

// The audit log and the leases of jobs one node runs at a time.
mod audit;
pub use audit::{audit_entry, job_lease};

// Rules on events, the event queue, webhooks and their deliveries.
mod automation;
pub use automation::{automation_rule, event, schedule_mark, webhook, webhook_delivery};

// Plugins, the pipeline (its settings, history and rollout), and what
// plugins did (faults, log lines).
mod plugins;
pub use plugins::{pipeline_hook, pipeline_rollout, pipeline_version, plugin, plugin_fault, plugin_log};

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub slug: String,
        pub widget_key: String,
        pub summary_on_close: bool,
        pub next_ticket_number: i64,
        pub created_at: DateTimeUtc,
        /// IANA name; plugins get it with each call.
        pub time_zone: String,
        /// Bumped by every change of the pipeline settings.
        pub pipeline_version: i64,
        /// Service level targets for new tickets, in minutes (none: no target).
        pub sla_first_response_minutes: Option<i32>,
        pub sla_resolution_minutes: Option<i32>,
        /// The display name the workspace's mail goes out under (its name
        /// when unset).
        pub sender_name: Option<String>,
        /// Where requesters' answers to its mail go (none: to the sender).
        pub reply_to: Option<String>,
        /// `active` or `suspended` (by the operator; see `domain::hosting`).
        pub status: String,
        /// The operator's quota overrides (JSON; see `domain::hosting::QuotaOverrides`).
        pub quotas: String,
        /// What the workspace has stored, as the meter counts it: added to
        /// in batches by every node (see `crate::meter`).
        pub stored_bytes: i64,
        /// The secret of the URL its mail is posted to
        /// (`/api/v1/inbound/{key}`); admins rotate it.
        pub inbound_key: Option<String>,
        /// Signs the reply addresses of its tickets (never shown).
        pub mail_secret: Option<String>,
        /// Mail a requester their ticket's number when one is made for them.
        pub acknowledge_by_mail: bool,
        /// Days closed chats, closed tickets and mail are kept (none: for
        /// ever); see `store::retention`.
        pub retention_closed_chats_days: Option<i32>,
        pub retention_closed_tickets_days: Option<i32>,
        pub retention_mail_days: Option<i32>,
        /// The last retention run that had something to do, and what it
        /// deleted (JSON).
        pub retention_run_at: Option<DateTimeUtc>,
        pub retention_counts: Option<String>,
        /// A bit per event kind some enabled rule or active webhook
        /// listens to (`domain::automation::EventKind::bit`); a change
        /// nobody listens to queues no event.
        pub event_listeners: i32,
        /// The staged rollout under way (`pipeline_rollouts.id`), if any:
        /// a conversion reads the rollout only when there is one. Exports
        /// written before it had this read as none.
        #[serde(default)]
        pub rollout_id: Option<String>,
    }
    no_relations!();
}

/// The hosting operator's API tokens (not any workspace's).
pub mod operator_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "operator_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

/// What a workspace used on a UTC day, summed over every node.
pub mod usage_day {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "usage_days")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// `YYYY-MM-DD`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        pub conversions: i64,
        pub chats: i64,
        pub messages: i64,
        pub mails_sent: i64,
        pub plugin_calls: i64,
        pub plugin_fuel: i64,
        pub stored_bytes: i64,
    }
    no_relations!();
}

pub mod agent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "agents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub email: String,
        pub email_normalized: String,
        pub is_admin: bool,
        /// Unused since credentials moved to `agent_credentials`: holds
        /// `retired:<id>`, which no token hashes to (see migration 6).
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        /// JSON array of strings.
        pub skills: String,
        /// Updated (at most once a minute) when the agent uses the API.
        pub last_seen_at: Option<DateTimeUtc>,
        /// Tickets assigned to the agent and not yet solved or closed, kept
        /// by triggers on `tickets`.
        pub open_tickets: i64,
        /// When the agent was last given a ticket (triggers on `tickets`).
        pub last_assigned_at: Option<DateTimeUtc>,
        /// False once deactivated: no sign-in, no credential, no ticket.
        pub active: bool,
        /// What the agent said: `online`, `away` or `offline` (see
        /// `domain::Availability` for what an idle `online` becomes).
        pub availability: String,
    }
    no_relations!();
}

/// A credential that resolves to an agent: a session from a sign-in, or a
/// named API token. Only the token's hash is stored.
pub mod agent_credential {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "agent_credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub agent_id: String,
        /// `session` or `api`.
        pub kind: String,
        pub name: String,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        /// Sessions only: slides forward as the session is used.
        pub expires_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod visitor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "visitors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub email: Option<String>,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        /// `email` lowercased: a person's visitors found by their address.
        pub email_normalized: Option<String>,
    }
    no_relations!();
}

pub mod chat {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "chats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub visitor_id: String,
        pub subject: Option<String>,
        pub status: String,
        pub assignee_id: Option<String>,
        pub first_response_at: Option<DateTimeUtc>,
        pub summary: Option<String>,
        pub ticket_id: Option<String>,
        /// Bumped by every change to the chat or its messages, so a conversion
        /// can tell whether the chat moved on since its snapshot.
        pub version: i64,
        pub created_at: DateTimeUtc,
        /// Last activity: a message, a close or a reopen.
        pub updated_at: DateTimeUtc,
        pub closed_at: Option<DateTimeUtc>,
        /// The newest public message's first words, and its kind (`visitor`
        /// or `agent`): the inbox's preview and "waiting for a reply".
        pub last_message_preview: Option<String>,
        pub last_message_kind: Option<String>,
        /// Marked as spam: closed, and out of the lists.
        pub spam: bool,
        /// When the visitor's socket was last open, or they last wrote:
        /// an agent's answer after [`crate::domain::chat::VISITOR_GONE_AFTER`]
        /// without them is mailed to them.
        pub visitor_seen_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

pub mod message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: String,
        pub chat_id: String,
        pub kind: String,
        pub author_name: String,
        pub agent_id: Option<String>,
        pub body: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod requester {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "requesters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub email: String,
        pub email_normalized: String,
        pub name: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub number: i64,
        pub subject: String,
        pub description: String,
        pub status: String,
        pub assignee_id: Option<String>,
        pub requester_id: String,
        pub first_response_at: Option<DateTimeUtc>,
        pub origin_chat_id: Option<String>,
        pub summary: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// low, normal, high or urgent.
        pub priority: String,
        /// JSON array of lowercase tags.
        pub tags: String,
        /// JSON object of custom fields.
        pub custom_fields: String,
        /// JSON array: what ran for each hook of the conversion.
        pub receipt: String,
        /// When the workspace's targets fall due for this ticket (from its
        /// chat's start), fixed when the ticket is made.
        pub first_response_due_at: Option<DateTimeUtc>,
        pub resolution_due_at: Option<DateTimeUtc>,
        /// Set when the ticket is solved; cleared if it is worked again.
        pub solved_at: Option<DateTimeUtc>,
        /// The next target still to meet (none once solved): the list's
        /// "sort by due".
        pub due_at: Option<DateTimeUtc>,
        /// Where it began: `chat` (converted) or `agent` (made by hand).
        pub channel: String,
    }
    no_relations!();
}

pub mod rating {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "ratings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub chat_id: String,
        pub score: i16,
        pub comment: Option<String>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod ticket_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "ticket_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub ticket_id: String,
        pub agent_id: String,
        pub agent_name: String,
        /// `status`, `assignee` or `priority`.
        pub field: String,
        pub old_value: Option<String>,
        pub new_value: Option<String>,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

pub mod ticket_comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "ticket_comments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub ticket_id: String,
        /// The agent who wrote it.
        pub author_id: String,
        pub author_name: String,
        pub body: String,
        /// Internal comments are for agents; public ones are mailed to the
        /// requester through `mail_outbox`.
        pub internal: bool,
        pub created_at: DateTimeUtc,
        /// `agent` (typed in the console; the author is an agent) or
        /// `email` (the requester's mail; the author is the requester).
        pub source: String,
    }
    no_relations!();
}

/// An invitation to join a workspace, pending until accepted; revoking
/// one deletes it.
pub mod agent_invitation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "agent_invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub email: String,
        pub email_normalized: String,
        pub name: Option<String>,
        /// `admin` or `agent`.
        pub role: String,
        pub token_hash: String,
        pub invited_by: String,
        pub created_at: DateTimeUtc,
        /// The last time it was mailed (a resend moves it).
        pub sent_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub accepted_at: Option<DateTimeUtc>,
    }
    no_relations!();
}

/// A password reset mailed to an agent: single use (deleted when used),
/// valid until `expires_at`.
pub mod password_reset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "password_resets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub agent_id: String,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
    }
    no_relations!();
}

/// A workspace's stock answer, inserted from the composer.
pub mod canned_reply {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "canned_replies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub title: String,
        /// Lowercase: titles are unique in any case.
        pub title_normalized: String,
        /// May hold `{visitor_name}`, `{agent_name}` and `{ticket_number}`,
        /// filled in where it is inserted.
        pub body: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }
    no_relations!();
}

/// A visitor who may not chat with the workspace (by visitor, and by
/// address when one was known and the agent chose so).
pub mod visitor_block {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "visitor_blocks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub visitor_id: String,
        pub email_normalized: Option<String>,
        /// As the visitor gave it, for the admins' list.
        pub visitor_name: String,
        /// The chat they were blocked from.
        pub chat_id: String,
        pub blocked_by: String,
        pub created_at: DateTimeUtc,
    }
    no_relations!();
}

/// The words a chat is found by (see `threadline_migrations::search`).
pub mod chat_term {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "chat_terms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub term: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub chat_id: String,
    }
    no_relations!();
}

/// The words a ticket is found by.
pub mod ticket_term {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "ticket_terms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub term: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub ticket_id: String,
    }
    no_relations!();
}
