//! Hosting: what the operator of a deployment (not any workspace) runs.
//! - `operator_tokens`: the operator API's credentials, stored hashed.
//! - `tenants.status` (`active` or `suspended`), `tenants.quotas` (a JSON
//!   object of the operator's overrides; a quota left out takes the
//!   server's default) and `tenants.stored_bytes` (the running total the
//!   meter adds to).
//! - `usage_days`: what each workspace used each UTC day, added to by every
//!   node's meter in batches.
//! - `rate_buckets` and `sign_in_failures`: the rate limits and the sign-in
//!   lock shared by every node of a PostgreSQL deployment.
//! - An index for the daily mail quota: a workspace's mail sent since a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OperatorTokens {
    Table,
    Id,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Status,
    Quotas,
    StoredBytes,
}

#[derive(DeriveIden)]
enum UsageDays {
    Table,
    TenantId,
    Day,
    Conversions,
    Chats,
    Messages,
    MailsSent,
    PluginCalls,
    PluginFuel,
    StoredBytes,
}

#[derive(DeriveIden)]
enum RateBuckets {
    Table,
    Key,
    /// GCRA's theoretical arrival time, in microseconds since the epoch.
    Tat,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Id,
    Account,
    Network,
    FailedAt,
    /// Counts toward the account's slow-down from all networks (cleared by
    /// a successful sign-in, which keeps other networks' locks).
    AccountWide,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    TenantId,
    State,
    SentAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OperatorTokens::Table)
                .col(ColumnDef::new(OperatorTokens::Id).string().not_null().primary_key())
                .col(ColumnDef::new(OperatorTokens::Name).string().not_null().unique_key())
                .col(
                    ColumnDef::new(OperatorTokens::TokenHash)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(OperatorTokens::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OperatorTokens::LastUsedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per ALTER.
        for column in [
            ColumnDef::new(Tenants::Status)
                .string()
                .not_null()
                .default("active")
                .to_owned(),
            ColumnDef::new(Tenants::Quotas)
                .string()
                .not_null()
                .default("{}")
                .to_owned(),
            ColumnDef::new(Tenants::StoredBytes)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            m.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned())
                .await?;
        }
        let counter = |c: UsageDays| ColumnDef::new(c).big_integer().not_null().default(0).to_owned();
        m.create_table(
            Table::create()
                .table(UsageDays::Table)
                .col(ColumnDef::new(UsageDays::TenantId).string().not_null())
                // `YYYY-MM-DD`, UTC: compares and ranges the same on both databases.
                .col(ColumnDef::new(UsageDays::Day).string().not_null())
                .col(counter(UsageDays::Conversions))
                .col(counter(UsageDays::Chats))
                .col(counter(UsageDays::Messages))
                .col(counter(UsageDays::MailsSent))
                .col(counter(UsageDays::PluginCalls))
                .col(counter(UsageDays::PluginFuel))
                .col(counter(UsageDays::StoredBytes))
                .primary_key(Index::create().col(UsageDays::TenantId).col(UsageDays::Day))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RateBuckets::Table)
                .col(ColumnDef::new(RateBuckets::Key).string().not_null().primary_key())
                .col(ColumnDef::new(RateBuckets::Tat).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SignInFailures::Table)
                .col(
                    ColumnDef::new(SignInFailures::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(SignInFailures::Account).string().not_null())
                .col(ColumnDef::new(SignInFailures::Network).string().not_null())
                .col(ColumnDef::new(SignInFailures::FailedAt).big_integer().not_null())
                .col(
                    ColumnDef::new(SignInFailures::AccountWide)
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sign_in_failures_account")
                .table(SignInFailures::Table)
                .col(SignInFailures::Account)
                .col(SignInFailures::FailedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_sent")
                .table(MailOutbox::Table)
                .col(MailOutbox::TenantId)
                .col(MailOutbox::State)
                .col(MailOutbox::SentAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_mail_outbox_sent").to_owned())
            .await?;
        for table in [
            SignInFailures::Table.into_iden(),
            RateBuckets::Table.into_iden(),
            UsageDays::Table.into_iden(),
            OperatorTokens::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in [Tenants::Status, Tenants::Quotas, Tenants::StoredBytes] {
            m.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
