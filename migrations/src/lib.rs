//! Schema migrations for Threadline. They run automatically when the server
//! starts, on SQLite and on PostgreSQL alike, so every migration here sticks to
//! what both backends support.
//!
//! A released migration is never edited: schema changes get a new file.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_plugins;
mod m20261126_000003_plugin_sha256;
mod m20261126_000004_conversion_cost;
mod m20261126_000005_chats_by_visitor;
mod m20261126_000006_credentials;
mod m20261126_000007_ticket_fields;
mod m20261126_000008_pipeline_history;
mod m20261126_000009_ticket_receipt;
mod m20261126_000010_last_assigned;
mod m20261126_000011_ticket_events;
mod m20261126_000012_ticket_filters;
mod m20261126_000013_ticket_comments;
mod m20261126_000014_sla;
mod m20261126_000015_chat_activity;
mod m20261126_000016_search_terms;
mod m20261206_000017_team;
mod m20261206_000018_inbox_views;
mod m20261206_000019_canned_replies;
mod m20261206_000020_spam;
mod m20261206_000021_channels_and_reports;
mod m20261206_000022_hosting;
mod m20261206_000023_inbound_mail;
mod m20261206_000024_personal_data;
mod m20261206_000025_automations;
mod m20261207_000026_rollouts;
pub mod search;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_plugins::Migration),
            Box::new(m20261126_000003_plugin_sha256::Migration),
            Box::new(m20261126_000004_conversion_cost::Migration),
            Box::new(m20261126_000005_chats_by_visitor::Migration),
            Box::new(m20261126_000006_credentials::Migration),
            Box::new(m20261126_000007_ticket_fields::Migration),
            Box::new(m20261126_000008_pipeline_history::Migration),
            Box::new(m20261126_000009_ticket_receipt::Migration),
            Box::new(m20261126_000010_last_assigned::Migration),
            Box::new(m20261126_000011_ticket_events::Migration),
            Box::new(m20261126_000012_ticket_filters::Migration),
            Box::new(m20261126_000013_ticket_comments::Migration),
            Box::new(m20261126_000014_sla::Migration),
            Box::new(m20261126_000015_chat_activity::Migration),
            Box::new(m20261126_000016_search_terms::Migration),
            Box::new(m20261206_000017_team::Migration),
            Box::new(m20261206_000018_inbox_views::Migration),
            Box::new(m20261206_000019_canned_replies::Migration),
            Box::new(m20261206_000020_spam::Migration),
            Box::new(m20261206_000021_channels_and_reports::Migration),
            Box::new(m20261206_000022_hosting::Migration),
            Box::new(m20261206_000023_inbound_mail::Migration),
            Box::new(m20261206_000024_personal_data::Migration),
            Box::new(m20261206_000025_automations::Migration),
            Box::new(m20261207_000026_rollouts::Migration),
        ]
    }
}
