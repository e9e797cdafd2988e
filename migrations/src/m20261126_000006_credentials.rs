//! Agents sign in with a password and get a session; scripts use named API
//! tokens. Both live in `agent_credentials`, stored as hashes.
//!
//! Each agent's existing token becomes an API token named "created with the
//! agent", so scripts keep working. `agents.token_hash` then holds a value no
//! token hashes to (`retired:<agent id>`): SQLite cannot drop a column that
//! has a UNIQUE constraint without rebuilding the table and the triggers and
//! foreign keys around it, so the column stays, unused.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
    PasswordHash,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AgentCredentials {
    Table,
    Id,
    TenantId,
    AgentId,
    Kind,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // An argon2id PHC string; none until a password is set.
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(string_null(Agents::PasswordHash))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AgentCredentials::Table)
                .col(ColumnDef::new(AgentCredentials::Id).string().not_null().primary_key())
                .col(string(AgentCredentials::TenantId))
                .col(string(AgentCredentials::AgentId))
                // `session` (from a sign-in; expires) or `api` (named, for
                // scripts; lasts until revoked).
                .col(string(AgentCredentials::Kind))
                .col(string(AgentCredentials::Name))
                .col(string_uniq(AgentCredentials::TokenHash))
                .col(timestamp_with_time_zone(AgentCredentials::CreatedAt))
                .col(timestamp_with_time_zone_null(AgentCredentials::LastUsedAt))
                .col(timestamp_with_time_zone_null(AgentCredentials::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agent_credentials_tenant")
                        .from(AgentCredentials::Table, AgentCredentials::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agent_credentials_agent")
                        .from(AgentCredentials::Table, AgentCredentials::AgentId)
                        .to(Agents::Table, Agents::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // An agent's own credentials (sign-in prunes its expired sessions),
        // and a workspace's tokens for the admins' list.
        m.create_index(
            Index::create()
                .name("ix_agent_credentials_agent")
                .table(AgentCredentials::Table)
                .col(AgentCredentials::AgentId)
                .col(AgentCredentials::Kind)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_agent_credentials_tenant")
                .table(AgentCredentials::Table)
                .col(AgentCredentials::TenantId)
                .col(AgentCredentials::Kind)
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO agent_credentials (id, tenant_id, agent_id, kind, name, token_hash, created_at)
             SELECT 'api-' || id, tenant_id, id, 'api', 'created with the agent', token_hash, created_at
             FROM agents",
        )
        .await?;
        db.execute_unprepared("UPDATE agents SET token_hash = 'retired:' || id")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Each agent gets back its oldest API token (the one it was created
        // with, unless an admin revoked that); sessions and later tokens end.
        db.execute_unprepared(
            "UPDATE agents SET token_hash = (
                 SELECT c.token_hash FROM agent_credentials c
                 WHERE c.agent_id = agents.id AND c.kind = 'api'
                 ORDER BY c.created_at, c.id LIMIT 1
             )
             WHERE EXISTS (SELECT 1 FROM agent_credentials c WHERE c.agent_id = agents.id AND c.kind = 'api')",
        )
        .await?;
        m.drop_table(Table::drop().table(AgentCredentials::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .drop_column(Agents::PasswordHash)
                .to_owned(),
        )
        .await
    }
}
