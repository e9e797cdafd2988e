//! Comments on tickets, and the outbox that carries public ones to the
//! requester by e-mail.
//!
//! A public comment and its outbox row are written in one transaction, so a
//! reply is never saved without its mail nor mailed without being saved.
//! The sender takes due rows by `(state, next_attempt_at)`: claiming a row
//! pushes `next_attempt_at` past a lease, so another node (or this one after
//! a restart) retries it only if the first never reported back.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketComments {
    Table,
    Id,
    TenantId,
    TicketId,
    AuthorId,
    AuthorName,
    Body,
    Internal,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    TenantId,
    CommentId,
    ToAddress,
    ToName,
    FromName,
    Subject,
    Body,
    MessageId,
    State,
    Attempts,
    NextAttemptAt,
    LastError,
    SentAt,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TicketComments::Table)
                .col(ColumnDef::new(TicketComments::Id).string().not_null().primary_key())
                .col(ColumnDef::new(TicketComments::TenantId).string().not_null())
                .col(ColumnDef::new(TicketComments::TicketId).string().not_null())
                .col(ColumnDef::new(TicketComments::AuthorId).string().not_null())
                .col(ColumnDef::new(TicketComments::AuthorName).string().not_null())
                .col(ColumnDef::new(TicketComments::Body).text().not_null())
                .col(ColumnDef::new(TicketComments::Internal).boolean().not_null())
                .col(
                    ColumnDef::new(TicketComments::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ticket_comments_ticket")
                .table(TicketComments::Table)
                .col(TicketComments::TicketId)
                .col(TicketComments::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MailOutbox::Table)
                .col(ColumnDef::new(MailOutbox::Id).string().not_null().primary_key())
                .col(ColumnDef::new(MailOutbox::TenantId).string().not_null())
                .col(ColumnDef::new(MailOutbox::CommentId).string().not_null().unique_key())
                .col(ColumnDef::new(MailOutbox::ToAddress).string().not_null())
                .col(ColumnDef::new(MailOutbox::ToName).string().not_null())
                .col(ColumnDef::new(MailOutbox::FromName).string().not_null())
                .col(ColumnDef::new(MailOutbox::Subject).string().not_null())
                .col(ColumnDef::new(MailOutbox::Body).text().not_null())
                .col(ColumnDef::new(MailOutbox::MessageId).string().not_null())
                .col(ColumnDef::new(MailOutbox::State).string().not_null())
                .col(ColumnDef::new(MailOutbox::Attempts).integer().not_null().default(0))
                .col(
                    ColumnDef::new(MailOutbox::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(MailOutbox::LastError).string().null())
                .col(ColumnDef::new(MailOutbox::SentAt).timestamp_with_time_zone().null())
                .col(
                    ColumnDef::new(MailOutbox::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::State)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MailOutbox::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(TicketComments::Table).to_owned())
            .await
    }
}
