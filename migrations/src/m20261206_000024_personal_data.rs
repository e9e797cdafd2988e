//! Personal data: finding, exporting and erasing one person's data, keeping
//! conversations only as long as the workspace says, and an audit log.
//! - `visitors.email_normalized` (backfilled): a person's visitors found
//!   by their address, one index lookup;
//! - `requesters (tenant_id, lower(name))`: contacts found by the start of
//!   their name (bytewise on PostgreSQL, like the search terms);
//! - `tenants.retention_*`: how many days closed chats, closed tickets and
//!   mail are kept (`NULL`: for ever), and the last retention run's time
//!   and counts;
//! - `audit_log`: who signed in, exported, erased or changed what, one
//!   append-only row each;
//! - `job_leases`: a background job that one node runs at a time (the
//!   retention job) holds its row's lease while it runs;
//! - indexes the retention job reads its candidates by, oldest first, and
//!   mail (sent and received) found by its ticket, chat or recipient.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    RetentionClosedChatsDays,
    RetentionClosedTicketsDays,
    RetentionMailDays,
    RetentionRunAt,
    RetentionCounts,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    TenantId,
    EmailNormalized,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    At,
    /// `agent`, `operator` or `system`.
    ActorKind,
    ActorId,
    ActorName,
    Action,
    Target,
    /// JSON: what the action changed, never the personal data it touched.
    Detail,
}

#[derive(DeriveIden)]
enum JobLeases {
    Table,
    Name,
    Owner,
    Until,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    TenantId,
    ClosedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    TenantId,
    Status,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum InboundMails {
    Table,
    ChatId,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    TicketId,
    ChatId,
    TenantId,
    ToAddress,
}

const RETENTION: [Tenants; 5] = [
    Tenants::RetentionClosedChatsDays,
    Tenants::RetentionClosedTicketsDays,
    Tenants::RetentionMailDays,
    Tenants::RetentionRunAt,
    Tenants::RetentionCounts,
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        for column in [
            ColumnDef::new(Tenants::RetentionClosedChatsDays)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Tenants::RetentionClosedTicketsDays)
                .integer()
                .null()
                .to_owned(),
            ColumnDef::new(Tenants::RetentionMailDays).integer().null().to_owned(),
            ColumnDef::new(Tenants::RetentionRunAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Tenants::RetentionCounts).text().null().to_owned(),
        ] {
            m.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned())
                .await?;
        }

        m.alter_table(
            Table::alter()
                .table(Visitors::Table)
                .add_column(ColumnDef::new(Visitors::EmailNormalized).string().null())
                .to_owned(),
        )
        .await?;
        // The application lowercases with Unicode's rules; SQLite's lower()
        // only folds ASCII, which is what addresses people type are.
        m.get_connection()
            .execute_unprepared("UPDATE visitors SET email_normalized = lower(trim(email)) WHERE email IS NOT NULL")
            .await?;
        m.create_index(
            Index::create()
                .name("ix_visitors_email")
                .table(Visitors::Table)
                .col(Visitors::TenantId)
                .col(Visitors::EmailNormalized)
                .to_owned(),
        )
        .await?;
        let by_name = match backend {
            DbBackend::Postgres => {
                "CREATE INDEX ix_requesters_name ON requesters (tenant_id, (lower(name) COLLATE \"C\"))"
            }
            _ => "CREATE INDEX ix_requesters_name ON requesters (tenant_id, lower(name))",
        };
        m.get_connection().execute_unprepared(by_name).await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(ColumnDef::new(AuditLog::Id).string().not_null().primary_key())
                .col(ColumnDef::new(AuditLog::TenantId).string().not_null())
                .col(ColumnDef::new(AuditLog::At).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(AuditLog::ActorKind).string().not_null())
                .col(ColumnDef::new(AuditLog::ActorId).string().null())
                .col(ColumnDef::new(AuditLog::ActorName).string().not_null())
                .col(ColumnDef::new(AuditLog::Action).string().not_null())
                .col(ColumnDef::new(AuditLog::Target).string().null())
                .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_audit_log_tenant")
                        .from(AuditLog::Table, AuditLog::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Read newest first by id (UUIDv7, time-ordered); pruned by age.
        m.create_index(
            Index::create()
                .name("ix_audit_log_tenant_id")
                .table(AuditLog::Table)
                .col(AuditLog::TenantId)
                .col(AuditLog::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_log_at")
                .table(AuditLog::Table)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(JobLeases::Table)
                .col(ColumnDef::new(JobLeases::Name).string().not_null().primary_key())
                .col(ColumnDef::new(JobLeases::Owner).string().null())
                .col(ColumnDef::new(JobLeases::Until).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;

        m.create_index(
            Index::create()
                .name("ix_chats_tenant_closed")
                .table(Chats::Table)
                .col(Chats::TenantId)
                .col(Chats::ClosedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_tickets_tenant_status_updated")
                .table(Tickets::Table)
                .col(Tickets::TenantId)
                .col(Tickets::Status)
                .col(Tickets::UpdatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_ticket")
                .table(MailOutbox::Table)
                .col(MailOutbox::TicketId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_chat")
                .table(MailOutbox::Table)
                .col(MailOutbox::ChatId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_inbound_mails_chat")
                .table(InboundMails::Table)
                .col(InboundMails::ChatId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_to")
                .table(MailOutbox::Table)
                .col(MailOutbox::TenantId)
                .col(MailOutbox::ToAddress)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_mail_outbox_to",
            "ix_inbound_mails_chat",
            "ix_mail_outbox_chat",
            "ix_mail_outbox_ticket",
            "ix_tickets_tenant_status_updated",
            "ix_chats_tenant_closed",
            "ix_requesters_name",
            "ix_visitors_email",
        ] {
            m.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        m.drop_table(Table::drop().table(JobLeases::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(AuditLog::Table).to_owned()).await?;
        m.alter_table(
            Table::alter()
                .table(Visitors::Table)
                .drop_column(Visitors::EmailNormalized)
                .to_owned(),
        )
        .await?;
        for column in RETENTION {
            m.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
