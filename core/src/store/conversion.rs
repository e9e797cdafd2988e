//! A conversion's reads: the snapshot the pipeline's hooks run on.
//!
//! The snapshot is two queries: the chat joined with its visitor, its
//! workspace and the workspace's agents (with the open-ticket counters the
//! database keeps), then the chat's public messages. Nothing here reads a
//! workspace's tickets, so the cost does not grow as tickets pile up. The
//! commit is `conversion_commit.rs`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{agent, chat, message, tenant, visitor};
use super::plugins::candidate;
use super::{Agent, Chat, Store, StoreError, StoreResult, Tenant, Visitor, prefixed};
use crate::domain::MessageKind;
use crate::domain::hooks::HookCandidate;

/// What a conversion reads before its hooks run.
#[derive(Debug, Clone)]
pub struct ConversionSnapshot {
    pub tenant: Tenant,
    pub chat: Chat,
    pub visitor: Visitor,
    /// Every agent of the workspace, oldest first, as assignment rules see
    /// them.
    pub candidates: Vec<HookCandidate>,
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
    /// The chat, its visitor, its workspace and the workspace's agents in
    /// one query (a row per agent), then its public messages in another.
    pub async fn conversion_snapshot(&self, tenant_id: &str, chat_id: &str) -> StoreResult<ConversionSnapshot> {
        let mut query = Query::select();
        prefixed::<chat::Entity>(&mut query, "c_");
        prefixed::<visitor::Entity>(&mut query, "v_");
        prefixed::<tenant::Entity>(&mut query, "t_");
        prefixed::<agent::Entity>(&mut query, "a_");
        query
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
            .join(
                JoinType::LeftJoin,
                agent::Entity,
                // Deactivated agents are in no assignment pool.
                Expr::col((agent::Entity, agent::Column::TenantId))
                    .equals((chat::Entity, chat::Column::TenantId))
                    .and(Expr::col((agent::Entity, agent::Column::Active)).eq(true)),
            )
            .and_where(Expr::col((chat::Entity, chat::Column::Id)).eq(chat_id))
            .and_where(Expr::col((chat::Entity, chat::Column::TenantId)).eq(tenant_id))
            .order_by((agent::Entity, agent::Column::CreatedAt), Order::Asc)
            .order_by((agent::Entity, agent::Column::Id), Order::Asc);
        let rows = self.db.query_all(&query).await?;
        let first = rows.first().ok_or(StoreError::NotFound)?;
        let chat = Chat::from_query_result(first, "c_")?;
        let visitor = Visitor::from_query_result(first, "v_")?;
        let tenant = Tenant::from_query_result(first, "t_")?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(agent) = Agent::from_query_result_optional(row, "a_")? {
                candidates.push(candidate(agent));
            }
        }

        let internal = MessageKind::InternalNote.as_str();
        let messages = message::Entity::find()
            .select_only()
            .columns([
                message::Column::Kind,
                message::Column::AuthorName,
                message::Column::Body,
                message::Column::CreatedAt,
            ])
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::ChatId.eq(chat_id))
            .filter(message::Column::Kind.ne(internal))
            .order_by_asc(message::Column::Id)
            .into_tuple::<(String, String, String, DateTime<Utc>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(kind, author_name, body, created_at)| SnapshotMessage {
                kind,
                author_name,
                body,
                created_at,
            })
            .collect();
        Ok(ConversionSnapshot {
            tenant,
            chat,
            visitor,
            candidates,
            messages,
        })
    }
}
