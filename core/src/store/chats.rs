//! Chats, their messages, and ratings.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::{chat, message, rating, visitor};
use super::events::{Doer, NewEvent};
use super::{Chat, Message, Rating, Store, StoreError, StoreResult, Tenant, Visitor, new_id, new_token};
use crate::domain::automation::EventKind;
use crate::domain::{ChatStatus, MessageKind};
use threadline_migrations::search::SearchIndex;

/// A message about to be written.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: MessageKind,
    pub author_name: String,
    pub agent_id: Option<String>,
    pub body: String,
}

impl NewMessage {
    pub fn system(body: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::System,
            author_name: "System".to_owned(),
            agent_id: None,
            body: body.into(),
        }
    }
}

impl Store {
    /// A visitor starts a chat with a first message. Returns the chat and the
    /// visitor's token (shown once).
    pub async fn start_chat(
        &self,
        tenant: &Tenant,
        visitor_name: &str,
        visitor_email: Option<&str>,
        subject: Option<&str>,
        first_message: &str,
        returning: Option<(&Visitor, &str)>,
    ) -> StoreResult<(Chat, String)> {
        let now = Utc::now();
        let txn = self.write_txn().await?;
        let (visitor, token) = match returning {
            // A visitor back after a chat ended: the same visitor (their
            // chats stay together, their token keeps working), with the
            // name and address they give now.
            Some((known, token)) => {
                let mut row: visitor::ActiveModel = known.clone().into();
                row.name = Set(visitor_name.to_owned());
                if let Some(email) = visitor_email {
                    row.email = Set(Some(email.to_owned()));
                    row.email_normalized = Set(Some(email.trim().to_lowercase()));
                }
                (row.update(&txn).await?, token.to_owned())
            }
            None => {
                let (token, hash) = new_token("tlv");
                let visitor = visitor::ActiveModel {
                    id: Set(new_id()),
                    tenant_id: Set(tenant.id.clone()),
                    name: Set(visitor_name.to_owned()),
                    email: Set(visitor_email.map(str::to_owned)),
                    email_normalized: Set(visitor_email.map(|e| e.trim().to_lowercase())),
                    token_hash: Set(hash),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?;
                (visitor, token)
            }
        };
        let chat = chat::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant.id.clone()),
            visitor_id: Set(visitor.id.clone()),
            subject: Set(subject.map(str::to_owned)),
            status: Set(ChatStatus::Open.to_string()),
            assignee_id: Set(None),
            first_response_at: Set(None),
            summary: Set(None),
            ticket_id: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            closed_at: Set(None),
            last_message_preview: Set(Some(preview(first_message))),
            last_message_kind: Set(Some(MessageKind::Visitor.to_string())),
            spam: Set(false),
            visitor_seen_at: Set(Some(now)),
        }
        .insert(&txn)
        .await?;
        let first = NewMessage {
            kind: MessageKind::Visitor,
            author_name: visitor.name.clone(),
            agent_id: None,
            body: first_message.to_owned(),
        };
        insert_message(&txn, &chat, &first, now).await?;
        let found_by = [Some(visitor_name), visitor_email, subject];
        super::index_terms(
            &txn,
            SearchIndex::Chats,
            &tenant.id,
            &chat.id,
            found_by.into_iter().flatten(),
        )
        .await?;
        super::events::queue(
            &txn,
            &tenant.id,
            NewEvent::new(EventKind::ChatStarted, "visitor").chat(&chat.id),
        )
        .await?;
        txn.commit().await?;
        self.meter.count(&tenant.id, |u| {
            u.chats += 1;
            u.messages += 1;
            u.stored_bytes += (visitor_name.len() + first_message.len() + subject.map_or(0, str::len)) as i64;
        });
        Ok((chat, token))
    }

    pub async fn chat(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Chat> {
        chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn visitor(&self, tenant_id: &str, visitor_id: &str) -> StoreResult<Visitor> {
        visitor::Entity::find_by_id(visitor_id)
            .filter(visitor::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// All messages of a chat in the order they were written, internal notes
    /// included: callers that face visitors or plugins filter them out.
    pub async fn messages(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Vec<Message>> {
        Ok(message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant_id))
            .filter(message::Column::ChatId.eq(chat_id))
            .order_by_asc(message::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// Adds a message to an open chat. The first public agent message sets
    /// the chat's `first_response_at` and, if nobody has the chat yet, makes
    /// that agent its assignee.
    pub async fn post_message(&self, tenant_id: &str, chat_id: &str, new: &NewMessage) -> StoreResult<Message> {
        let txn = self.write_txn().await?;
        let message = post_message_in(&txn, tenant_id, chat_id, new).await?;
        txn.commit().await?;
        self.meter.count(tenant_id, |u| {
            u.messages += 1;
            u.stored_bytes += new.body.len() as i64;
        });
        Ok(message)
    }

    /// Notes that the chat's visitor is here (their socket is open); the
    /// chat's version stays, as nothing of it changed.
    pub async fn visitor_seen(&self, tenant_id: &str, chat_id: &str) -> StoreResult<()> {
        chat::Entity::update_many()
            .col_expr(chat::Column::VisitorSeenAt, Expr::value(Utc::now()))
            .filter(chat::Column::Id.eq(chat_id))
            .filter(chat::Column::TenantId.eq(tenant_id))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Closes an open chat and logs who closed it.
    pub async fn close_chat(&self, tenant_id: &str, chat_id: &str, by: Doer<'_>) -> StoreResult<Chat> {
        self.set_status(
            tenant_id,
            chat_id,
            ChatStatus::Open,
            ChatStatus::Closed,
            &format!("Chat closed by {}.", by.name),
            by,
        )
        .await
    }

    /// Reopens a closed chat. Its ticket link, if any, stays.
    pub async fn reopen_chat(&self, tenant_id: &str, chat_id: &str, by: Doer<'_>) -> StoreResult<Chat> {
        self.set_status(
            tenant_id,
            chat_id,
            ChatStatus::Closed,
            ChatStatus::Open,
            &format!("Chat reopened by {}.", by.name),
            by,
        )
        .await
    }

    async fn set_status(
        &self,
        tenant_id: &str,
        chat_id: &str,
        from: ChatStatus,
        to: ChatStatus,
        log: &str,
        by: Doer<'_>,
    ) -> StoreResult<Chat> {
        let now = Utc::now();
        let closed_at: Option<DateTime<Utc>> = (to == ChatStatus::Closed).then_some(now);
        let txn = self.write_txn().await?;
        let updated = chat::Entity::update_many()
            .col_expr(chat::Column::Status, Expr::value(to.as_str()))
            .col_expr(chat::Column::ClosedAt, Expr::value(closed_at))
            .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
            .col_expr(chat::Column::UpdatedAt, Expr::value(now))
            .filter(chat::Column::Id.eq(chat_id))
            .filter(chat::Column::TenantId.eq(tenant_id))
            .filter(chat::Column::Status.eq(from.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        let chat = chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        if updated == 0 {
            return Err(StoreError::Conflict(format!("the chat is already {}", chat.status)));
        }
        insert_message(&txn, &chat, &NewMessage::system(log), now).await?;
        if to == ChatStatus::Closed {
            super::events::queue(&txn, tenant_id, NewEvent::by(EventKind::ChatClosed, by).chat(chat_id)).await?;
        }
        txn.commit().await?;
        Ok(chat)
    }

    pub async fn rating(&self, tenant_id: &str, chat_id: &str) -> StoreResult<Option<Rating>> {
        Ok(rating::Entity::find()
            .filter(rating::Column::TenantId.eq(tenant_id))
            .filter(rating::Column::ChatId.eq(chat_id))
            .one(&self.db)
            .await?)
    }

    /// Records the visitor's rating of a closed chat; one rating a chat.
    pub async fn rate_chat(
        &self,
        tenant_id: &str,
        chat_id: &str,
        score: i16,
        comment: Option<&str>,
    ) -> StoreResult<Rating> {
        let txn = self.write_txn().await?;
        let chat = chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        if chat.status != ChatStatus::Closed.as_str() {
            return Err(StoreError::Conflict(
                "the chat is still open; rate it once it has closed".into(),
            ));
        }
        let inserted = rating::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.to_owned()),
            chat_id: Set(chat_id.to_owned()),
            score: Set(score),
            comment: Set(comment.map(str::to_owned)),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await;
        let rating = match inserted {
            Ok(r) => r,
            Err(e) if e.sql_err().is_some() => {
                return Err(StoreError::Conflict("this chat has already been rated".into()));
            }
            Err(e) => return Err(e.into()),
        };
        txn.commit().await?;
        Ok(rating)
    }

    /// Stores a summary on the chat and, when it became one, on its ticket.
    pub async fn set_summary(&self, tenant_id: &str, chat_id: &str, summary: &str) -> StoreResult<()> {
        use super::entities::ticket;
        let txn = self.write_txn().await?;
        chat::Entity::update_many()
            .col_expr(chat::Column::Summary, Expr::value(summary))
            .filter(chat::Column::Id.eq(chat_id))
            .filter(chat::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        ticket::Entity::update_many()
            .col_expr(ticket::Column::Summary, Expr::value(summary))
            .filter(ticket::Column::OriginChatId.eq(chat_id))
            .filter(ticket::Column::TenantId.eq(tenant_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Adds `new` to open chat `chat_id` in `txn`: see [`Store::post_message`].
pub(super) async fn post_message_in(
    txn: &DatabaseTransaction,
    tenant_id: &str,
    chat_id: &str,
    new: &NewMessage,
) -> StoreResult<Message> {
    let now = Utc::now();
    let mut update = chat::Entity::update_many()
        .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
        .col_expr(chat::Column::UpdatedAt, Expr::value(now))
        .filter(chat::Column::Id.eq(chat_id))
        .filter(chat::Column::TenantId.eq(tenant_id))
        .filter(chat::Column::Status.eq(ChatStatus::Open.as_str()));
    if matches!(new.kind, MessageKind::Agent | MessageKind::Visitor) {
        update = update
            .col_expr(chat::Column::LastMessagePreview, Expr::value(preview(&new.body)))
            .col_expr(chat::Column::LastMessageKind, Expr::value(new.kind.to_string()));
    }
    if new.kind == MessageKind::Visitor {
        update = update.col_expr(chat::Column::VisitorSeenAt, Expr::value(now));
    }
    // A rule's answer (no agent) is not a person's first response.
    if new.kind == MessageKind::Agent && new.agent_id.is_some() {
        update = update.col_expr(
            chat::Column::FirstResponseAt,
            Expr::col(chat::Column::FirstResponseAt).if_null(now),
        );
        if let Some(agent_id) = &new.agent_id {
            update = update.col_expr(
                chat::Column::AssigneeId,
                Expr::col(chat::Column::AssigneeId).if_null(agent_id.clone()),
            );
        }
    }
    // Updating first takes the chat's write lock before anything else.
    let updated = update.exec(txn).await?.rows_affected;
    if updated == 0 {
        let exists = chat::Entity::find_by_id(chat_id)
            .filter(chat::Column::TenantId.eq(tenant_id))
            .one(txn)
            .await?;
        return Err(match exists {
            None => StoreError::NotFound,
            Some(_) => StoreError::Conflict("the chat is closed".into()),
        });
    }
    let chat = chat::Entity::find_by_id(chat_id)
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let message = insert_message(txn, &chat, new, now).await?;
    // An answer to a visitor who left goes to them by mail, with it.
    let gone = chat.visitor_seen_at.unwrap_or(chat.created_at) < now - crate::domain::chat::VISITOR_GONE_AFTER;
    if new.kind == MessageKind::Agent && gone {
        super::threads::mail_gone_visitor(txn, &chat, new, message.id).await?;
    }
    Ok(message)
}

pub(super) async fn insert_message(
    txn: &DatabaseTransaction,
    chat: &Chat,
    new: &NewMessage,
    at: DateTime<Utc>,
) -> StoreResult<Message> {
    let message = message_row(&chat.tenant_id, &chat.id, new, at).insert(txn).await?;
    // The server's own lines ("Chat closed by …") find nothing worth finding.
    if new.kind != MessageKind::System {
        super::index_terms(txn, SearchIndex::Chats, &chat.tenant_id, &chat.id, [new.body.as_str()]).await?;
    }
    Ok(message)
}

/// Characters of a message the inbox shows.
const PREVIEW_CHARS: usize = 120;

/// A message's first words on one line, for the inbox.
fn preview(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > PREVIEW_CHARS {
        line.chars().take(PREVIEW_CHARS - 1).collect::<String>() + "…"
    } else {
        line
    }
}

/// A message row ready to insert (its id comes from the database).
pub(super) fn message_row(tenant_id: &str, chat_id: &str, new: &NewMessage, at: DateTime<Utc>) -> message::ActiveModel {
    message::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        chat_id: Set(chat_id.to_owned()),
        kind: Set(new.kind.to_string()),
        author_name: Set(new.author_name.clone()),
        agent_id: Set(new.agent_id.clone()),
        body: Set(new.body.clone()),
        created_at: Set(at),
        ..Default::default()
    }
}
