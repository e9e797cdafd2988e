//! A conversion's reads: the snapshot the pipeline's hooks run on.
//!
//! The snapshot is two queries: the chat joined with its visitor and its
//! workspace (one row), then the chat's public messages. Nothing here reads
//! a workspace's tickets, so the cost does not grow as tickets pile up; nor
//! its agents, so it does not grow with the team either. The assignment
//! pool (with the open-ticket counters the database keeps) is a third
//! query, made only when the assignment hook asks for candidates. The
//! commit is `conversion_commit.rs`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{agent, chat, message, tenant, visitor};
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
    /// The chat, its visitor and its workspace in one query, then its
    /// public messages in another.
    pub async fn conversion_snapshot(&self, tenant_id: &str, chat_id: &str) -> StoreResult<ConversionSnapshot> {
        let mut query = Query::select();
        prefixed::<chat::Entity>(&mut query, "c_");
        prefixed::<visitor::Entity>(&mut query, "v_");
        prefixed::<tenant::Entity>(&mut query, "t_");
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
            .and_where(Expr::col((chat::Entity, chat::Column::Id)).eq(chat_id))
            .and_where(Expr::col((chat::Entity, chat::Column::TenantId)).eq(tenant_id));
        let row = self.db.query_one(&query).await?.ok_or(StoreError::NotFound)?;
        let chat = Chat::from_query_result(&row, "c_")?;
        let visitor = Visitor::from_query_result(&row, "v_")?;
        let tenant = Tenant::from_query_result(&row, "t_")?;

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
