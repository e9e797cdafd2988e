//! The inbox lists chats by last activity, each with its newest public
//! message's first words and who wrote it, without reading any message:
//! the chat row keeps them, written with the message, and the list reads
//! `(tenant_id, status, updated_at, id)` from the first row of the page.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    TenantId,
    Status,
    UpdatedAt,
    Id,
    LastMessagePreview,
    LastMessageKind,
}

const INDEX: &str = "ix_chats_tenant_status_updated";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Chats::LastMessagePreview, Chats::LastMessageKind] {
            m.alter_table(
                Table::alter()
                    .table(Chats::Table)
                    .add_column(ColumnDef::new(col).string().null())
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Chats::Table)
                .col(Chats::TenantId)
                .col(Chats::Status)
                .col(Chats::UpdatedAt)
                .col(Chats::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Chats::Table).to_owned())
            .await?;
        for col in [Chats::LastMessagePreview, Chats::LastMessageKind] {
            m.alter_table(Table::alter().table(Chats::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
