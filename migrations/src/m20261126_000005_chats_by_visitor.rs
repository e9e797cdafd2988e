//! A visitor's token stops working some time after their chat closed; the
//! check finds the visitor's chat through this index, one lookup whatever
//! the number of chats.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    VisitorId,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_chats_visitor")
                .table(Chats::Table)
                .col(Chats::VisitorId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_chats_visitor").table(Chats::Table).to_owned())
            .await
    }
}
