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

/// One sign-in attempt against the shared lock (PostgreSQL): the account's
/// recent failures are read and, unless this network is locked out or the
/// account slowed down, the attempt is counted as a failure until it
/// succeeds. Attempts on one account take turns on an advisory lock held to
/// the end of the statement's transaction; being a function, its reads
/// take their snapshot after the lock is held, so attempts sent all at once
/// cannot all read the same count and slip past the lock together. One
/// round trip.
const SIGN_IN_ATTEMPT: &str = r#"
CREATE OR REPLACE FUNCTION threadline_sign_in_attempt(
    p_account text, p_network text, p_window bigint, p_cap bigint, p_free bigint, p_max_delay bigint)
RETURNS TABLE (from_network bigint, oldest_leaves_in bigint, from_everywhere bigint, since_last bigint, counted bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now bigint;
    v_oldest bigint;
    v_last bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_account, 0));
    v_now := (extract(epoch from clock_timestamp()) * 1000000)::bigint;
    SELECT count(*) FILTER (WHERE f.network = p_network), min(f.failed_at) FILTER (WHERE f.network = p_network),
           count(*) FILTER (WHERE f.account_wide), max(f.failed_at) FILTER (WHERE f.account_wide)
      INTO from_network, v_oldest, from_everywhere, v_last
      FROM sign_in_failures f
     WHERE f.account = p_account AND f.failed_at > v_now - p_window;
    oldest_leaves_in := COALESCE(v_oldest + p_window - v_now, 0);
    since_last := COALESCE(v_now - v_last, 0);
    counted := NULL;
    IF from_network < p_cap AND (from_everywhere < p_free OR v_now - v_last >=
         LEAST(p_max_delay, 1000000 * power(2, LEAST(from_everywhere - p_free, 16))::bigint)) THEN
        INSERT INTO sign_in_failures (account, network, failed_at, account_wide)
        VALUES (p_account, p_network, v_now, true) RETURNING id INTO counted;
    END IF;
    RETURN NEXT;
END
$$"#;

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
        if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            m.get_connection().execute_unprepared(SIGN_IN_ATTEMPT).await?;
        }
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
        if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("DROP FUNCTION threadline_sign_in_attempt")
                .await?;
        }
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
