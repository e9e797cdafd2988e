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
use sea_orm::{ColumnTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QueryResult};

use super::credentials::{token_query_with, token_row};
use super::entities::{agent, agent_credential, chat, tenant, visitor};
use super::plugins::candidate;
use super::{Agent, Chat, Credential, Store, StoreError, StoreResult, Tenant, Visitor, prefixed, token_hash};
use crate::domain::MessageKind;
use crate::domain::hooks::HookCandidate;
use crate::domain::hosting::WorkspaceStatus;

/// A conversion's first read: who calls (as [`Store::agent_by_token`]
/// says) and, if their workspace has the chat, its snapshot.
#[derive(Debug, Clone)]
pub struct AuthorizedSnapshot {
    pub agent: Agent,
    pub credential: Credential,
    pub status: WorkspaceStatus,
    pub snapshot: Option<ConversionSnapshot>,
}

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
        snapshot_of(&row, "c_", chat_id)
    }

    /// [`Store::agent_by_token`] and [`Store::conversion_snapshot`] of the
    /// token's workspace in one query: a conversion's first two reads in
    /// one hand-off to a SQLite connection's thread, or one round trip to
    /// PostgreSQL, instead of two. NotFound when the token is not a live
    /// one; no snapshot when the workspace has no such chat.
    pub async fn authorized_snapshot(&self, token: &str, chat_id: &str) -> StoreResult<AuthorizedSnapshot> {
        let query = authorized_snapshot_query(self.backend(), token_hash(token), Utc::now(), chat_id);
        let row = self
            .hot_query_one(self.backend().build(&query))
            .await?
            .ok_or(StoreError::NotFound)?;
        let (agent, credential, status) = token_row(&row)?;
        let found: Option<String> = row.try_get("", "h_id")?;
        let snapshot = found.map(|_| snapshot_of(&row, "h_", chat_id)).transpose()?;
        Ok(AuthorizedSnapshot {
            agent,
            credential,
            status,
            snapshot,
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

/// The snapshot in a row of [`snapshot_query`] (its chat's columns named
/// with `chat_prefix`) or of [`authorized_snapshot_query`].
fn snapshot_of(row: &QueryResult, chat_prefix: &str, chat_id: &str) -> StoreResult<ConversionSnapshot> {
    let chat = Chat::from_query_result(row, chat_prefix)?;
    let visitor = Visitor::from_query_result(row, "v_")?;
    let tenant = Tenant::from_query_result(row, "t_")?;
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

/// The query behind [`Store::conversion_snapshot`], which each new
/// connection of the request pool also runs once before it serves anyone
/// (`warm.rs`).
pub(super) fn snapshot_query(backend: DbBackend, tenant_id: &str, chat_id: &str) -> SelectStatement {
    let mut query = Query::select();
    prefixed::<chat::Entity>(&mut query, "c_");
    prefixed::<visitor::Entity>(&mut query, "v_");
    prefixed::<tenant::Entity>(&mut query, "t_");
    query
        .expr_as(messages_json(backend), Alias::new("m_json"))
        .from(chat::Entity)
        .join(JoinType::InnerJoin, visitor::Entity, visitor_of_chat())
        .join(
            JoinType::InnerJoin,
            tenant::Entity,
            Expr::col((tenant::Entity, tenant::Column::Id)).equals((chat::Entity, chat::Column::TenantId)),
        )
        .and_where(Expr::col((chat::Entity, chat::Column::Id)).eq(chat_id))
        .and_where(Expr::col((chat::Entity, chat::Column::TenantId)).eq(tenant_id));
    query
}

/// The query behind [`Store::authorized_snapshot`] (also warmed on each new
/// connection): the token's row as [`token_query_with`] reads it, and the
/// chat of the token's workspace (`h_`, left joined: absent, the rest of
/// the row still says who called), its visitor and messages. The chat is
/// looked for only in the caller's workspace.
pub(super) fn authorized_snapshot_query(
    backend: DbBackend,
    hash: String,
    now: DateTime<Utc>,
    chat_id: &str,
) -> SelectStatement {
    let mut query = Query::select();
    prefixed::<chat::Entity>(&mut query, "h_");
    prefixed::<visitor::Entity>(&mut query, "v_");
    prefixed::<tenant::Entity>(&mut query, "t_");
    query.expr_as(messages_json(backend), Alias::new("m_json"));
    let mut query = token_query_with(query, hash, now);
    query
        .join(
            JoinType::LeftJoin,
            chat::Entity,
            Expr::col((chat::Entity, chat::Column::Id)).eq(chat_id).and(
                Expr::col((chat::Entity, chat::Column::TenantId))
                    .equals((agent_credential::Entity, agent_credential::Column::TenantId)),
            ),
        )
        .join(JoinType::LeftJoin, visitor::Entity, visitor_of_chat());
    query
}

/// The chat's visitor, of the chat's workspace.
fn visitor_of_chat() -> sea_orm::sea_query::SimpleExpr {
    Expr::col((visitor::Entity, visitor::Column::Id))
        .equals((chat::Entity, chat::Column::VisitorId))
        .and(Expr::col((visitor::Entity, visitor::Column::TenantId)).equals((chat::Entity, chat::Column::TenantId)))
}

/// The chat's public messages as one JSON array the database builds, of
/// `[kind, author_name, body, created_at]` in order.
fn messages_json(backend: DbBackend) -> sea_orm::sea_query::SimpleExpr {
    let internal = MessageKind::InternalNote.as_str();
    match backend {
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
    }
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
