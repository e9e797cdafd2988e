//! Bulk rows for benchmarks: many tickets or chats written straight into
//! the database (the same rows the API writes, far faster than making them
//! one request at a time).

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait};
use threadline::store::entities::{chat, message, visitor};

use super::sql::{exec, query};

/// Adds `count` tickets to the workspace, numbered on from its counter:
/// a third still open (in progress), spread over `assignees`, the rest
/// solved, each with a `description_bytes` description. One statement,
/// as a bulk import would be; the open-ticket triggers count them.
pub async fn tickets(
    db: &DatabaseConnection,
    tenant_id: &str,
    assignees: &[String],
    count: u64,
    description_bytes: usize,
) {
    assert!(!assignees.is_empty());
    let backend = db.get_database_backend();
    let now = Utc::now();
    let requester = format!("seed-requester-{}", uuid::Uuid::new_v4().simple());
    exec(
        db,
        "INSERT INTO requesters (id, tenant_id, email, email_normalized, name, created_at)
         VALUES ($1, $2, $3, $3, 'Seeded requester', $4)",
        vec![
            requester.clone().into(),
            tenant_id.into(),
            format!("{requester}@seed.test").into(),
            now.into(),
        ],
    )
    .await;
    let first: i64 = query(
        db,
        "SELECT next_ticket_number FROM tenants WHERE id = $1",
        vec![tenant_id.into()],
    )
    .await[0]
        .try_get("", "next_ticket_number")
        .unwrap();
    let assignee = assignees
        .iter()
        .enumerate()
        .map(|(k, _)| format!("WHEN {k} THEN ${}", 7 + k))
        .collect::<Vec<_>>()
        .join(" ");
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {count})
         INSERT INTO tickets (id, tenant_id, number, subject, description, status, assignee_id,
                              requester_id, first_response_at, origin_chat_id, summary, created_at, updated_at)
         SELECT $6 || i, $1, $2 + i, 'Seeded ticket', $3,
                CASE WHEN i % 3 = 0 THEN 'in_progress' ELSE 'solved' END,
                CASE i % {n} {assignee} END, $4, NULL, NULL, NULL, $5, $5
         FROM n",
        n = assignees.len()
    );
    let mut values: Vec<sea_orm::Value> = vec![
        tenant_id.into(),
        first.into(),
        "x".repeat(description_bytes).into(),
        requester.into(),
        now.into(),
        format!("seed-{}-", uuid::Uuid::new_v4().simple()).into(),
    ];
    values.extend(assignees.iter().map(|a| a.as_str().into()));
    exec(db, &sql, values).await;
    exec(
        db,
        "UPDATE tenants SET next_ticket_number = $1 WHERE id = $2",
        vec![(first + count as i64).into(), tenant_id.into()],
    )
    .await;
    if backend == DbBackend::Postgres {
        // What autovacuum would do soon after such a load, done now so
        // that it does not run during the measurements.
        exec(db, "VACUUM ANALYZE", vec![]).await;
    }
}

/// `count` open chats of `messages` public messages of `body_bytes`
/// each (visitor and agent in turn, the agent's answered first) plus one
/// internal note, as if made through the widget and the console.
pub async fn chats(
    db: &DatabaseConnection,
    tenant_id: &str,
    agent: (&str, &str),
    count: usize,
    messages: usize,
    body_bytes: usize,
) -> Vec<String> {
    let now = Utc::now();
    let mut chat_ids = Vec::with_capacity(count);
    let mut visitors = Vec::new();
    let mut chats = Vec::new();
    let mut rows = Vec::new();
    for i in 0..count {
        let (visitor_id, chat_id) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
        visitors.push(visitor::ActiveModel {
            id: Set(visitor_id.clone()),
            tenant_id: Set(tenant_id.to_owned()),
            name: Set(format!("Visitor {i}")),
            email: Set(None),
            token_hash: Set(uuid::Uuid::new_v4().simple().to_string()),
            created_at: Set(now),
        });
        chats.push(chat::ActiveModel {
            id: Set(chat_id.clone()),
            tenant_id: Set(tenant_id.to_owned()),
            visitor_id: Set(visitor_id),
            subject: Set(None),
            status: Set("open".into()),
            assignee_id: Set(Some(agent.0.to_owned())),
            first_response_at: Set(Some(now)),
            summary: Set(None),
            ticket_id: Set(None),
            version: Set(messages as i64 + 1),
            created_at: Set(now),
            updated_at: Set(now),
            closed_at: Set(None),
            last_message_preview: Set(None),
            last_message_kind: Set(None),
            spam: Set(false),
        });
        for m in 0..=messages {
            let (kind, author) = match m {
                m if m == messages => ("internal_note", agent.1.to_owned()),
                m if m % 2 == 0 => ("visitor", format!("Visitor {i}")),
                _ => ("agent", agent.1.to_owned()),
            };
            let mut body = format!("Message {m} of chat {i}. ");
            while body.len() < body_bytes {
                body.push_str("Some words of the conversation. ");
            }
            body.truncate(body_bytes.max(1));
            rows.push(message::ActiveModel {
                tenant_id: Set(tenant_id.to_owned()),
                chat_id: Set(chat_id.clone()),
                kind: Set(kind.to_owned()),
                author_name: Set(author),
                agent_id: Set((kind != "visitor").then(|| agent.0.to_owned())),
                body: Set(body),
                created_at: Set(now),
                ..Default::default()
            });
        }
        chat_ids.push(chat_id);
    }
    for part in visitors.chunks(500) {
        visitor::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    for part in chats.chunks(500) {
        chat::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    for part in rows.chunks(500) {
        message::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    chat_ids
}
