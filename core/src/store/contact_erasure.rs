//! Erasing a person: in one transaction, every row that holds their data
//! loses it, and every row that others need keeps its place.
//!
//! - Their requester and visitors keep their ids under a placeholder name
//!   and address (`domain::erasure`), so tickets keep their numbers,
//!   assignees, times and the workspace's figures; their visitors' tokens
//!   stop working.
//! - What they wrote (chat messages, mailed comments, a ticket made from
//!   their mail, rating comments) is replaced whole; what others wrote
//!   about them (agents' replies, notes, transcripts, activity, receipts,
//!   plugin faults) keeps its words but loses theirs (`Scrubber`).
//! - Copies that only served them go: the mail they sent (with its
//!   attachments' descriptions) and the mail sent to them; summaries are
//!   cleared (they are their words, picked).
//! - Search words: theirs are taken out of their chats and tickets, and
//!   the scrubbed texts indexed again.
//! - The audit log gets one entry: who, when, which contact id, and counts.

use std::collections::BTreeSet;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use serde_json::json;
use threadline_migrations::search::{self, SearchIndex};

use super::audit::{self, Actor, Audit};
use super::contacts::{Holdings, Person, find_person, holdings};
use super::entities::{
    chat, event, inbound_mail, mail_outbox, plugin_fault, plugin_log, ticket_event, visitor_block, webhook_delivery,
};
use super::{Store, StoreResult, new_token};
use crate::domain::MessageKind;
use crate::domain::erasure::{ERASED, PLACEHOLDER_NAME, Scrubber, placeholder_email};

/// What an erasure changed, for its caller and the audit log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Erased {
    pub contact_id: String,
    pub visitors: usize,
    pub chats: usize,
    pub tickets: usize,
    pub messages: usize,
    pub comments: usize,
    pub mails_deleted: usize,
}

/// Comments that came from the requester's own mail.
const FROM_THEIR_MAIL: &str = "email";
/// Tickets whose description is the requester's own text.
const THEIR_CHANNELS: [&str; 2] = ["email", "widget"];

