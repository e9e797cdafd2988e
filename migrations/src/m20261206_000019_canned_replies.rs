//! Canned replies: a workspace's stock answers, by title, which agents
//! insert from the composer and admins manage.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CannedReplies {
    Table,
    Id,
    TenantId,
    Title,
    TitleNormalized,
    Body,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CannedReplies::Table)
                .col(ColumnDef::new(CannedReplies::Id).string().not_null().primary_key())
                .col(ColumnDef::new(CannedReplies::TenantId).string().not_null())
                .col(ColumnDef::new(CannedReplies::Title).string().not_null())
                .col(ColumnDef::new(CannedReplies::TitleNormalized).string().not_null())
                .col(ColumnDef::new(CannedReplies::Body).text().not_null())
                .col(ColumnDef::new(CannedReplies::CreatedBy).string().not_null())
                .col(
                    ColumnDef::new(CannedReplies::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CannedReplies::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // One reply a title a workspace (in any case), listed by title.
        m.create_index(
            Index::create()
                .name("ux_canned_replies_title")
                .table(CannedReplies::Table)
                .col(CannedReplies::TenantId)
                .col(CannedReplies::TitleNormalized)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CannedReplies::Table).to_owned()).await
    }
}
