//! Plugins: the WebAssembly components a workspace installs, which one runs
//! each hook of its conversion pipeline (with settings, failure policy and
//! limits), and the faults plugins caused. Also what assignment plugins see of
//! agents (skills, when they were last seen) and the workspace's time zone.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    TimeZone,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Skills,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Id,
    TenantId,
    Name,
    Sha256,
    SizeBytes,
    Wasm,
    Hooks,
    UploadedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PipelineHooks {
    Table,
    TenantId,
    Hook,
    /// A built-in plugin's name (`subject-default`, …) or an uploaded plugin's id.
    Plugin,
    Config,
    Policy,
    Fuel,
    TimeoutMs,
    MemoryBytes,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PluginFaults {
    Table,
    Id,
    TenantId,
    Hook,
    Plugin,
    PluginName,
    ChatId,
    Reason,
    Outcome,
    CreatedAt,
}

/// Rows of a workspace go when the workspace goes.
fn belongs_to_tenant(name: &str, table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Tenants::Table)
                .add_column(string(Tenants::TimeZone).default("UTC"))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(text(Agents::Skills).default("[]"))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(timestamp_with_time_zone_null(Agents::LastSeenAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Plugins::Table)
                .col(string(Plugins::Id).primary_key())
                .col(string(Plugins::TenantId))
                .col(string(Plugins::Name))
                .col(string(Plugins::Sha256))
                .col(big_integer(Plugins::SizeBytes))
                .col(blob(Plugins::Wasm))
                // Comma-separated hook names the component exports.
                .col(string(Plugins::Hooks))
                .col(string(Plugins::UploadedBy))
                .col(timestamp_with_time_zone(Plugins::CreatedAt))
                .foreign_key(&mut belongs_to_tenant(
                    "fk_plugins_tenant",
                    Plugins::Table,
                    Plugins::TenantId,
                ))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plugins_tenant_name")
                .table(Plugins::Table)
                .col(Plugins::TenantId)
                .col(Plugins::Name)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PipelineHooks::Table)
                .col(string(PipelineHooks::TenantId))
                .col(string(PipelineHooks::Hook))
                .col(string(PipelineHooks::Plugin))
                // JSON object of string settings.
                .col(text(PipelineHooks::Config).default("{}"))
                .col(string(PipelineHooks::Policy))
                .col(big_integer(PipelineHooks::Fuel))
                .col(integer(PipelineHooks::TimeoutMs))
                .col(big_integer(PipelineHooks::MemoryBytes))
                .col(timestamp_with_time_zone(PipelineHooks::UpdatedAt))
                .primary_key(Index::create().col(PipelineHooks::TenantId).col(PipelineHooks::Hook))
                .foreign_key(&mut belongs_to_tenant(
                    "fk_pipeline_hooks_tenant",
                    PipelineHooks::Table,
                    PipelineHooks::TenantId,
                ))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PluginFaults::Table)
                .col(string(PluginFaults::Id).primary_key())
                .col(string(PluginFaults::TenantId))
                .col(string(PluginFaults::Hook))
                .col(string(PluginFaults::Plugin))
                .col(string(PluginFaults::PluginName))
                .col(string_null(PluginFaults::ChatId))
                .col(text(PluginFaults::Reason))
                .col(string(PluginFaults::Outcome))
                .col(timestamp_with_time_zone(PluginFaults::CreatedAt))
                .foreign_key(&mut belongs_to_tenant(
                    "fk_plugin_faults_tenant",
                    PluginFaults::Table,
                    PluginFaults::TenantId,
                ))
                .take(),
        )
        .await?;
        // Newest first, per workspace: the faults page.
        m.create_index(
            Index::create()
                .name("ix_plugin_faults_tenant_id")
                .table(PluginFaults::Table)
                .col(PluginFaults::TenantId)
                .col(PluginFaults::Id)
                .take(),
        )
        .await?;
        Ok(())
    }
}
