//! Compiled plugin code is shared by every plugin with the same bytes; when
//! one is deleted, the server asks whether another still has them. This
//! index answers that with one lookup.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Sha256,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("plugins_sha256")
                .table(Plugins::Table)
                .col(Plugins::Sha256)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("plugins_sha256").table(Plugins::Table).to_owned())
            .await
    }
}
