//! Canned replies: admins write them, every agent lists them; titles are
//! unique in any case; a body's variables are the known three.

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(admins_write_canned_replies_and_every_agent_reads_them);

async fn admins_write_canned_replies_and_every_agent_reads_them(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let other = app.tenant("Other").await;
    let post = |token: &str, body: serde_json::Value| {
        let (app, token) = (&app, token.to_owned());
        async move { app.post("/api/v1/canned-replies", &token, body).await }
    };

    let r = post(
        &t.admin.token,
        json!({"title": "Refund", "body": "Hi {visitor_name}, {agent_name} here: refunded."}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let refund = r.body["id"].as_str().unwrap().to_owned();
    post(
        &t.admin.token,
        json!({"title": "Address", "body": "Your ticket {ticket_number} needs your address."}),
    )
    .await;
    // Only admins write; titles are unique in any case; bodies use the
    // known variables only.
    assert_eq!(
        post(&bob.token, json!({"title": "Mine", "body": "x"})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&t.admin.token, json!({"title": "REFUND", "body": "x"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    post(&t.admin.token, json!({"title": "Typo", "body": "Hi {visitor}!"}))
        .await
        .assert_invalid("body");
    post(&t.admin.token, json!({"title": "", "body": "x"}))
        .await
        .assert_invalid("title");
    post(&t.admin.token, json!({"title": "Empty", "body": " "}))
        .await
        .assert_invalid("body");

    // Every agent of the workspace reads them, by title; nobody else.
    let listed = app.get("/api/v1/canned-replies", &bob.token).await;
    assert_eq!(listed.each("title"), ["Address", "Refund"]);
    assert!(
        app.get("/api/v1/canned-replies", &other.admin.token)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );

    let path = format!("/api/v1/canned-replies/{refund}");
    let r = app
        .patch(&path, &t.admin.token, json!({"body": "Refunded, {visitor_name}."}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["title"], "Refund");
    assert_eq!(
        app.patch(&path, &t.admin.token, json!({"title": "address"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    app.patch(&path, &t.admin.token, json!({}))
        .await
        .assert_invalid("title");
    assert_eq!(
        app.patch(&path, &other.admin.token, json!({"title": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &bob.token).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&path, &t.admin.token).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/canned-replies", &bob.token).await.each("title"),
        ["Address"]
    );
}
