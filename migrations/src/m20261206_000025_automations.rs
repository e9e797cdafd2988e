//! Rules on events and webhooks:
//! - `automations`: a workspace's rules, each on one event (or on the
//!   schedule, for the built-in timed rules), run by a plugin with its
//!   settings, and the last time it failed and why;
//! - `events`: the durable queue of what happened, written in the same
//!   transaction as the change, claimed under a lease and deleted once
//!   its rules ran and its webhook deliveries were queued;
//! - `webhooks` and `webhook_deliveries`: where a workspace's events are
//!   posted, and each post's attempts (the delivery log);
//! - `schedule_marks`: what the scheduler did once already (a rule's
//!   action on a ticket for its due time, an SLA breach's event);
//! - `tenants.event_listeners`: a bit per event kind that some enabled
//!   rule or active webhook listens to, so a change nobody listens to
//!   writes no event row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    EventListeners,
}

#[derive(DeriveIden)]
enum Automations {
    Table,
    Id,
    TenantId,
    Name,
    Event,
    Plugin,
    Config,
    Enabled,
    Limits,
    CreatedAt,
    UpdatedAt,
    LastFault,
    LastFaultAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    TenantId,
    Kind,
    TicketId,
    ChatId,
    CommentId,
    Changes,
    Actor,
    RuleId,
    Depth,
    Attempts,
    NextAttemptAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    TenantId,
    Url,
    Events,
    Active,
    Secret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    WebhookId,
    EventId,
    Event,
    TicketId,
    ChatId,
    Body,
    State,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LatencyMs,
    ResponseExcerpt,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum ScheduleMarks {
    Table,
    Key,
    TenantId,
    CreatedAt,
}

fn tenant_fk(from: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(from)
        .from_col(Alias::new("tenant_id"))
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(ColumnDef::new(Tenants::EventListeners).integer().not_null().default(0))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Automations::Table)
                .col(ColumnDef::new(Automations::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Automations::TenantId).string().not_null())
                .col(ColumnDef::new(Automations::Name).string().not_null())
                .col(ColumnDef::new(Automations::Event).string().not_null())
                .col(ColumnDef::new(Automations::Plugin).string().not_null())
                .col(ColumnDef::new(Automations::Config).text().not_null())
                .col(ColumnDef::new(Automations::Enabled).boolean().not_null())
                .col(ColumnDef::new(Automations::Limits).text().null())
                .col(
                    ColumnDef::new(Automations::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Automations::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(Automations::LastFault).text().null())
                .col(
                    ColumnDef::new(Automations::LastFaultAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(&mut tenant_fk(Automations::Table, "fk_automations_tenant"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_automations_tenant_event")
                .table(Automations::Table)
                .col(Automations::TenantId)
                .col(Automations::Event)
                .to_owned(),
        )
        .await?;
        // The scheduler's rules, across workspaces.
        m.create_index(
            Index::create()
                .name("ix_automations_event_enabled")
                .table(Automations::Table)
                .col(Automations::Event)
                .col(Automations::Enabled)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(ColumnDef::new(Events::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Events::TenantId).string().not_null())
                .col(ColumnDef::new(Events::Kind).string().not_null())
                .col(ColumnDef::new(Events::TicketId).string().null())
                .col(ColumnDef::new(Events::ChatId).string().null())
                .col(ColumnDef::new(Events::CommentId).string().null())
                .col(ColumnDef::new(Events::Changes).text().null())
                .col(ColumnDef::new(Events::Actor).string().null())
                .col(ColumnDef::new(Events::RuleId).string().null())
                .col(ColumnDef::new(Events::Depth).integer().not_null())
                .col(ColumnDef::new(Events::Attempts).integer().not_null())
                .col(
                    ColumnDef::new(Events::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(Events::CreatedAt).timestamp_with_time_zone().not_null())
                .foreign_key(&mut tenant_fk(Events::Table, "fk_events_tenant"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_events_due")
                .table(Events::Table)
                .col(Events::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        // An erasure finds a person's pending events by their tickets and chats.
        m.create_index(
            Index::create()
                .name("ix_events_ticket")
                .table(Events::Table)
                .col(Events::TicketId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_events_chat")
                .table(Events::Table)
                .col(Events::ChatId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .col(ColumnDef::new(Webhooks::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Webhooks::TenantId).string().not_null())
                .col(ColumnDef::new(Webhooks::Url).text().not_null())
                .col(ColumnDef::new(Webhooks::Events).text().not_null())
                .col(ColumnDef::new(Webhooks::Active).boolean().not_null())
                .col(ColumnDef::new(Webhooks::Secret).string().not_null())
                .col(
                    ColumnDef::new(Webhooks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Webhooks::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(&mut tenant_fk(Webhooks::Table, "fk_webhooks_tenant"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhooks_tenant")
                .table(Webhooks::Table)
                .col(Webhooks::TenantId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(ColumnDef::new(WebhookDeliveries::Id).string().not_null().primary_key())
                .col(ColumnDef::new(WebhookDeliveries::TenantId).string().not_null())
                .col(ColumnDef::new(WebhookDeliveries::WebhookId).string().not_null())
                .col(ColumnDef::new(WebhookDeliveries::EventId).string().not_null())
                .col(ColumnDef::new(WebhookDeliveries::Event).string().not_null())
                .col(ColumnDef::new(WebhookDeliveries::TicketId).string().null())
                .col(ColumnDef::new(WebhookDeliveries::ChatId).string().null())
                .col(ColumnDef::new(WebhookDeliveries::Body).text().not_null())
                .col(ColumnDef::new(WebhookDeliveries::State).string().not_null())
                .col(ColumnDef::new(WebhookDeliveries::Attempts).integer().not_null())
                .col(
                    ColumnDef::new(WebhookDeliveries::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(WebhookDeliveries::LastStatus).integer().null())
                .col(ColumnDef::new(WebhookDeliveries::LatencyMs).integer().null())
                .col(ColumnDef::new(WebhookDeliveries::ResponseExcerpt).text().null())
                .col(ColumnDef::new(WebhookDeliveries::LastError).text().null())
                .col(
                    ColumnDef::new(WebhookDeliveries::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::DeliveredAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(&mut tenant_fk(WebhookDeliveries::Table, "fk_webhook_deliveries_tenant"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "ix_webhook_deliveries_due",
                vec![WebhookDeliveries::State, WebhookDeliveries::NextAttemptAt],
            ),
            (
                "ix_webhook_deliveries_webhook",
                vec![WebhookDeliveries::WebhookId, WebhookDeliveries::Id],
            ),
            ("ix_webhook_deliveries_ticket", vec![WebhookDeliveries::TicketId]),
            ("ix_webhook_deliveries_chat", vec![WebhookDeliveries::ChatId]),
            ("ix_webhook_deliveries_created", vec![WebhookDeliveries::CreatedAt]),
        ] {
            let mut index = Index::create().name(name).table(WebhookDeliveries::Table).to_owned();
            for c in cols {
                index.col(c);
            }
            m.create_index(index).await?;
        }

        m.create_table(
            Table::create()
                .table(ScheduleMarks::Table)
                .col(ColumnDef::new(ScheduleMarks::Key).string().not_null().primary_key())
                .col(ColumnDef::new(ScheduleMarks::TenantId).string().not_null())
                .col(
                    ColumnDef::new(ScheduleMarks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(&mut tenant_fk(ScheduleMarks::Table, "fk_schedule_marks_tenant"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_schedule_marks_created")
                .table(ScheduleMarks::Table)
                .col(ScheduleMarks::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScheduleMarks::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
            Events::Table.into_iden(),
            Automations::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::EventListeners)
                .to_owned(),
        )
        .await
    }
}