impl Store {
    /// Erases the person `id` names (see the module docs).
    pub async fn erase_contact(&self, tenant_id: &str, id: &str, actor: &Actor) -> StoreResult<Erased> {
        let txn = self.write_txn().await?;
        let person = find_person(&txn, tenant_id, id).await?;
        // Their chats change first: the row locks make a message written
        // meanwhile wait for the erasure (and be read by it), and the new
        // version sends a conversion that read the chat before to read it
        // again, erased.
        if !person.visitors.is_empty() {
            chat::Entity::update_many()
                .col_expr(chat::Column::Version, Expr::col(chat::Column::Version).add(1))
                .filter(chat::Column::TenantId.eq(tenant_id))
                .filter(chat::Column::VisitorId.is_in(person.visitor_ids()))
                .exec(&txn)
                .await?;
        }
        let h = holdings(&txn, tenant_id, &person).await?;
        let theirs = their_texts(&person, &h);
        let scrubber = Scrubber::new(
            person.names().iter().map(String::as_str),
            person.addresses().iter().map(String::as_str),
            theirs.iter().map(String::as_str),
        );
        let mut gone_words: BTreeSet<String> = search::terms(
            person
                .names()
                .iter()
                .chain(person.addresses().iter())
                .chain(theirs.iter())
                .map(String::as_str),
        )
        .into_iter()
        .collect();
        let mut done = Erased {
            contact_id: person.id().to_owned(),
            visitors: person.visitors.len(),
            chats: h.chats.len(),
            tickets: h.tickets.len(),
            ..Erased::default()
        };

        erase_people(&txn, &person).await?;
        // Words of what others wrote that went: subjects, descriptions and
        // the like, as they were, so their stale words go too.
        for t in &h.tickets {
            if scrubber.finds(&t.subject) || THEIR_CHANNELS.contains(&t.channel.as_str()) {
                gone_words.extend(search::terms([t.subject.as_str()]));
            }
        }

        for m in &h.messages {
            let theirs = m.kind == MessageKind::Visitor.as_str();
            if let Some((body, author)) = rewritten(&scrubber, theirs, &m.body, &m.author_name) {
                let mut row = m.clone().into_active_model();
                row.body = Set(body);
                row.author_name = Set(author);
                row.update(&txn).await?;
                done.messages += 1;
            }
        }
        for c in &h.chats {
            let mut row = c.clone().into_active_model();
            // Chats of other visitors (their tickets' origins) were not
            // bumped above; once more does no harm to the others.
            row.version = Set(c.version + 1);
            row.subject = Set(c.subject.as_deref().map(|s| scrubber.subject(s)));
            row.summary = Set(None);
            row.last_message_preview = Set(c.last_message_preview.as_deref().map(|p| {
                if c.last_message_kind.as_deref() == Some(MessageKind::Visitor.as_str()) {
                    ERASED.to_owned()
                } else {
                    scrubber.scrub(p)
                }
            }));
            row.update(&txn).await?;
        }
        for t in &h.tickets {
            let mut row = t.clone().into_active_model();
            row.subject = Set(scrubber.subject(&t.subject));
            row.description = Set(if THEIR_CHANNELS.contains(&t.channel.as_str()) {
                ERASED.to_owned()
            } else {
                scrubber.scrub(&t.description)
            });
            row.summary = Set(None);
            row.receipt = Set(scrubber.scrub(&t.receipt));
            row.custom_fields = Set(scrubber.scrub(&t.custom_fields));
            row.tags = Set(scrubber.scrub(&t.tags));
            row.update(&txn).await?;
        }
        for c in &h.comments {
            let theirs = c.source == FROM_THEIR_MAIL;
            if let Some((body, author)) = rewritten(&scrubber, theirs, &c.body, &c.author_name) {
                let mut row = c.clone().into_active_model();
                row.body = Set(body);
                row.author_name = Set(author);
                row.update(&txn).await?;
                done.comments += 1;
            }
        }
        scrub_activity(&txn, tenant_id, &h, &scrubber).await?;
        // Ratings keep their scores (the workspace's figures), not their words.
        for r in h.ratings.iter().filter(|r| r.comment.is_some()) {
            let mut row = r.clone().into_active_model();
            row.comment = Set(None);
            row.update(&txn).await?;
        }
        done.mails_deleted = delete_mail(&txn, tenant_id, &h).await?;
        delete_deliveries(&txn, tenant_id, &h).await?;
        erase_blocks(&txn, tenant_id, &person).await?;
        scrub_faults(&txn, tenant_id, &h, &scrubber).await?;
        reindex(&txn, tenant_id, &h, &scrubber, &gone_words).await?;

        audit::write(
            &txn,
            tenant_id,
            actor,
            Audit::new("contact.erased", Some(&done.contact_id), json!(done)),
        )
        .await?;
        txn.commit().await?;
        Ok(done)
    }
}

/// A message's or comment's new body and author, if they change: what the
/// person wrote goes whole, what someone else wrote loses their words.
fn rewritten(scrubber: &Scrubber, theirs: bool, body: &str, author: &str) -> Option<(String, String)> {
    let (new_body, new_author) = if theirs {
        (ERASED.to_owned(), PLACEHOLDER_NAME.to_owned())
    } else {
        (scrubber.scrub(body), author.to_owned())
    };
    (new_body != body || new_author != author).then_some((new_body, new_author))
}

/// Everything the person wrote themselves.
fn their_texts(person: &Person, h: &Holdings) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    out.extend(
        h.messages
            .iter()
            .filter(|m| m.kind == MessageKind::Visitor.as_str())
            .map(|m| m.body.clone()),
    );
    out.extend(
        h.comments
            .iter()
            .filter(|c| c.source == FROM_THEIR_MAIL)
            .map(|c| c.body.clone()),
    );
    let addresses = person.addresses();
    for m in h.received.iter().filter(|m| addresses.contains(&m.from_address)) {
        out.push(m.subject.clone());
    }
    for t in h
        .tickets
        .iter()
        .filter(|t| THEIR_CHANNELS.contains(&t.channel.as_str()))
    {
        out.push(t.description.clone());
    }
    out.extend(h.ratings.iter().filter_map(|r| r.comment.clone()));
    out.retain(|t| !t.trim().is_empty() && t != ERASED);
    out
}

