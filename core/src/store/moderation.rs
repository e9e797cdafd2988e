//! Spam and blocked visitors. Marking a chat as spam closes it and takes
//! it out of the lists; blocking its visitor (and, if the agent chooses,
//! their address) keeps them from starting a chat or writing, which the
//! widget's routes check with one indexed lookup.

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::chats::{NewMessage, insert_message};
use super::entities::{chat, visitor, visitor_block};
use super::{Agent, Chat, Store, StoreError, StoreResult, new_id};
use crate::domain::{ChatStatus, MessageKind};

pub type VisitorBlock = visitor_block::Model;

/// Blocks a workspace's admins see at most (newest first).
pub const MAX_BLOCKS_LISTED: u64 = 500;

impl Store {
    /// Marks a chat as spam (closing it if open), and blocks its visitor
    /// if `block` (by address too if `block_email` and one is known), in
    /// one transaction; agents see an internal line saying so. Returns
    /// the chat and the block.
    pub async fn mark_spam(
        &self,
        tenant_id: &str,
        chat_id: &str,
        by: &Agent,
        block: bool,
        block_email: bool,
    ) -> StoreResult<(Chat, Option<VisitorBlock>)> {
        let txn = self.write_txn().await?;
        let found = chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let now = Utc::now().trunc_subsecs(6);
        chat::Entity::update_many()
            .col_expr(chat::Column::Spam, Expr::value(true))
            .col_expr(chat::Column::Status, Expr::value(ChatStatus::Closed.as_str()))
            .col_expr(chat::Column::ClosedAt, Expr::value(found.closed_at.unwrap_or(now)))
            .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
            .filter(chat::Column::Id.eq(chat_id))
            .exec(&txn)
            .await?;
        let chat = chat::Entity::find_by_id(chat_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut blocked = None;
        if block {
            let visitor = visitor::Entity::find_by_id(&chat.visitor_id)
                .filter(visitor::Column::TenantId.eq(tenant_id))
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
            let existing = visitor_block::Entity::find()
                .filter(visitor_block::Column::TenantId.eq(tenant_id))
                .filter(visitor_block::Column::VisitorId.eq(&visitor.id))
                .one(&txn)
                .await?;
            blocked = Some(match existing {
                Some(b) => b,
                None => {
                    visitor_block::ActiveModel {
                        id: Set(new_id()),
                        tenant_id: Set(tenant_id.to_owned()),
                        visitor_id: Set(visitor.id.clone()),
                        email_normalized: Set(visitor.email.filter(|_| block_email).map(|e| e.to_lowercase())),
                        visitor_name: Set(visitor.name.clone()),
                        chat_id: Set(chat_id.to_owned()),
                        blocked_by: Set(by.id.clone()),
                        created_at: Set(now),
                    }
                    .insert(&txn)
                    .await?
                }
            });
        }
        let line = if block {
            "marked this chat as spam and blocked the visitor"
        } else {
            "marked this chat as spam"
        };
        let note = NewMessage {
            kind: MessageKind::InternalNote,
            author_name: by.name.clone(),
            agent_id: Some(by.id.clone()),
            body: line.to_owned(),
        };
        insert_message(&txn, &chat, &note, now).await?;
        txn.commit().await?;
        Ok((chat, blocked))
    }

    /// Whether the visitor `visitor_id`, or the address `email`, is blocked
    /// in the workspace.
    pub async fn is_blocked(
        &self,
        tenant_id: &str,
        visitor_id: Option<&str>,
        email: Option<&str>,
    ) -> StoreResult<bool> {
        let mut any = Condition::any();
        if let Some(id) = visitor_id {
            any = any.add(visitor_block::Column::VisitorId.eq(id));
        }
        if let Some(email) = email {
            any = any.add(visitor_block::Column::EmailNormalized.eq(email.to_lowercase()));
        }
        if visitor_id.is_none() && email.is_none() {
            return Ok(false);
        }
        let found = visitor_block::Entity::find()
            .select_only()
            .column(visitor_block::Column::Id)
            .filter(visitor_block::Column::TenantId.eq(tenant_id))
            .filter(any)
            .limit(1)
            .into_tuple::<String>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// The workspace's blocks, newest first.
    pub async fn blocks(&self, tenant_id: &str) -> StoreResult<Vec<VisitorBlock>> {
        Ok(visitor_block::Entity::find()
            .filter(visitor_block::Column::TenantId.eq(tenant_id))
            .order_by_desc(visitor_block::Column::CreatedAt)
            .limit(MAX_BLOCKS_LISTED)
            .all(&self.db)
            .await?)
    }

    /// Lifts a block: the visitor may chat again.
    pub async fn unblock(&self, tenant_id: &str, id: &str) -> StoreResult<()> {
        let done = visitor_block::Entity::delete_many()
            .filter(visitor_block::Column::Id.eq(id))
            .filter(visitor_block::Column::TenantId.eq(tenant_id))
            .exec(&self.writer)
            .await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
