//! One workspace can never reach another's rows.

use reqwest::{Method, StatusCode};
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(another_workspaces_chats_and_tickets_are_404);

async fn another_workspaces_chats_and_tickets_are_404(app: TestApp) {
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let (chat, _) = app.simple_chat(&acme).await;
    app.admin_converts(&acme, &chat, json!({"visitor_email": "g@navy.mil"}))
        .await;
    app.post(&format!("/api/v1/chats/{chat}/reopen"), &acme.admin.token, json!({}))
        .await;
    let before = app.chat(&acme.admin.token, &chat).await;

    let spy = &globex.admin.token;
    let body = json!({"visitor_email": "spy@globex.test", "body": "hi", "internal": true});
    for (method, path) in [
        (Method::GET, format!("/api/v1/chats/{chat}")),
        (Method::GET, format!("/api/v1/chats/{chat}/conversion")),
        (Method::POST, format!("/api/v1/chats/{chat}/conversion")),
        (Method::POST, format!("/api/v1/chats/{chat}/conversion/preview")),
        (Method::POST, format!("/api/v1/chats/{chat}/messages")),
        (Method::POST, format!("/api/v1/chats/{chat}/close")),
        (Method::POST, format!("/api/v1/chats/{chat}/reopen")),
        (Method::GET, "/api/v1/tickets/TK-1001".to_owned()),
    ] {
        let r = app.call(method.clone(), &path, Some(spy), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(app.get("/api/v1/chats", spy).await.body, json!([]));
    assert_eq!(app.get("/api/v1/tickets", spy).await.body, json!([]));
    assert_eq!(app.chat(&acme.admin.token, &chat).await, before);
}
