//! Plugin contract 0.2.0: a ticket gets a priority, tags and custom fields
//! (set at conversion by the `fields` hook), and an uploaded plugin keeps
//! what its `describe` export said of it (name, version, settings schema).
//!
//! Tags and custom fields are JSON text: both backends store and return it
//! alike, and nothing queries inside them yet. One column per statement,
//! since SQLite alters one column at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Priority,
    Tags,
    CustomFields,
}

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Manifest,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: DynIden, column: ColumnDef| Table::alter().table(table).add_column(column).to_owned();
        m.alter_table(add(
            Tickets::Table.into_iden(),
            ColumnDef::new(Tickets::Priority)
                .string()
                .not_null()
                .default("normal")
                .to_owned(),
        ))
        .await?;
        m.alter_table(add(
            Tickets::Table.into_iden(),
            ColumnDef::new(Tickets::Tags).text().not_null().default("[]").to_owned(),
        ))
        .await?;
        m.alter_table(add(
            Tickets::Table.into_iden(),
            ColumnDef::new(Tickets::CustomFields)
                .text()
                .not_null()
                .default("{}")
                .to_owned(),
        ))
        .await?;
        m.alter_table(add(
            Plugins::Table.into_iden(),
            ColumnDef::new(Plugins::Manifest).text().null().to_owned(),
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let drop = |table: DynIden, column: DynIden| Table::alter().table(table).drop_column(column).to_owned();
        m.alter_table(drop(Plugins::Table.into_iden(), Plugins::Manifest.into_iden()))
            .await?;
        for column in [Tickets::CustomFields, Tickets::Tags, Tickets::Priority] {
            m.alter_table(drop(Tickets::Table.into_iden(), column.into_iden()))
                .await?;
        }
        Ok(())
    }
}
