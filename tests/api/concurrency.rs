//! One chat never yields two tickets, and ticket numbers never collide or skip,
//! however many requests (or server nodes) race.

use std::collections::BTreeSet;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    fifty_concurrent_conversions_of_one_chat_create_exactly_one_ticket,
    two_hundred_parallel_conversions_get_distinct_gapless_numbers,
    two_server_nodes_racing_on_one_chat_create_one_ticket,
    a_message_racing_a_conversion_never_breaks_it,
    nodes_starting_together_on_a_fresh_database_all_come_up,
    a_commit_failing_part_way_writes_nothing_and_the_next_one_commits,
);

async fn fifty_concurrent_conversions_of_one_chat_create_exactly_one_ticket(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    let (chat, _) = app.simple_chat(&t).await;
    let path = format!("/api/v1/chats/{chat}/conversion");
    let replies = join_all((0..50).map(|i| {
        let token = if i % 2 == 0 { &t.admin.token } else { &bob.token };
        app.post(&path, token, json!({"visitor_email": "grace@navy.mil"}))
    }))
    .await;

    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let repeated = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(
        (created, repeated),
        (1, 49),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let ids: BTreeSet<_> = replies
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every request got the same ticket");

    let tickets = app.get("/api/v1/tickets", &t.admin.token).await.body;
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    let c = app.chat(&t.admin.token, &chat).await;
    let logs = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "system")
        .count();
    assert_eq!(logs, 1, "one conversion, one system message");
}

async fn two_hundred_parallel_conversions_get_distinct_gapless_numbers(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut chats = Vec::new();
    for _ in 0..200 {
        chats.push(app.simple_chat(&t).await.0);
    }
    let replies = join_all(chats.iter().enumerate().map(|(i, chat)| {
        // Ten visitors, so requesters are found as often as created.
        let email = format!("visitor{}@example.com", i % 10);
        let (app, token) = (&app, &t.admin.token);
        async move { app.convert(token, chat, json!({"visitor_email": email})).await }
    }))
    .await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let numbers: BTreeSet<i64> = replies
        .iter()
        .map(|r| {
            r.body["number"]
                .as_str()
                .unwrap()
                .strip_prefix("TK-")
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(numbers, (1001..=1200).collect::<BTreeSet<i64>>());
    let requesters: BTreeSet<_> = replies
        .iter()
        .map(|r| r.body["requester"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(requesters.len(), 10);
}

async fn two_server_nodes_racing_on_one_chat_create_one_ticket(app: TestApp) {
    let node_b = TestApp::spawn_on(app.db.clone()).await;
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let path = format!("/api/v1/chats/{chat}/conversion");
    let body = json!({"visitor_email": "grace@navy.mil"});
    let replies = join_all((0..40).map(|i| {
        let node = if i % 2 == 0 { &app } else { &node_b };
        node.post(&path, &t.admin.token, body.clone())
    }))
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::CREATED).count(), 1);
    assert!(replies.iter().all(|r| r.status.is_success()));
    let ids: BTreeSet<_> = replies
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    // Both nodes see the same state.
    assert_eq!(
        app.get("/api/v1/tickets/TK-1001", &t.admin.token).await.body,
        node_b.get("/api/v1/tickets/TK-1001", &t.admin.token).await.body
    );
}

async fn a_message_racing_a_conversion_never_breaks_it(app: TestApp) {
    // Visitors keep typing while agents convert: every conversion still ends
    // in exactly one ticket, and a message either lands before the chat
    // closed (and is in the thread) or is refused with 409.
    let t = app.tenant("Acme").await;
    for _ in 0..10 {
        let (chat, visitor) = app.simple_chat(&t).await;
        let msg_path = format!("/api/v1/widget/chats/{chat}/messages");
        let conv_path = format!("/api/v1/chats/{chat}/conversion");
        let (conv, msgs) = tokio::join!(
            app.post(&conv_path, &t.admin.token, json!({"visitor_email": "grace@navy.mil"})),
            join_all((0..12).map(|i| app.post(&msg_path, &visitor, json!({"body": format!("ping {i}")}))))
        );
        assert_eq!(conv.status, StatusCode::CREATED, "{:?}", conv.body);
        for m in &msgs {
            assert!(
                m.status == StatusCode::CREATED || m.status == StatusCode::CONFLICT,
                "{:?}",
                m.status
            );
        }
        let landed = msgs.iter().filter(|m| m.status == StatusCode::CREATED).count();
        let c = app.chat(&t.admin.token, &chat).await;
        let pings = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["body"].as_str().unwrap().starts_with("ping"))
            .count();
        assert_eq!(pings, landed);
        assert_eq!(c["status"], "closed");
        // The transcript was taken after the last message that landed: a
        // conversion whose snapshot went stale took a new one.
        let transcript = conv.body["description"].as_str().unwrap();
        assert_eq!(transcript.matches("ping").count(), landed, "{transcript}");
    }
}

async fn nodes_starting_together_on_a_fresh_database_all_come_up(app: TestApp) {
    // `app` migrated its own database; these three race on a new one.
    let fresh = std::sync::Arc::new(threadline_tests::TestDb::create(app.db.backend()).await.unwrap());
    let nodes = join_all((0..3).map(|_| TestApp::spawn_on(fresh.clone()))).await;
    let t = nodes[0].tenant("Acme").await;
    let (chat, _) = nodes[1].simple_chat(&t).await;
    let r = nodes[2]
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

/// A commit whose statement fails part way writes nothing, and the next
/// commit goes through. Here the chat's link to its ticket is cut behind
/// the server's back, so the claim succeeds, the new requester is written
/// and the number taken, and then the ticket collides with the chat's
/// first one. On SQLite the script's transaction, left open by the failed
/// statement, is rolled back on the writer's connection; were it not, the
/// writer would refuse every later transaction.
async fn a_commit_failing_part_way_writes_nothing_and_the_next_one_commits(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (first, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &first, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    sql::exec(
        &db,
        "UPDATE chats SET ticket_id = NULL WHERE id = $1",
        vec![first.as_str().into()],
    )
    .await;
    let before = written(&db, &t, &first).await;

    let r = app
        .admin_converts(&t, &first, json!({"visitor_email": "someone.new@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(
        written(&db, &t, &first).await,
        before,
        "(requesters, next number, chat version)"
    );

    let (second, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &second, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["number"], "TK-1002");
}

/// What a conversion of `chat` would write: the workspace's requesters,
/// its next ticket number and the chat's version.
async fn written(db: &sea_orm::DatabaseConnection, t: &TestTenant, chat: &str) -> (i64, i64, i64) {
    let sql = "SELECT (SELECT COUNT(*) FROM requesters WHERE tenant_id = $1) AS requesters, \
               (SELECT next_ticket_number FROM tenants WHERE id = $1) AS next, \
               (SELECT version FROM chats WHERE id = $2) AS version";
    let rows = sql::query(db, sql, vec![t.id.as_str().into(), chat.into()]).await;
    let get = |c: &str| -> i64 {
        rows[0]
            .try_get::<i64>("", c)
            .or_else(|_| rows[0].try_get::<i32>("", c).map(i64::from))
            .unwrap()
    };
    (get("requesters"), get("next"), get("version"))
}
