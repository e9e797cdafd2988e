//! Spam and blocking: a chat marked as spam is closed and leaves the
//! lists (`chats.spam`); a blocked visitor (by visitor, and optionally by
//! e-mail address) cannot start a chat or write.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    Spam,
}

#[derive(DeriveIden)]
enum VisitorBlocks {
    Table,
    Id,
    TenantId,
    VisitorId,
    EmailNormalized,
    VisitorName,
    ChatId,
    BlockedBy,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Chats::Table)
                .add_column(ColumnDef::new(Chats::Spam).boolean().not_null().default(false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VisitorBlocks::Table)
                .col(ColumnDef::new(VisitorBlocks::Id).string().not_null().primary_key())
                .col(ColumnDef::new(VisitorBlocks::TenantId).string().not_null())
                .col(ColumnDef::new(VisitorBlocks::VisitorId).string().not_null())
                .col(ColumnDef::new(VisitorBlocks::EmailNormalized).string().null())
                .col(ColumnDef::new(VisitorBlocks::VisitorName).string().not_null())
                .col(ColumnDef::new(VisitorBlocks::ChatId).string().not_null())
                .col(ColumnDef::new(VisitorBlocks::BlockedBy).string().not_null())
                .col(
                    ColumnDef::new(VisitorBlocks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Looked up at every chat start and visitor message: by visitor,
        // and by address.
        m.create_index(
            Index::create()
                .name("ux_visitor_blocks_visitor")
                .table(VisitorBlocks::Table)
                .col(VisitorBlocks::TenantId)
                .col(VisitorBlocks::VisitorId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_visitor_blocks_email")
                .table(VisitorBlocks::Table)
                .col(VisitorBlocks::TenantId)
                .col(VisitorBlocks::EmailNormalized)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(VisitorBlocks::Table).to_owned())
            .await?;
        m.alter_table(Table::alter().table(Chats::Table).drop_column(Chats::Spam).to_owned())
            .await
    }
}
