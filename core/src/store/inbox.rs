//! What the inbox shows, and who has which chat: the chat list by view
//! (all, mine, unassigned) in order of last activity or of the longest
//! wait, the counts the console's title shows, and assigning, taking and
//! transferring a chat. Every list and count reads one index range of the
//! workspace's chats (migration 18), never its messages.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::chats::{NewMessage, insert_message};
use super::entities::{agent, chat, visitor};
use super::{Agent, Chat, Store, StoreError, StoreResult, Visitor};
use crate::domain::{ChatStatus, MessageKind, SearchQuery};
use threadline_migrations::search::{self, SearchIndex};

/// A row of the chat list: the chat and who it is with.
#[derive(Debug, Clone)]
pub struct ChatListItem {
    pub chat: Chat,
    pub visitor: Visitor,
}

/// Which chats a list shows, and in what order.
#[derive(Debug, Default, Clone)]
pub struct ChatListing<'a> {
    pub status: Option<ChatStatus>,
    pub search: Option<&'a SearchQuery>,
    /// `Some(Some(id))`: that agent's chats; `Some(None)`: nobody's.
    pub assignee: Option<Option<String>>,
    /// Only open chats whose visitor wrote last, the longest waiting
    /// first (instead of every chat, the newest activity first).
    pub longest_waiting: bool,
    /// The last chat of the previous page.
    pub before: Option<&'a Chat>,
    pub limit: u64,
}

/// What the console's title and views count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxCounts {
    /// Open chats whose visitor wrote last.
    pub waiting: u64,
    /// Open chats assigned to the caller.
    pub mine: u64,
    /// Open chats nobody has.
    pub unassigned: u64,
}

