//! A conversion's reads: the snapshot the pipeline's hooks run on.
//!
//! The snapshot is one query: the chat joined with its visitor and its
//! workspace (one row), its public messages in a JSON array beside them.
//! Nothing here reads a workspace's tickets, so the cost does not grow as
//! tickets pile up; nor its agents, so it does not grow with the team
//! either. The assignment pool (with the open-ticket counters the database
//! keeps) is a second query, made only when the assignment hook asks for
//! candidates. The
//! commit is `conversion_commit.rs`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{ColumnTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder};

use super::entities::{agent, chat, tenant, visitor};
use super::plugins::candidate;
use super::{Chat, Store, StoreError, StoreResult, Tenant, Visitor, prefixed};
use crate::domain::MessageKind;
use crate::domain::hooks::HookCandidate;

/// What a conversion reads before its hooks run.
#[derive(Debug, Clone)]
pub struct ConversionSnapshot {
    pub tenant: Tenant,
    pub chat: Chat,
    pub visitor: Visitor,
    /// The chat's messages in order, internal notes left out.
    pub messages: Vec<SnapshotMessage>,
}

/// A message as the hooks need it.
#[derive(Debug, Clone)]
pub struct SnapshotMessage {
    pub kind: String,
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The chat, its visitor, its workspace and its public messages in one
    /// query: the messages come as one JSON array the database builds (a
    /// second statement would be a second hand-off, or round trip, for
    /// every conversion).
    pub async fn conversion_snapshot(&self, tenant_id: &str, chat_id: &str) -> StoreResult<ConversionSnapshot> {
        let query = snapshot_query(self.backend(), tenant_id, chat_id);
        let row = self
            .hot_query_one(self.backend().build(&query))
            .await?
            .ok_or(StoreError::NotFound)?;
        let chat = Chat::from_query_result(&row, "c_")?;
        let visitor = Visitor::from_query_result(&row, "v_")?;
        let tenant = Tenant::from_query_result(&row, "t_")?;
        let json: String = row.try_get("", "m_json")?;
        let messages = snapshot_messages(&json)
            .ok_or_else(|| StoreError::from(DbErr::Custom(format!("the messages of chat {chat_id} did not read"))))?;
        Ok(ConversionSnapshot {
            tenant,
            chat,
            visitor,
            messages,
        })
    }

    /// The workspace's assignment pool: its active agents (deactivated ones
    /// are in no pool), oldest first, with their open-ticket counters.
    pub async fn assignment_candidates(&self, tenant_id: &str) -> StoreResult<Vec<HookCandidate>> {
        let agents = agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant_id))
            .filter(agent::Column::Active.eq(true))
            .order_by_asc(agent::Column::CreatedAt)
            .order_by_asc(agent::Column::Id)
            .all(&self.db)
            .await?;
        Ok(agents.into_iter().map(candidate).collect())
    }
}

/// The query behind [`Store::conversion_snapshot`], which each new
/// connection of the request pool also runs once before it serves anyone
/// (`warm.rs`).
pub(super) fn snapshot_query(backend: DbBackend, tenant_id: &str, chat_id: &str) -> SelectStatement {
    let mut query = Query::select();
    prefixed::<chat::Entity>(&mut query, "c_");
    prefixed::<visitor::Entity>(&mut query, "v_");
    prefixed::<tenant::Entity>(&mut query, "t_");
    let internal = MessageKind::InternalNote.as_str();
    let messages = match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "(SELECT COALESCE(json_agg(json_build_array(m.kind, m.author_name, m.body, m.created_at) \
              ORDER BY m.id), '[]')::text FROM messages m \
              WHERE m.tenant_id = chats.tenant_id AND m.chat_id = chats.id AND m.kind <> $1)",
            [internal],
        ),
        _ => Expr::cust_with_values(
            "(SELECT json_group_array(json_array(m.kind, m.author_name, m.body, m.created_at)) \
              FROM (SELECT kind, author_name, body, created_at FROM messages \
                    WHERE tenant_id = chats.tenant_id AND chat_id = chats.id AND kind <> ? ORDER BY id) AS m)",
            [internal],
        ),
    };
    query
        .expr_as(messages, Alias::new("m_json"))
        .from(chat::Entity)
        .join(
            JoinType::InnerJoin,
            visitor::Entity,
            Expr::col((visitor::Entity, visitor::Column::Id))
                .equals((chat::Entity, chat::Column::VisitorId))
                .and(
                    Expr::col((visitor::Entity, visitor::Column::TenantId))
                        .equals((chat::Entity, chat::Column::TenantId)),
                ),
        )
        .join(
            JoinType::InnerJoin,
            tenant::Entity,
            Expr::col((tenant::Entity, tenant::Column::Id)).equals((chat::Entity, chat::Column::TenantId)),
        )
        .and_where(Expr::col((chat::Entity, chat::Column::Id)).eq(chat_id))
        .and_where(Expr::col((chat::Entity, chat::Column::TenantId)).eq(tenant_id));
    query
}

/// The messages of a snapshot from the JSON array of `[kind, author_name,
/// body, created_at]` the snapshot's query builds.
fn snapshot_messages(json: &str) -> Option<Vec<SnapshotMessage>> {
    let rows: Vec<(String, String, String, String)> = serde_json::from_str(json).ok()?;
    rows.into_iter()
        .map(|(kind, author_name, body, at)| {
            Some(SnapshotMessage {
                kind,
                author_name,
                body,
                created_at: json_time(&at)?,
            })
        })
        .collect()
}

/// A time as the database writes it into JSON: PostgreSQL as ISO 8601
/// (`2026-12-07T06:00:00.123456+00:00`), SQLite as the text stored
/// (`2026-12-07 06:00:00.123456+00:00`, or without the offset for UTC).
fn json_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_times_read_as_either_database_writes_them() {
        let at = "2026-12-07T06:00:00.123456Z".parse::<DateTime<Utc>>().unwrap();
        for s in [
            "2026-12-07T06:00:00.123456+00:00",
            "2026-12-07 06:00:00.123456+00:00",
            "2026-12-07 07:00:00.123456+01:00",
            "2026-12-07 06:00:00.123456",
        ] {
            assert_eq!(json_time(s), Some(at), "{s}");
        }
        assert_eq!(json_time("yesterday"), None);
        let json = r#"[["visitor","Grace","Hi \"there\"","2026-12-07T06:00:00.123456+00:00"]]"#;
        let messages = snapshot_messages(json).unwrap();
        assert_eq!(
            (messages[0].body.as_str(), messages[0].created_at),
            ("Hi \"there\"", at)
        );
        assert!(snapshot_messages("[]").unwrap().is_empty());
        assert!(snapshot_messages(r#"[["visitor","Grace","Hi","now"]]"#).is_none());
    }
}