/// The requester and visitors under placeholders.
async fn erase_people<C: ConnectionTrait>(txn: &C, person: &Person) -> StoreResult<()> {
    for v in &person.visitors {
        let mut row = v.clone().into_active_model();
        row.name = Set(PLACEHOLDER_NAME.to_owned());
        row.email = Set(None);
        row.email_normalized = Set(None);
        // A token nobody holds: the visitor's widget is signed out.
        row.token_hash = Set(new_token("tlv").1);
        row.update(txn).await?;
    }
    if let Some(r) = &person.requester {
        let placeholder = placeholder_email(&r.id);
        let mut row = r.clone().into_active_model();
        row.name = Set(PLACEHOLDER_NAME.to_owned());
        row.email = Set(placeholder.clone());
        row.email_normalized = Set(placeholder);
        row.update(txn).await?;
    }
    Ok(())
}

/// Ticket activity (a subject's old value, a field set to their address).
async fn scrub_activity<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    h: &Holdings,
    scrubber: &Scrubber,
) -> StoreResult<()> {
    let ticket_ids = h.ticket_ids();
    if ticket_ids.is_empty() {
        return Ok(());
    }
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TenantId.eq(tenant_id))
        .filter(ticket_event::Column::TicketId.is_in(ticket_ids))
        .all(txn)
        .await?;
    let clean = |field: &str, v: &Option<String>| {
        v.as_deref().map(|v| {
            if field == "subject" {
                scrubber.subject(v)
            } else {
                scrubber.scrub(v)
            }
        })
    };
    for e in events {
        let (old, new) = (clean(&e.field, &e.old_value), clean(&e.field, &e.new_value));
        if old != e.old_value || new != e.new_value {
            let mut row = e.into_active_model();
            row.old_value = Set(old);
            row.new_value = Set(new);
            row.update(txn).await?;
        }
    }
    Ok(())
}

/// The mail they sent and the mail sent to them: copies only they needed.
async fn delete_mail<C: ConnectionTrait>(txn: &C, tenant_id: &str, h: &Holdings) -> StoreResult<usize> {
    let received: Vec<String> = h.received.iter().map(|m| m.id.clone()).collect();
    let sent: Vec<String> = h.sent.iter().map(|m| m.id.clone()).collect();
    if !received.is_empty() {
        inbound_mail::Entity::delete_many()
            .filter(inbound_mail::Column::TenantId.eq(tenant_id))
            .filter(inbound_mail::Column::Id.is_in(received.clone()))
            .exec(txn)
            .await?;
    }
    if !sent.is_empty() {
        mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::TenantId.eq(tenant_id))
            .filter(mail_outbox::Column::Id.is_in(sent.clone()))
            .exec(txn)
            .await?;
    }
    Ok(received.len() + sent.len())
}

/// Webhook deliveries carry a copy of what their events said (names,
/// addresses, words), events waiting to be handled name the tickets and
/// chats, and the plugin log's lines of the chats may quote them: all go,
/// pending ones unsent (a receiver that needs the change hears of it from
/// the tickets' next event).
async fn delete_deliveries<C: ConnectionTrait>(txn: &C, tenant_id: &str, h: &Holdings) -> StoreResult<()> {
    let (tickets, chats) = (h.ticket_ids(), h.chat_ids());
    if tickets.is_empty() && chats.is_empty() {
        return Ok(());
    }
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(
            Condition::any()
                .add(webhook_delivery::Column::TicketId.is_in(tickets.clone()))
                .add(webhook_delivery::Column::ChatId.is_in(chats.clone())),
        )
        .exec(txn)
        .await?;
    event::Entity::delete_many()
        .filter(event::Column::TenantId.eq(tenant_id))
        .filter(
            Condition::any()
                .add(event::Column::TicketId.is_in(tickets))
                .add(event::Column::ChatId.is_in(chats.clone())),
        )
        .exec(txn)
        .await?;
    // What plugins wrote while running on the person's chats may quote them.
    plugin_log::Entity::delete_many()
        .filter(plugin_log::Column::TenantId.eq(tenant_id))
        .filter(plugin_log::Column::ChatId.is_in(chats))
        .exec(txn)
        .await?;
    Ok(())
}