impl Store {
    /// A page of the workspace's chats as `listing` says.
    pub async fn list_chats(&self, tenant_id: &str, listing: &ChatListing<'_>) -> StoreResult<Vec<ChatListItem>> {
        let mut query = chat::Entity::find()
            .filter(chat::Column::TenantId.eq(tenant_id))
            // Spam is closed and out of every list.
            .filter(chat::Column::Spam.eq(false))
            .limit(listing.limit);
        let status = if listing.longest_waiting {
            Some(ChatStatus::Open)
        } else {
            listing.status
        };
        if let Some(status) = status {
            query = query.filter(chat::Column::Status.eq(status.as_str()));
        }
        match &listing.assignee {
            Some(Some(id)) => query = query.filter(chat::Column::AssigneeId.eq(id.as_str())),
            Some(None) => query = query.filter(chat::Column::AssigneeId.is_null()),
            None => {}
        }
        for term in listing.search.map(SearchQuery::terms).unwrap_or_default() {
            query = query.filter(chat::Column::Id.in_subquery(search::matching(SearchIndex::Chats, tenant_id, term)));
        }
        if listing.longest_waiting {
            // The visitor wrote last, so the chat's last activity is when
            // they started waiting: the oldest first.
            query = query
                .filter(chat::Column::LastMessageKind.eq(MessageKind::Visitor.as_str()))
                .order_by_asc(chat::Column::UpdatedAt)
                .order_by_asc(chat::Column::Id);
            if let Some(b) = listing.before {
                query = query.filter(
                    Condition::any().add(chat::Column::UpdatedAt.gt(b.updated_at)).add(
                        Condition::all()
                            .add(chat::Column::UpdatedAt.eq(b.updated_at))
                            .add(chat::Column::Id.gt(b.id.as_str())),
                    ),
                );
            }
        } else {
            query = query
                .order_by_desc(chat::Column::UpdatedAt)
                .order_by_desc(chat::Column::Id);
            if let Some(b) = listing.before {
                // Strictly after the cursor in (updated_at, id) order, so a
                // page boundary between two chats of the same instant loses
                // neither. A chat active since the previous page moved to
                // the top, where the live list shows it.
                query = query.filter(
                    Condition::any().add(chat::Column::UpdatedAt.lt(b.updated_at)).add(
                        Condition::all()
                            .add(chat::Column::UpdatedAt.eq(b.updated_at))
                            .add(chat::Column::Id.lt(b.id.as_str())),
                    ),
                );
            }
        }
        let chats = query.all(&self.db).await?;
        let ids: Vec<&str> = chats.iter().map(|c| c.visitor_id.as_str()).collect();
        let visitors: HashMap<String, Visitor> = visitor::Entity::find()
            .filter(visitor::Column::TenantId.eq(tenant_id))
            .filter(visitor::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        Ok(chats
            .into_iter()
            .filter_map(|chat| {
                let visitor = visitors.get(&chat.visitor_id)?.clone();
                Some(ChatListItem { chat, visitor })
            })
            .collect())
    }

    /// The open chats waiting, the caller's, and nobody's: three counts of
    /// index ranges.
    pub async fn inbox_counts(&self, tenant_id: &str, agent_id: &str) -> StoreResult<InboxCounts> {
        let open = || {
            chat::Entity::find()
                .filter(chat::Column::TenantId.eq(tenant_id))
                .filter(chat::Column::Status.eq(ChatStatus::Open.as_str()))
        };
        Ok(InboxCounts {
            waiting: open()
                .filter(chat::Column::LastMessageKind.eq(MessageKind::Visitor.as_str()))
                .count(&self.db)
                .await?,
            mine: open()
                .filter(chat::Column::AssigneeId.eq(agent_id))
                .count(&self.db)
                .await?,
            unassigned: open()
                .filter(chat::Column::AssigneeId.is_null())
                .count(&self.db)
                .await?,
        })
    }

    /// Gives an open chat to `assignee` (an active agent of the workspace)
    /// or to nobody, as `by`: the chat's internal thread records who did
    /// what ("took the chat", "assigned the chat to Bob"), which agents see
    /// and visitors never do. Unchanged, nothing is written. Returns the
    /// chat and the line written, if any.
    pub async fn assign_chat(
        &self,
        tenant_id: &str,
        chat_id: &str,
        by: &Agent,
        assignee: Option<&str>,
    ) -> StoreResult<(Chat, Option<super::Message>)> {
        let txn = self.write_txn().await?;
        let found = chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        if found.status != ChatStatus::Open.as_str() {
            return Err(StoreError::Conflict(
                "this chat is closed; reopen it to give it to someone".into(),
            ));
        }
        if found.assignee_id.as_deref() == assignee {
            txn.commit().await?;
            return Ok((found, None));
        }
        let line = match assignee {
            None => "unassigned the chat".to_owned(),
            Some(id) if id == by.id => "took the chat".to_owned(),
            Some(id) => {
                let to = agent::Entity::find_by_id(id)
                    .filter(agent::Column::TenantId.eq(tenant_id))
                    .one(&txn)
                    .await?;
                match to {
                    Some(a) if a.active => format!("assigned the chat to {}", a.name),
                    Some(a) => {
                        return Err(StoreError::Invalid(
                            "assignee_id",
                            format!("{} is deactivated and takes no chats", a.name),
                        ));
                    }
                    None => {
                        return Err(StoreError::Invalid(
                            "assignee_id",
                            "assignee_id must be an agent of this workspace".into(),
                        ));
                    }
                }
            }
        };
        let now = Utc::now();
        chat::Entity::update_many()
            .col_expr(chat::Column::AssigneeId, Expr::value(assignee.map(str::to_owned)))
            // A conversion's snapshot of this chat is stale now.
            .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
            .filter(chat::Column::Id.eq(chat_id))
            .exec(&txn)
            .await?;
        let chat = chat::Entity::find_by_id(chat_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let note = NewMessage {
            kind: MessageKind::InternalNote,
            author_name: by.name.clone(),
            agent_id: Some(by.id.clone()),
            body: line,
        };
        let message = insert_message(&txn, &chat, &note, now).await?;
        txn.commit().await?;
        Ok((chat, Some(message)))
    }
}
