//! `agents.last_assigned_at`: when the agent was last given a ticket, which
//! the round-robin assignment rule weighs (the agent assigned longest ago
//! goes next). Kept by triggers on `tickets`, beside the open-ticket count
//! of migration 4, so no code path can forget it and a conversion pays no
//! extra statement: per row on SQLite, per statement on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    LastAssignedAt,
}

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER tickets_last_assigned_insert AFTER INSERT ON tickets
     WHEN NEW.assignee_id IS NOT NULL
     BEGIN
       UPDATE agents SET last_assigned_at = NEW.updated_at WHERE id = NEW.assignee_id;
     END",
    "CREATE TRIGGER tickets_last_assigned_update AFTER UPDATE OF assignee_id ON tickets
     WHEN NEW.assignee_id IS NOT NULL AND NEW.assignee_id IS NOT OLD.assignee_id
     BEGIN
       UPDATE agents SET last_assigned_at = NEW.updated_at WHERE id = NEW.assignee_id;
     END",
];

const POSTGRES_TRIGGERS: [&str; 3] = [
    // Each branch names only the transition tables its event has: an
    // INSERT trigger has no old rows to plan a query against.
    "CREATE FUNCTION tickets_last_assigned() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         UPDATE agents SET last_assigned_at = d.at
         FROM (SELECT assignee_id, MAX(updated_at) AS at FROM new_rows
               WHERE assignee_id IS NOT NULL GROUP BY assignee_id) AS d
         WHERE agents.id = d.assignee_id;
       ELSE
         UPDATE agents SET last_assigned_at = d.at
         FROM (SELECT n.assignee_id, MAX(n.updated_at) AS at
               FROM new_rows n JOIN old_rows o ON o.id = n.id
               WHERE n.assignee_id IS NOT NULL AND n.assignee_id IS DISTINCT FROM o.assignee_id
               GROUP BY n.assignee_id) AS d
         WHERE agents.id = d.assignee_id;
       END IF;
       RETURN NULL;
     END $$",
    "CREATE TRIGGER tickets_last_assigned_insert AFTER INSERT ON tickets
     REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION tickets_last_assigned()",
    "CREATE TRIGGER tickets_last_assigned_update AFTER UPDATE ON tickets
     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION tickets_last_assigned()",
];

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .add_column(ColumnDef::new(Agents::LastAssignedAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // The newest ticket each agent holds, for agents assigned before.
        db.execute_unprepared(
            "UPDATE agents SET last_assigned_at = (
                 SELECT MAX(t.created_at) FROM tickets t WHERE t.assignee_id = agents.id)",
        )
        .await?;
        match m.get_database_backend() {
            DbBackend::Postgres => {
                for sql in POSTGRES_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for sql in SQLITE_TRIGGERS {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for sql in [
            "DROP TRIGGER IF EXISTS tickets_last_assigned_insert ON tickets",
            "DROP TRIGGER IF EXISTS tickets_last_assigned_update ON tickets",
            "DROP FUNCTION IF EXISTS tickets_last_assigned()",
        ] {
            if m.get_database_backend() == DbBackend::Postgres {
                db.execute_unprepared(sql).await?;
            }
        }
        if m.get_database_backend() != DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS tickets_last_assigned_insert")
                .await?;
            db.execute_unprepared("DROP TRIGGER IF EXISTS tickets_last_assigned_update")
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Agents::Table)
                .drop_column(Agents::LastAssignedAt)
                .to_owned(),
        )
        .await
    }
}