/// Blocks stay (an erased spammer stays blocked by visitor), without the
/// name and address they were taken with.
async fn erase_blocks<C: ConnectionTrait>(txn: &C, tenant_id: &str, person: &Person) -> StoreResult<()> {
    let mut which = Condition::any().add(visitor_block::Column::VisitorId.is_in(person.visitor_ids()));
    let addresses = person.addresses();
    if !addresses.is_empty() {
        which = which.add(visitor_block::Column::EmailNormalized.is_in(addresses));
    }
    visitor_block::Entity::update_many()
        .col_expr(
            visitor_block::Column::VisitorName,
            sea_orm::sea_query::Expr::value(PLACEHOLDER_NAME),
        )
        .col_expr(
            visitor_block::Column::EmailNormalized,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(visitor_block::Column::TenantId.eq(tenant_id))
        .filter(which)
        .exec(txn)
        .await?;
    Ok(())
}

/// A plugin's fault may quote its input. A workspace keeps at most
/// `MAX_FAULTS_KEPT` faults, so this read is bounded whatever its size.
async fn scrub_faults<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    h: &Holdings,
    scrubber: &Scrubber,
) -> StoreResult<()> {
    let chat_ids = h.chat_ids();
    if chat_ids.is_empty() {
        return Ok(());
    }
    let faults = plugin_fault::Entity::find()
        .filter(plugin_fault::Column::TenantId.eq(tenant_id))
        .filter(plugin_fault::Column::ChatId.is_in(chat_ids))
        .all(txn)
        .await?;
    for f in faults {
        let reason = scrubber.scrub(&f.reason);
        if reason != f.reason {
            let mut row = f.into_active_model();
            row.reason = Set(reason);
            row.update(txn).await?;
        }
    }
    Ok(())
}

/// Takes the person's words out of their chats' and tickets' search words
/// (each delete is by key: these words, this owner), then indexes the
/// scrubbed texts again, so the agents' words still find them.
async fn reindex<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    h: &Holdings,
    scrubber: &Scrubber,
    gone_words: &BTreeSet<String>,
) -> StoreResult<()> {
    let words: Vec<String> = gone_words.iter().cloned().collect();
    for c in &h.chats {
        super::unindex_terms(txn, SearchIndex::Chats, tenant_id, &c.id, &words).await?;
        let subject = c.subject.as_deref().map(|s| scrubber.subject(s));
        let bodies: Vec<String> = h
            .messages
            .iter()
            .filter(|m| m.chat_id == c.id && m.kind != MessageKind::Visitor.as_str())
            .map(|m| scrubber.scrub(&m.body))
            .collect();
        let texts = subject.iter().chain(bodies.iter()).map(String::as_str);
        insert_terms(txn, SearchIndex::Chats, tenant_id, &c.id, texts).await?;
    }
    for t in &h.tickets {
        super::unindex_terms(txn, SearchIndex::Tickets, tenant_id, &t.id, &words).await?;
        let mut texts = vec![scrubber.subject(&t.subject), t.number.to_string()];
        if !THEIR_CHANNELS.contains(&t.channel.as_str()) {
            texts.push(scrubber.scrub(&t.description));
        }
        texts.extend(
            h.comments
                .iter()
                .filter(|c| c.ticket_id == t.id && c.source != FROM_THEIR_MAIL)
                .map(|c| scrubber.scrub(&c.body)),
        );
        insert_terms(
            txn,
            SearchIndex::Tickets,
            tenant_id,
            &t.id,
            texts.iter().map(String::as_str),
        )
        .await?;
    }
    Ok(())
}

async fn insert_terms<'a, C: ConnectionTrait>(
    txn: &C,
    index: SearchIndex,
    tenant_id: &str,
    owner: &str,
    texts: impl IntoIterator<Item = &'a str>,
) -> StoreResult<()> {
    let terms: Vec<String> = search::terms(texts).into_iter().filter(|t| t != "erased").collect();
    if let Some(insert) = search::insert(txn.get_database_backend(), index, tenant_id, owner, &terms) {
        txn.execute_raw(insert).await?;
    }
    Ok(())
}
