//! The first schema: workspaces (tenants), people, chats, tickets, ratings.
//!
//! Every table that belongs to a workspace carries `tenant_id`. The invariants
//! that must hold under concurrency are constraints here, not checks in code:
//! one ticket per chat (`tickets.origin_chat_id` unique), one ticket number per
//! tenant (`tickets (tenant_id, number)` unique), one requester per email per
//! tenant (`requesters (tenant_id, email_normalized)` unique).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Slug,
    WidgetKey,
    SummaryOnClose,
    NextTicketNumber,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    TenantId,
    Name,
    Email,
    EmailNormalized,
    IsAdmin,
    TokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    Id,
    TenantId,
    Name,
    Email,
    TokenHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    TenantId,
    VisitorId,
    Subject,
    Status,
    AssigneeId,
    FirstResponseAt,
    Summary,
    TicketId,
    Version,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    TenantId,
    ChatId,
    Kind,
    AuthorName,
    AgentId,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Requesters {
    Table,
    Id,
    TenantId,
    Email,
    EmailNormalized,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    TenantId,
    Number,
    Subject,
    Description,
    Status,
    AssigneeId,
    RequesterId,
    FirstResponseAt,
    OriginChatId,
    Summary,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Ratings {
    Table,
    Id,
    TenantId,
    ChatId,
    Score,
    Comment,
    CreatedAt,
}

/// A text primary key: ids are UUIDs rendered as text, which both backends
/// store and compare the same way.
fn id_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).string().not_null().primary_key().take()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .col(id_pk(Tenants::Id))
                .col(string(Tenants::Name))
                .col(string_uniq(Tenants::Slug))
                .col(string_uniq(Tenants::WidgetKey))
                .col(boolean(Tenants::SummaryOnClose).default(false))
                .col(big_integer(Tenants::NextTicketNumber).default(1001))
                .col(timestamp_with_time_zone(Tenants::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Agents::Table)
                .col(id_pk(Agents::Id))
                .col(string(Agents::TenantId))
                .col(string(Agents::Name))
                .col(string(Agents::Email))
                .col(string(Agents::EmailNormalized))
                .col(boolean(Agents::IsAdmin).default(false))
                .col(string_uniq(Agents::TokenHash))
                .col(timestamp_with_time_zone(Agents::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_agents_tenant",
                    (Agents::Table, Agents::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_agents_tenant_email")
                .table(Agents::Table)
                .col(Agents::TenantId)
                .col(Agents::EmailNormalized)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Visitors::Table)
                .col(id_pk(Visitors::Id))
                .col(string(Visitors::TenantId))
                .col(string(Visitors::Name))
                .col(string_null(Visitors::Email))
                .col(string_uniq(Visitors::TokenHash))
                .col(timestamp_with_time_zone(Visitors::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_visitors_tenant",
                    (Visitors::Table, Visitors::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Chats::Table)
                .col(id_pk(Chats::Id))
                .col(string(Chats::TenantId))
                .col(string(Chats::VisitorId))
                .col(string_null(Chats::Subject))
                .col(string(Chats::Status))
                .col(string_null(Chats::AssigneeId))
                .col(timestamp_with_time_zone_null(Chats::FirstResponseAt))
                .col(text_null(Chats::Summary))
                // No foreign key: the ticket row is written after the chat is
                // claimed in the same transaction; tickets.origin_chat_id is the
                // enforced side of the link.
                .col(string_null(Chats::TicketId))
                .col(big_integer(Chats::Version).default(0))
                .col(timestamp_with_time_zone(Chats::CreatedAt))
                .col(timestamp_with_time_zone(Chats::UpdatedAt))
                .col(timestamp_with_time_zone_null(Chats::ClosedAt))
                .foreign_key(&mut fk(
                    "fk_chats_tenant",
                    (Chats::Table, Chats::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_chats_visitor",
                    (Chats::Table, Chats::VisitorId),
                    (Visitors::Table, Visitors::Id),
                ))
                .foreign_key(
                    &mut fk(
                        "fk_chats_assignee",
                        (Chats::Table, Chats::AssigneeId),
                        (Agents::Table, Agents::Id),
                    )
                    .on_delete(ForeignKeyAction::SetNull)
                    .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_chats_tenant_status_created")
                .table(Chats::Table)
                .col(Chats::TenantId)
                .col(Chats::Status)
                .col(Chats::CreatedAt)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Messages::Table)
                // An increasing integer id gives a total order of a chat's
                // messages even when two share a timestamp.
                .col(big_pk_auto(Messages::Id))
                .col(string(Messages::TenantId))
                .col(string(Messages::ChatId))
                .col(string(Messages::Kind))
                .col(string(Messages::AuthorName))
                .col(string_null(Messages::AgentId))
                .col(text(Messages::Body))
                .col(timestamp_with_time_zone(Messages::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_messages_chat",
                    (Messages::Table, Messages::ChatId),
                    (Chats::Table, Chats::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_messages_chat")
                .table(Messages::Table)
                .col(Messages::ChatId)
                .col(Messages::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Requesters::Table)
                .col(id_pk(Requesters::Id))
                .col(string(Requesters::TenantId))
                .col(string(Requesters::Email))
                .col(string(Requesters::EmailNormalized))
                .col(string(Requesters::Name))
                .col(timestamp_with_time_zone(Requesters::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_requesters_tenant",
                    (Requesters::Table, Requesters::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_requesters_tenant_email")
                .table(Requesters::Table)
                .col(Requesters::TenantId)
                .col(Requesters::EmailNormalized)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tickets::Table)
                .col(id_pk(Tickets::Id))
                .col(string(Tickets::TenantId))
                .col(big_integer(Tickets::Number))
                .col(string(Tickets::Subject))
                .col(text(Tickets::Description))
                .col(string(Tickets::Status))
                .col(string_null(Tickets::AssigneeId))
                .col(string(Tickets::RequesterId))
                .col(timestamp_with_time_zone_null(Tickets::FirstResponseAt))
                .col(string_null(Tickets::OriginChatId).unique_key())
                .col(text_null(Tickets::Summary))
                .col(timestamp_with_time_zone(Tickets::CreatedAt))
                .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_tickets_tenant",
                    (Tickets::Table, Tickets::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_tickets_requester",
                    (Tickets::Table, Tickets::RequesterId),
                    (Requesters::Table, Requesters::Id),
                ))
                .foreign_key(
                    &mut fk(
                        "fk_tickets_assignee",
                        (Tickets::Table, Tickets::AssigneeId),
                        (Agents::Table, Agents::Id),
                    )
                    .on_delete(ForeignKeyAction::SetNull)
                    .take(),
                )
                .foreign_key(
                    &mut fk(
                        "fk_tickets_origin_chat",
                        (Tickets::Table, Tickets::OriginChatId),
                        (Chats::Table, Chats::Id),
                    )
                    .on_delete(ForeignKeyAction::SetNull)
                    .take(),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_tickets_tenant_number")
                .table(Tickets::Table)
                .col(Tickets::TenantId)
                .col(Tickets::Number)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Ratings::Table)
                .col(id_pk(Ratings::Id))
                .col(string(Ratings::TenantId))
                .col(string_uniq(Ratings::ChatId))
                .col(small_integer(Ratings::Score))
                .col(text_null(Ratings::Comment))
                .col(timestamp_with_time_zone(Ratings::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_ratings_chat",
                    (Ratings::Table, Ratings::ChatId),
                    (Chats::Table, Chats::Id),
                ))
                .take(),
        )
        .await?;
        Ok(())
    }
}
