//! Tickets by hand and reports.
//!
//! `tickets.channel` says where a ticket began: `chat` (converted, every
//! ticket before this migration) or `agent` (made by hand in the console).
//! Reports group conversations by it.
//!
//! The reports read ranges of time within a workspace, so each figure has
//! an index that starts with the workspace and the time it is counted by
//! (and, where a figure needs a second time, holds it too, so the report
//! reads the index alone): a report's cost follows the rows in its range,
//! never the workspace's age.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    TenantId,
    Channel,
    CreatedAt,
    FirstResponseAt,
    FirstResponseDueAt,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    TenantId,
    CreatedAt,
    FirstResponseAt,
    Spam,
}

#[derive(DeriveIden)]
enum Ratings {
    Table,
    TenantId,
    CreatedAt,
}

/// Name, table and columns of each index.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        // Conversations started (chats; tickets by hand: see PARTIAL).
        Index::create()
            .name("ix_chats_report_started")
            .table(Chats::Table)
            .col(Chats::TenantId)
            .col(Chats::CreatedAt)
            .col(Chats::Spam)
            .to_owned(),
        // First responses: when, and since when.
        Index::create()
            .name("ix_chats_report_first_response")
            .table(Chats::Table)
            .col(Chats::TenantId)
            .col(Chats::FirstResponseAt)
            .col(Chats::CreatedAt)
            .col(Chats::Spam)
            .to_owned(),
        Index::create()
            .name("ix_tickets_report_first_response")
            .table(Tickets::Table)
            .col(Tickets::TenantId)
            .col(Tickets::FirstResponseAt)
            .col(Tickets::CreatedAt)
            .col(Tickets::FirstResponseDueAt)
            .col(Tickets::Channel)
            .to_owned(),
        Index::create()
            .name("ix_ratings_report")
            .table(Ratings::Table)
            .col(Ratings::TenantId)
            .col(Ratings::CreatedAt)
            .to_owned(),
    ]
}

/// Partial indexes (the same text on both databases): a conversion writes
/// neither, as its ticket began in a chat and is not solved yet. A query
/// uses one when its WHERE says as much (`channel <> 'chat'` word for word;
/// any comparison on `solved_at` implies it is not null).
const PARTIAL: [(&str, &str); 2] = [
    (
        "ix_tickets_report_started",
        "CREATE INDEX ix_tickets_report_started ON tickets (tenant_id, created_at, channel) \
         WHERE channel <> 'chat'",
    ),
    (
        "ix_tickets_report_solved",
        "CREATE INDEX ix_tickets_report_solved ON tickets (tenant_id, solved_at, created_at, resolution_due_at) \
         WHERE solved_at IS NOT NULL",
    ),
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .add_column(ColumnDef::new(Tickets::Channel).string().not_null().default("chat"))
                .to_owned(),
        )
        .await?;
        for index in indexes() {
            m.create_index(index).await?;
        }
        for (_, sql) in PARTIAL {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in PARTIAL {
            m.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        for index in indexes() {
            let name = index.get_index_spec().get_name().unwrap_or_default().to_owned();
            m.drop_index(Index::drop().name(&name).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .drop_column(Tickets::Channel)
                .to_owned(),
        )
        .await
    }
}
