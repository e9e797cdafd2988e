//! Spam and blocked visitors: a spam chat is closed and out of the lists;
//! a blocked visitor (or address) cannot start a chat or write; admins
//! list and lift blocks.

use reqwest::{Method, StatusCode};
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(spam_leaves_the_lists_and_a_blocked_visitor_cannot_chat_until_unblocked);

async fn spam_leaves_the_lists_and_a_blocked_visitor_cannot_chat_until_unblocked(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let other = app.tenant("Other").await;
    let start = |token: Option<String>, email: &'static str| {
        let app = &app;
        let path = format!("/api/v1/widget/{}/chats", t.widget_key);
        async move {
            app.call(
                Method::POST,
                &path,
                token.as_deref(),
                Some(json!({"visitor_name": "Buy now", "visitor_email": email, "message": "cheap pills"})),
            )
            .await
        }
    };
    let r = start(None, "Spam@Example.com").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (chat, visitor) = (
        r.body["chat_id"].as_str().unwrap().to_owned(),
        r.body["visitor_token"].as_str().unwrap().to_owned(),
    );
    let (other_chat, other_visitor) = app.simple_chat(&t).await;
    // A second open chat of the spammer, to write into after the block.
    let r = start(Some(visitor.clone()), "Spam@Example.com").await;
    let second = r.body["chat_id"].as_str().unwrap().to_owned();

    let spam = format!("/api/v1/chats/{chat}/spam");
    assert_eq!(
        app.post(&spam, &other.admin.token, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(&spam, &bob.token, json!({"block": true, "block_email": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "closed");
    let listed: Vec<String> = app.get("/api/v1/chats", &bob.token).await.each("id");
    assert!(!listed.contains(&chat), "spam leaves the lists");
    assert!(listed.contains(&other_chat));
    let thread = app.chat(&bob.token, &chat).await;
    assert!(
        thread
            .to_string()
            .contains("marked this chat as spam and blocked the visitor")
    );

    // The blocked visitor cannot write or start again, by token or by
    // address; others can.
    let r = app.visitor_says(&visitor, &second, "more pills").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.error_message(), "chat is unavailable");
    assert_eq!(start(Some(visitor.clone()), "").await.status, StatusCode::FORBIDDEN);
    assert_eq!(start(None, "spam@example.COM").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.visitor_says(&other_visitor, &other_chat, "hello").await.status,
        StatusCode::CREATED
    );
    assert_eq!(start(None, "someone@example.com").await.status, StatusCode::CREATED);

    // Admins list blocks and lift them; agents and other workspaces cannot.
    assert_eq!(
        app.get("/api/v1/blocks", &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
    let blocks = app.get("/api/v1/blocks", &t.admin.token).await;
    assert_eq!(blocks.body.as_array().unwrap().len(), 1, "{:?}", blocks.body);
    assert_eq!(blocks.body[0]["email"], "spam@example.com");
    let lift = format!("/api/v1/blocks/{}", blocks.body[0]["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&lift, &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&lift, &t.admin.token).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.visitor_says(&visitor, &second, "sorry").await.status,
        StatusCode::CREATED
    );
}
