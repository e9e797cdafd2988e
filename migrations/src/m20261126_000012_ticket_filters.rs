//! The ticket list filters by status, assignee or requester, newest number
//! first: each filter reads its own index from the first row of the page,
//! whatever the number of tickets.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    TenantId,
    Status,
    AssigneeId,
    RequesterId,
    Number,
}

const INDEXES: [(&str, Tickets); 3] = [
    ("ix_tickets_tenant_status_number", Tickets::Status),
    ("ix_tickets_tenant_assignee_number", Tickets::AssigneeId),
    ("ix_tickets_tenant_requester_number", Tickets::RequesterId),
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Tickets::Table)
                    .col(Tickets::TenantId)
                    .col(column)
                    .col(Tickets::Number)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(Tickets::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
