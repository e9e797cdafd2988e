//! What plugin authors get from a server: the exact input a hook got for a
//! chat, in the format the local runner reads.

use reqwest::StatusCode;
use serde_json::json;
use threadline::domain::transcript::plain_transcript;
use threadline::plugins::local::ChatFile;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(a_hook_input_replays_what_the_hook_got_without_internal_notes);

async fn a_hook_input_replays_what_the_hook_got_without_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@navy.mil",
                   "subject": "Refund", "message": "I was charged twice."}),
        )
        .await;
    app.agent_says(&bob.token, &chat, "Sorry! Checking with billing.", false)
        .await;
    app.agent_says(&bob.token, &chat, "SECRET: on the watch list", true)
        .await;

    let path = |hook: &str| format!("/api/v1/chats/{chat}/hook-input?hook={hook}");
    let r = app.get(&path("transcript"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        !r.body.to_string().contains("SECRET"),
        "internal notes never leave for a plugin"
    );
    assert!(
        r.body.get("converting_agent").is_none(),
        "only the assignment hook gets agents"
    );
    let file: ChatFile = serde_json::from_value(r.body.clone()).expect("the runner's own format");
    let input = file.into_input().expect("the runner accepts it");
    assert_eq!(input.chat.chat_id, chat);
    assert_eq!(input.chat.visitor_email.as_deref(), Some("grace@navy.mil"));
    assert_eq!(input.chat.messages.len(), 2);

    let r = app.get(&path("assignment"), &t.admin.token).await;
    assert_eq!(r.body["converting_agent"]["id"], t.admin.id.as_str());
    let mut candidates: Vec<&str> = r.body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    candidates.sort();
    assert_eq!(candidates, ["Ada Admin", "Bob"]);

    // Exactly what the hook got: the built-in transcript of the exported
    // chat is the description the conversion writes.
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["description"], plain_transcript(&input.chat.messages));

    // Bad requests change nothing and say why.
    assert_eq!(
        app.get(&path("nope"), &t.admin.token).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app
        .get(&format!("/api/v1/chats/{chat}/hook-input"), &t.admin.token)
        .await;
    assert_eq!(
        (r.status, &r.body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("hook"))
    );
    assert_eq!(
        app.get(&path("subject"), &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
    let other = app.tenant("Other").await;
    assert_eq!(
        app.get(&path("subject"), &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
}
