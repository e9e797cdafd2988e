//! `agents.last_assigned_at`: when the agent was last given a ticket, which
//! the round-robin assignment rule weighs (the agent assigned longest ago
//! goes next). Kept by the triggers on `tickets` that keep the open-ticket
//! count (migration 4), in the same UPDATE of the agent's row when a
//! ticket is inserted: a second UPDATE there (a second row version per
//! conversion) measured 0.2-0.3 ms more PostgreSQL CPU a conversion. A
//! change of a ticket's assignee sets it too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261126_000004_conversion_cost as counts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    LastAssignedAt,
}

const SQLITE_UP: [&str; 3] = [
    "DROP TRIGGER tickets_open_count_insert",
    "CREATE TRIGGER tickets_open_count_insert AFTER INSERT ON tickets
     WHEN NEW.assignee_id IS NOT NULL
     BEGIN
       UPDATE agents SET
         open_tickets = open_tickets + (CASE WHEN NEW.status NOT IN ('solved', 'closed') THEN 1 ELSE 0 END),
         last_assigned_at = NEW.updated_at
       WHERE id = NEW.assignee_id;
     END",
    "CREATE TRIGGER tickets_last_assigned_update AFTER UPDATE OF assignee_id ON tickets
     WHEN NEW.assignee_id IS NOT NULL AND NEW.assignee_id IS NOT OLD.assignee_id
     BEGIN
       UPDATE agents SET last_assigned_at = NEW.updated_at WHERE id = NEW.assignee_id;
     END",
];

// Migration 4's function, with the insert branch setting both columns and
// the update branch also noting new assignees.
const POSTGRES_FUNCTION: &str = "CREATE OR REPLACE FUNCTION tickets_open_count() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'INSERT' THEN
         UPDATE agents SET open_tickets = open_tickets + d.n,
                           last_assigned_at = GREATEST(agents.last_assigned_at, d.at)
         FROM (SELECT assignee_id,
                      COUNT(*) FILTER (WHERE status NOT IN ('solved', 'closed')) AS n,
                      MAX(updated_at) AS at
               FROM new_rows WHERE assignee_id IS NOT NULL GROUP BY assignee_id) AS d
         WHERE agents.id = d.assignee_id;
       ELSIF TG_OP = 'DELETE' THEN
         UPDATE agents SET open_tickets = open_tickets - d.n
         FROM (SELECT assignee_id, COUNT(*) AS n FROM old_rows
               WHERE assignee_id IS NOT NULL AND status NOT IN ('solved', 'closed')
               GROUP BY assignee_id) AS d
         WHERE agents.id = d.assignee_id;
       ELSE
         UPDATE agents SET open_tickets = open_tickets + d.n
         FROM (SELECT assignee_id, SUM(n) AS n FROM (
                 SELECT assignee_id, -1 AS n FROM old_rows
                 WHERE assignee_id IS NOT NULL AND status NOT IN ('solved', 'closed')
                 UNION ALL
                 SELECT assignee_id, 1 AS n FROM new_rows
                 WHERE assignee_id IS NOT NULL AND status NOT IN ('solved', 'closed')
               ) AS changes GROUP BY assignee_id HAVING SUM(n) <> 0) AS d
         WHERE agents.id = d.assignee_id;
         UPDATE agents SET last_assigned_at = d.at
         FROM (SELECT n.assignee_id, MAX(n.updated_at) AS at
               FROM new_rows n JOIN old_rows o ON o.id = n.id
               WHERE n.assignee_id IS NOT NULL AND n.assignee_id IS DISTINCT FROM o.assignee_id
               GROUP BY n.assignee_id) AS d
         WHERE agents.id = d.assignee_id;
       END IF;
       RETURN NULL;
     END $$";

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
                db.execute_unprepared(POSTGRES_FUNCTION).await?;
            }
            _ => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                let previous =
                    counts::POSTGRES_TRIGGERS[0].replacen("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1);
                db.execute_unprepared(&previous).await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER tickets_last_assigned_update")
                    .await?;
                db.execute_unprepared("DROP TRIGGER tickets_open_count_insert").await?;
                db.execute_unprepared(counts::SQLITE_TRIGGERS[0]).await?;
            }
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
