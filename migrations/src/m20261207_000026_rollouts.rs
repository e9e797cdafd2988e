//! Changing rules safely and seeing them run:
//! - `pipeline_rollouts`: a workspace's one staged rollout (the primary
//!   key is the workspace, so there is one at a time on every node): the
//!   candidate pipeline, its share of chats, when it is given up by
//!   itself, and both versions' calls and faults, with the candidate's
//!   last outcomes (`recent`, one character a call) for its fault rate;
//! - `plugin_logs`: the newest lines a workspace's plugins wrote and each
//!   call's outcome, a ring per workspace trimmed as it is written;
//! - `pipeline_hooks.allowed_hosts` and `.secrets`: the hosts a hook's
//!   plugin may call, and settings the API takes but never shows;
//! - `tenants.rollout_id`: the rollout under way, so a conversion (which
//!   reads the workspace's row anyway) knows whether there is one to read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    RolloutId,
}

#[derive(DeriveIden)]
enum PipelineHooks {
    Table,
    AllowedHosts,
    Secrets,
}

#[derive(DeriveIden)]
enum PipelineRollouts {
    Table,
    TenantId,
    Id,
    Hooks,
    Percent,
    MaxFaultRate,
    MinCalls,
    BaseVersion,
    StartedBy,
    StartedByName,
    StartedAt,
    CurrentCalls,
    CurrentFaults,
    CandidateCalls,
    CandidateFaults,
    Recent,
}

#[derive(DeriveIden)]
enum PluginLogs {
    Table,
    Id,
    TenantId,
    At,
    Plugin,
    PluginName,
    Hook,
    Level,
    Message,
    ChatId,
    Outcome,
    Fuel,
    ElapsedMs,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(ColumnDef::new(Tenants::RolloutId).string().null())
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement.
        m.alter_table(
            Table::alter()
                .table(PipelineHooks::Table)
                .add_column(
                    ColumnDef::new(PipelineHooks::AllowedHosts)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(PipelineHooks::Table)
                .add_column(ColumnDef::new(PipelineHooks::Secrets).text().not_null().default("{}"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PipelineRollouts::Table)
                .col(
                    ColumnDef::new(PipelineRollouts::TenantId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(PipelineRollouts::Id).string().not_null())
                .col(ColumnDef::new(PipelineRollouts::Hooks).text().not_null())
                .col(ColumnDef::new(PipelineRollouts::Percent).integer().not_null())
                .col(ColumnDef::new(PipelineRollouts::MaxFaultRate).double().not_null())
                .col(ColumnDef::new(PipelineRollouts::MinCalls).integer().not_null())
                .col(ColumnDef::new(PipelineRollouts::BaseVersion).big_integer().not_null())
                .col(ColumnDef::new(PipelineRollouts::StartedBy).string().not_null())
                .col(ColumnDef::new(PipelineRollouts::StartedByName).string().not_null())
                .col(
                    ColumnDef::new(PipelineRollouts::StartedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PipelineRollouts::CurrentCalls)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(PipelineRollouts::CurrentFaults)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(PipelineRollouts::CandidateCalls)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(PipelineRollouts::CandidateFaults)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new(PipelineRollouts::Recent).text().not_null().default(""))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_pipeline_rollouts_tenant")
                        .from_tbl(PipelineRollouts::Table)
                        .from_col(PipelineRollouts::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PluginLogs::Table)
                .col(
                    ColumnDef::new(PluginLogs::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(PluginLogs::TenantId).string().not_null())
                .col(ColumnDef::new(PluginLogs::At).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(PluginLogs::Plugin).string().not_null())
                .col(ColumnDef::new(PluginLogs::PluginName).string().not_null())
                .col(ColumnDef::new(PluginLogs::Hook).string().not_null())
                .col(ColumnDef::new(PluginLogs::Level).string().not_null())
                .col(ColumnDef::new(PluginLogs::Message).text().not_null())
                .col(ColumnDef::new(PluginLogs::ChatId).string().null())
                .col(ColumnDef::new(PluginLogs::Outcome).string().null())
                .col(ColumnDef::new(PluginLogs::Fuel).big_integer().null())
                .col(ColumnDef::new(PluginLogs::ElapsedMs).double().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_plugin_logs_tenant")
                        .from_tbl(PluginLogs::Table)
                        .from_col(PluginLogs::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_plugin_logs_tenant_id")
                .table(PluginLogs::Table)
                .col(PluginLogs::TenantId)
                .col(PluginLogs::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PluginLogs::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(PipelineRollouts::Table).to_owned())
            .await?;
        for column in [PipelineHooks::Secrets, PipelineHooks::AllowedHosts] {
            m.alter_table(
                Table::alter()
                    .table(PipelineHooks::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .drop_column(Tenants::RolloutId)
                .to_owned(),
        )
        .await
    }
}
