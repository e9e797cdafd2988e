//! Chats belong to someone: assign, take, transfer (each an internal line
//! of the thread), the Mine / Unassigned views, the longest wait first,
//! and the counts the console's title shows.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    a_chat_is_taken_transferred_and_let_go_and_the_thread_says_who_did_it,
    the_views_show_mine_nobodys_and_the_longest_waiting_first,
);

async fn assign(app: &TestApp, token: &str, chat: &str, body: Value) -> threadline_tests::Reply {
    app.patch(&format!("/api/v1/chats/{chat}"), token, body).await
}

/// The internal lines of the thread, as agents see them.
async fn lines(app: &TestApp, token: &str, chat: &str) -> Vec<String> {
    app.chat(token, chat).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "internal_note")
        .map(|m| {
            format!(
                "{}: {}",
                m["author_name"].as_str().unwrap(),
                m["body"].as_str().unwrap()
            )
        })
        .collect()
}

async fn a_chat_is_taken_transferred_and_let_go_and_the_thread_says_who_did_it(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let cleo = app.agent(&t, "Cleo").await;
    let (chat, visitor) = app.simple_chat(&t).await;

    let r = assign(&app, &bob.token, &chat, json!({"assignee_id": bob.id})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["assignee"]["name"], "Bob");
    let r = assign(&app, &t.admin.token, &chat, json!({"assignee_id": cleo.id})).await;
    assert_eq!(r.body["assignee"]["name"], "Cleo");
    // The same again changes nothing and writes nothing.
    assign(&app, &t.admin.token, &chat, json!({"assignee_id": cleo.id})).await;
    let r = assign(&app, &cleo.token, &chat, json!({"assignee_id": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["assignee"].is_null());
    assert_eq!(
        lines(&app, &t.admin.token, &chat).await,
        [
            "Bob: took the chat",
            "Ada Admin: assigned the chat to Cleo",
            "Cleo: unassigned the chat"
        ]
    );
    // The visitor sees none of it.
    let seen = app.visitor_view(&visitor, &chat).await;
    assert_eq!(seen["messages"].as_array().unwrap().len(), 1, "{seen}");

    // Bad input changes nothing.
    let other = app.tenant("Other").await;
    assign(&app, &bob.token, &chat, json!({"assignee_id": other.admin.id}))
        .await
        .assert_invalid("assignee_id");
    assign(&app, &bob.token, &chat, json!({}))
        .await
        .assert_invalid("assignee_id");
    app.patch(
        &format!("/api/v1/agents/{}", cleo.id),
        &t.admin.token,
        json!({"active": false}),
    )
    .await;
    assign(&app, &bob.token, &chat, json!({"assignee_id": cleo.id}))
        .await
        .assert_invalid("assignee_id");
    let r = assign(&app, &other.admin.token, &chat, json!({"assignee_id": null})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.post_empty(&format!("/api/v1/chats/{chat}/close"), &bob.token).await;
    let r = assign(&app, &bob.token, &chat, json!({"assignee_id": bob.id})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(lines(&app, &t.admin.token, &chat).await.len(), 3);
}

/// The ids of the chats a list shows, in its order.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let r = app.get(&format!("/api/v1/chats?{query}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_views_show_mine_nobodys_and_the_longest_waiting_first(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    // Five chats, started in turn: the first has waited longest.
    let mut chats = Vec::new();
    for _ in 0..5 {
        chats.push(app.simple_chat(&t).await.0);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Bob answers the second (it waits no more, and is his), and takes
    // the fourth without answering.
    app.agent_says(&bob.token, &chats[1], "On it", false).await;
    assign(&app, &bob.token, &chats[3], json!({"assignee_id": bob.id})).await;

    let mine = listed(&app, &bob.token, "assignee=me&status=open").await;
    assert_eq!(mine, [chats[1].clone(), chats[3].clone()], "his, newest activity first");
    assert_eq!(
        listed(&app, &t.admin.token, &format!("assignee={}", bob.id))
            .await
            .len(),
        2
    );
    let nobodys = listed(&app, &bob.token, "assignee=none").await;
    assert_eq!(nobodys, [chats[4].clone(), chats[2].clone(), chats[0].clone()]);

    // Longest waiting first, a page at a time, every waiting chat reached.
    let mut waiting = listed(&app, &bob.token, "sort=waiting&limit=2").await;
    let next = app.get("/api/v1/chats?sort=waiting&limit=2", &bob.token).await;
    let link = next.headers["link"].to_str().unwrap().to_owned();
    assert!(link.contains("sort=waiting"), "{link}");
    let mut before = waiting.last().unwrap().clone();
    loop {
        let page = listed(&app, &bob.token, &format!("sort=waiting&limit=2&before={before}")).await;
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().clone();
        waiting.extend(page);
    }
    assert_eq!(
        waiting,
        [chats[0].clone(), chats[2].clone(), chats[3].clone(), chats[4].clone()]
    );
    let rows = app.get("/api/v1/chats?sort=waiting", &bob.token).await.body;
    assert!(rows.as_array().unwrap().iter().all(|c| c["waiting"] == true));
    assert_eq!(rows[1]["assignee_id"], Value::Null);
    assert_eq!(rows[2]["assignee_id"], bob.id.as_str());

    let counts = app.get("/api/v1/chats/counts", &bob.token).await;
    assert_eq!(counts.body, json!({"waiting": 4, "mine": 2, "unassigned": 3}));
    let counts = app.get("/api/v1/chats/counts", &t.admin.token).await;
    assert_eq!(counts.body, json!({"waiting": 4, "mine": 0, "unassigned": 3}));

    app.get("/api/v1/chats?sort=oldest", &bob.token)
        .await
        .assert_invalid("sort");
    app.get("/api/v1/chats?assignee=%27or%201", &bob.token)
        .await
        .assert_invalid("assignee");
}
