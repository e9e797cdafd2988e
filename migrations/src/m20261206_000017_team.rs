//! A workspace runs its own team: agents can be deactivated and say
//! whether they are available; admins invite colleagues by e-mail; an agent
//! who forgot their password resets it by e-mail; the workspace mails as
//! itself (a display name and a Reply-To).
//!
//! Invitations and resets keep only the SHA-256 of their token, like
//! credentials. Account mails (an invitation, a reset) go through the same
//! outbox as replies: `kind` tells them apart, and `comment_id` (unique,
//! not null) holds the mail's own id for them, since they carry no comment.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    Active,
    Availability,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    SenderName,
    ReplyTo,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Kind,
    ReplyTo,
}

#[derive(DeriveIden)]
enum AgentInvitations {
    Table,
    Id,
    TenantId,
    Email,
    EmailNormalized,
    Name,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    SentAt,
    ExpiresAt,
    AcceptedAt,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    TenantId,
    AgentId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite alters a table a column at a time.
        let columns = [
            (
                Agents::Table.into_iden(),
                ColumnDef::new(Agents::Active)
                    .boolean()
                    .not_null()
                    .default(true)
                    .to_owned(),
            ),
            (
                Agents::Table.into_iden(),
                ColumnDef::new(Agents::Availability)
                    .string()
                    .not_null()
                    .default("online")
                    .to_owned(),
            ),
            (
                Tenants::Table.into_iden(),
                ColumnDef::new(Tenants::SenderName).string().null().to_owned(),
            ),
            (
                Tenants::Table.into_iden(),
                ColumnDef::new(Tenants::ReplyTo).string().null().to_owned(),
            ),
            (
                MailOutbox::Table.into_iden(),
                ColumnDef::new(MailOutbox::Kind)
                    .string()
                    .not_null()
                    .default("reply")
                    .to_owned(),
            ),
            (
                MailOutbox::Table.into_iden(),
                ColumnDef::new(MailOutbox::ReplyTo).string().null().to_owned(),
            ),
        ];
        for (table, mut column) in columns {
            m.alter_table(Table::alter().table(table).add_column(&mut column).to_owned())
                .await?;
        }

        m.create_table(
            Table::create()
                .table(AgentInvitations::Table)
                .col(ColumnDef::new(AgentInvitations::Id).string().not_null().primary_key())
                .col(ColumnDef::new(AgentInvitations::TenantId).string().not_null())
                .col(ColumnDef::new(AgentInvitations::Email).string().not_null())
                .col(ColumnDef::new(AgentInvitations::EmailNormalized).string().not_null())
                .col(ColumnDef::new(AgentInvitations::Name).string().null())
                .col(ColumnDef::new(AgentInvitations::Role).string().not_null())
                .col(
                    ColumnDef::new(AgentInvitations::TokenHash)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(AgentInvitations::InvitedBy).string().not_null())
                .col(
                    ColumnDef::new(AgentInvitations::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgentInvitations::SentAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgentInvitations::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgentInvitations::AcceptedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        // One invitation an address a workspace: a second is a 409, which
        // the unique index settles even between two nodes.
        m.create_index(
            Index::create()
                .name("ux_agent_invitations_email")
                .table(AgentInvitations::Table)
                .col(AgentInvitations::TenantId)
                .col(AgentInvitations::EmailNormalized)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PasswordResets::Table)
                .col(ColumnDef::new(PasswordResets::Id).string().not_null().primary_key())
                .col(ColumnDef::new(PasswordResets::TenantId).string().not_null())
                .col(ColumnDef::new(PasswordResets::AgentId).string().not_null())
                .col(
                    ColumnDef::new(PasswordResets::TokenHash)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(PasswordResets::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PasswordResets::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_password_resets_agent")
                .table(PasswordResets::Table)
                .col(PasswordResets::AgentId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasswordResets::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(AgentInvitations::Table).to_owned())
            .await?;
        for (table, column) in [
            (Agents::Table.into_iden(), Agents::Active.into_iden()),
            (Agents::Table.into_iden(), Agents::Availability.into_iden()),
            (Tenants::Table.into_iden(), Tenants::SenderName.into_iden()),
            (Tenants::Table.into_iden(), Tenants::ReplyTo.into_iden()),
            (MailOutbox::Table.into_iden(), MailOutbox::Kind.into_iden()),
            (MailOutbox::Table.into_iden(), MailOutbox::ReplyTo.into_iden()),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
