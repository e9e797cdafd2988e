//! Which tables a workspace export holds, in what order, and how a table's
//! name finds its entity module.

/// The tables an export holds, in the order it writes (and an import
/// inserts) them: each after the tables its rows refer to.
pub const EXPORT_TABLES: &[&str] = &[
    "tenants",
    "agents",
    "visitors",
    "requesters",
    "chats",
    "messages",
    "tickets",
    "ratings",
    "ticket_events",
    "ticket_comments",
    "mail_outbox",
    "inbound_mails",
    "plugins",
    "pipeline_versions",
    "pipeline_hooks",
    "plugin_faults",
    "canned_replies",
    "visitor_blocks",
    "chat_terms",
    "ticket_terms",
    "usage_days",
    "audit_log",
    "automations",
];

/// Workspace tables an export leaves out, and why (see the module docs).
pub const NOT_EXPORTED: &[&str] = &[
    "agent_credentials",
    "agent_invitations",
    "password_resets",
    "mailboxes",
    "webhooks",
    "webhook_deliveries",
    "events",
    "schedule_marks",
    // Diagnostics, and a rollout in flight: neither moves with a workspace.
    "plugin_logs",
    "pipeline_rollouts",
];

/// Runs `$body` with `$m` bound to the entity module of table `$table`.
macro_rules! for_table {
    ($table:expr, $m:ident => $body:expr, else $otherwise:expr) => {
        match $table {
            "tenants" => {
                use tenant as $m;
                $body
            }
            "agents" => {
                use agent as $m;
                $body
            }
            "visitors" => {
                use visitor as $m;
                $body
            }
            "requesters" => {
                use requester as $m;
                $body
            }
            "chats" => {
                use chat as $m;
                $body
            }
            "messages" => {
                use message as $m;
                $body
            }
            "tickets" => {
                use ticket as $m;
                $body
            }
            "ratings" => {
                use rating as $m;
                $body
            }
            "ticket_events" => {
                use ticket_event as $m;
                $body
            }
            "ticket_comments" => {
                use ticket_comment as $m;
                $body
            }
            "mail_outbox" => {
                use mail_outbox as $m;
                $body
            }
            "inbound_mails" => {
                use inbound_mail as $m;
                $body
            }
            "plugins" => {
                use plugin as $m;
                $body
            }
            "pipeline_versions" => {
                use pipeline_version as $m;
                $body
            }
            "pipeline_hooks" => {
                use pipeline_hook as $m;
                $body
            }
            "plugin_faults" => {
                use plugin_fault as $m;
                $body
            }
            "canned_replies" => {
                use canned_reply as $m;
                $body
            }
            "visitor_blocks" => {
                use visitor_block as $m;
                $body
            }
            "chat_terms" => {
                use chat_term as $m;
                $body
            }
            "ticket_terms" => {
                use ticket_term as $m;
                $body
            }
            "usage_days" => {
                use usage_day as $m;
                $body
            }
            "audit_log" => {
                use audit_entry as $m;
                $body
            }
            "automations" => {
                use automation_rule as $m;
                $body
            }
            _ => $otherwise,
        }
    };
}

pub(super) use for_table;
