//! The inbox's views read one index range each: a workspace's chats of a
//! status by assignee (mine, nobody's) and by who wrote last (the visitors
//! waiting, the longest first), each in order of last activity.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    TenantId,
    Status,
    AssigneeId,
    LastMessageKind,
    UpdatedAt,
    Id,
}

const BY_ASSIGNEE: &str = "ix_chats_tenant_status_assignee_updated";
const BY_WAITING: &str = "ix_chats_tenant_status_last_kind_updated";

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, middle) in [(BY_ASSIGNEE, Chats::AssigneeId), (BY_WAITING, Chats::LastMessageKind)] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Chats::Table)
                    .col(Chats::TenantId)
                    .col(Chats::Status)
                    .col(middle)
                    .col(Chats::UpdatedAt)
                    .col(Chats::Id)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [BY_ASSIGNEE, BY_WAITING] {
            m.drop_index(Index::drop().name(name).table(Chats::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
