//! Every change of a workspace's pipeline is kept: which version it made,
//! the whole pipeline as `PUT /api/v1/pipeline` takes it, who made it and
//! when, so an operator can read the history and roll back. The server
//! keeps each workspace's newest 100.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PipelineVersions {
    Table,
    TenantId,
    Version,
    Hooks,
    ChangedBy,
    ChangedByName,
    ChangedAt,
    Note,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PipelineVersions::Table)
                .col(ColumnDef::new(PipelineVersions::TenantId).string().not_null())
                .col(ColumnDef::new(PipelineVersions::Version).big_integer().not_null())
                .col(ColumnDef::new(PipelineVersions::Hooks).text().not_null())
                .col(ColumnDef::new(PipelineVersions::ChangedBy).string().not_null())
                .col(ColumnDef::new(PipelineVersions::ChangedByName).string().not_null())
                .col(
                    ColumnDef::new(PipelineVersions::ChangedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(PipelineVersions::Note).string().null())
                .primary_key(
                    Index::create()
                        .col(PipelineVersions::TenantId)
                        .col(PipelineVersions::Version),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PipelineVersions::Table).to_owned())
            .await
    }
}
