//! Bulk rows for benchmarks: many tickets or chats written straight into
//! the database (the same rows the API writes, far faster than making them
//! one request at a time).

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait};
use threadline::store::entities::{chat, message, visitor};

use super::sql::{exec, query};

/// A requester for seeded tickets, and the number the first of them takes.
async fn requester_and_first_number(
    db: &DatabaseConnection,
    tenant_id: &str,
    now: chrono::DateTime<Utc>,
) -> (String, i64) {
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
    (requester, first)
}

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
    let (requester, first) = requester_and_first_number(db, tenant_id, now).await;
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
    let seeded = chats_with_visitors(db, tenant_id, agent, count, messages, body_bytes).await;
    seeded.into_iter().map(|(chat, _)| chat).collect()
}

/// [`chats`], each with its visitor's token (what the widget keeps), for
/// benches that open visitors' sockets.
pub async fn chats_with_visitors(
    db: &DatabaseConnection,
    tenant_id: &str,
    agent: (&str, &str),
    count: usize,
    messages: usize,
    body_bytes: usize,
) -> Vec<(String, String)> {
    let now = Utc::now();
    let mut chat_ids = Vec::with_capacity(count);
    let mut visitors = Vec::new();
    let mut chats = Vec::new();
    let mut rows = Vec::new();
    for i in 0..count {
        let (visitor_id, chat_id) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
        let token = format!("tlv_{}", uuid::Uuid::new_v4().simple());
        visitors.push(visitor::ActiveModel {
            id: Set(visitor_id.clone()),
            tenant_id: Set(tenant_id.to_owned()),
            name: Set(format!("Visitor {i}")),
            email: Set(None),
            email_normalized: Set(None),
            token_hash: Set(threadline::store::token_hash(&token)),
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
            visitor_seen_at: Set(None),
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
        chat_ids.push((chat_id, token));
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

/// A workspace's past for the reports: `count` chats and `count` tickets
/// spread evenly over the `days` before now. Every chat was answered
/// within minutes, seven in ten became a ticket (the rest are the tickets
/// made by hand), four in five tickets are solved, targets are set and
/// mostly met, and three chats in ten are rated. Rows go in 500 at a time.
pub async fn history(db: &DatabaseConnection, tenant_id: &str, agents: &[String], count: usize, days: i64) {
    use threadline::store::entities::{rating, ticket};
    assert!(!agents.is_empty());
    let now = Utc::now();
    let span = chrono::Duration::days(days).num_seconds();
    let (requester, first) = requester_and_first_number(db, tenant_id, now).await;
    let (mut visitors, mut chats, mut tickets, mut ratings) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..count {
        let secs = |x: i64| chrono::Duration::seconds(x);
        let started = now - secs(span) + secs(span * i as i64 / count as i64);
        let answered = started + secs(30 + (i as i64 * 37) % 600);
        let agent = agents[i % agents.len()].clone();
        let (visitor_id, chat_id, ticket_id) = (
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
        );
        let converted = i % 10 < 7;
        visitors.push(visitor::ActiveModel {
            id: Set(visitor_id.clone()),
            tenant_id: Set(tenant_id.to_owned()),
            name: Set(format!("Visitor {i}")),
            email: Set(None),
            email_normalized: Set(None),
            token_hash: Set(uuid::Uuid::new_v4().simple().to_string()),
            created_at: Set(started),
        });
        chats.push(chat::ActiveModel {
            id: Set(chat_id.clone()),
            tenant_id: Set(tenant_id.to_owned()),
            visitor_id: Set(visitor_id),
            subject: Set(None),
            status: Set("closed".into()),
            assignee_id: Set(Some(agent.clone())),
            first_response_at: Set(Some(answered)),
            summary: Set(None),
            ticket_id: Set(converted.then(|| ticket_id.clone())),
            version: Set(3),
            created_at: Set(started),
            updated_at: Set(answered),
            closed_at: Set(Some(answered)),
            last_message_preview: Set(None),
            last_message_kind: Set(None),
            spam: Set(false),
            visitor_seen_at: Set(None),
        });
        if i % 10 < 3 {
            ratings.push(rating::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                tenant_id: Set(tenant_id.to_owned()),
                chat_id: Set(chat_id.clone()),
                score: Set((1 + i % 5) as i16),
                comment: Set(None),
                created_at: Set(answered + secs(60)),
            });
        }
        let made = started + secs(300);
        let solved = (i % 5 != 0).then(|| made + secs(3_600 + (i as i64 * 911) % 172_800));
        let first_response_at = if converted { answered } else { made + secs(1_800) };
        tickets.push(ticket::ActiveModel {
            id: Set(ticket_id),
            tenant_id: Set(tenant_id.to_owned()),
            number: Set(first + i as i64),
            subject: Set("Seeded ticket".into()),
            description: Set("Seeded".into()),
            status: Set(if solved.is_some() { "solved" } else { "open" }.into()),
            assignee_id: Set(Some(agent)),
            requester_id: Set(requester.clone()),
            first_response_at: Set(Some(first_response_at)),
            origin_chat_id: Set(converted.then(|| chat_id.clone())),
            summary: Set(None),
            created_at: Set(made),
            updated_at: Set(solved.unwrap_or(made)),
            priority: Set("normal".into()),
            tags: Set("[]".into()),
            custom_fields: Set("{}".into()),
            receipt: Set("[]".into()),
            first_response_due_at: Set(Some(started + secs(3_600))),
            resolution_due_at: Set(Some(started + secs(86_400))),
            solved_at: Set(solved),
            due_at: Set(None),
            channel: Set(if converted { "chat" } else { "agent" }.into()),
        });
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
    for part in tickets.chunks(500) {
        ticket::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    for part in ratings.chunks(500) {
        rating::Entity::insert_many(part.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    exec(
        db,
        "UPDATE tenants SET next_ticket_number = $1 WHERE id = $2",
        vec![(first + count as i64).into(), tenant_id.into()],
    )
    .await;
    if db.get_database_backend() == DbBackend::Postgres {
        exec(db, "VACUUM ANALYZE", vec![]).await;
    } else {
        exec(db, "ANALYZE", vec![]).await;
    }
}
