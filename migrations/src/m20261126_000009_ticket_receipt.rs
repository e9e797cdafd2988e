//! Each ticket keeps its conversion's receipt: for each hook, which plugin
//! ran (id, name, version, SHA-256), how it went (ok, or fell back and why)
//! and what it cost. JSON text, written once with the ticket.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Receipt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .add_column(ColumnDef::new(Tickets::Receipt).text().not_null().default("[]"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .drop_column(Tickets::Receipt)
                .to_owned(),
        )
        .await
    }
}
