//! Service level targets: a workspace's first-response and resolution
//! targets, and on each ticket the times they fall due (from the chat's
//! start, fixed when the ticket is made, so later changes of the targets
//! do not move them), when it was solved, and `due_at`, the next target it
//! still has to meet, which the list sorts and filters on through its
//! index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    SlaFirstResponseMinutes,
    SlaResolutionMinutes,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    TenantId,
    Number,
    FirstResponseDueAt,
    ResolutionDueAt,
    SolvedAt,
    DueAt,
}

const INDEX: &str = "ix_tickets_tenant_due";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for col in [Tenants::SlaFirstResponseMinutes, Tenants::SlaResolutionMinutes] {
            m.alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(ColumnDef::new(col).integer().null())
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            Tickets::FirstResponseDueAt,
            Tickets::ResolutionDueAt,
            Tickets::SolvedAt,
            Tickets::DueAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(ColumnDef::new(col).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Tickets::Table)
                .col(Tickets::TenantId)
                .col(Tickets::DueAt)
                .col(Tickets::Number)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Tickets::Table).to_owned())
            .await?;
        for col in [
            Tickets::FirstResponseDueAt,
            Tickets::ResolutionDueAt,
            Tickets::SolvedAt,
            Tickets::DueAt,
        ] {
            m.alter_table(Table::alter().table(Tickets::Table).drop_column(col).to_owned())
                .await?;
        }
        for col in [Tenants::SlaFirstResponseMinutes, Tenants::SlaResolutionMinutes] {
            m.alter_table(Table::alter().table(Tenants::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
