//! A ticket's activity log: who changed which field (status, assignee,
//! priority) from what to what, and when. Read per ticket, in order, through
//! its index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Id,
    TenantId,
    TicketId,
    AgentId,
    AgentName,
    Field,
    OldValue,
    NewValue,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TicketEvents::Table)
                .col(ColumnDef::new(TicketEvents::Id).string().not_null().primary_key())
                .col(ColumnDef::new(TicketEvents::TenantId).string().not_null())
                .col(ColumnDef::new(TicketEvents::TicketId).string().not_null())
                .col(ColumnDef::new(TicketEvents::AgentId).string().not_null())
                .col(ColumnDef::new(TicketEvents::AgentName).string().not_null())
                .col(ColumnDef::new(TicketEvents::Field).string().not_null())
                .col(ColumnDef::new(TicketEvents::OldValue).string().null())
                .col(ColumnDef::new(TicketEvents::NewValue).string().null())
                .col(
                    ColumnDef::new(TicketEvents::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ticket_events_ticket")
                .table(TicketEvents::Table)
                .col(TicketEvents::TicketId)
                .col(TicketEvents::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TicketEvents::Table).to_owned()).await
    }
}
