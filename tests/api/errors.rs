//! Bad input gets a clear error with the right status, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use threadline_tests::{TestApp, TestTenant, on_both_databases};

on_both_databases!(
    a_missing_or_invalid_email_is_a_422_naming_the_field_and_changes_nothing,
    a_subject_over_255_characters_is_a_422_and_changes_nothing,
    malformed_json_is_a_400_and_changes_nothing,
    an_unknown_chat_or_ticket_is_a_404,
    missing_or_wrong_credentials_are_a_401,
    settings_are_for_admins_only,
    starting_a_chat_validates_every_field,
    unknown_routes_are_a_json_404,
);

/// Everything a failed conversion could have touched, to compare before and after.
async fn state_of(app: &TestApp, t: &TestTenant, chat: &str) -> (Value, Value) {
    (
        app.chat(&t.admin.token, chat).await,
        app.get("/api/v1/tickets", &t.admin.token).await.body,
    )
}

async fn a_missing_or_invalid_email_is_a_422_naming_the_field_and_changes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let before = state_of(&app, &t, &chat).await;
    for body in [
        json!({}),
        json!({"visitor_email": null}),
        json!({"visitor_email": ""}),
        json!({"visitor_email": "   "}),
        json!({"visitor_email": "not-an-email"}),
        json!({"visitor_email": "grace@"}),
        json!({"visitor_email": "grace@navy"}),
        json!({"visitor_email": "gr ace@navy.mil"}),
    ] {
        for path in ["conversion", "conversion/preview"] {
            let r = app
                .post(&format!("/api/v1/chats/{chat}/{path}"), &t.admin.token, body.clone())
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}");
            assert_eq!(r.body["error"]["code"], "invalid_input");
            assert_eq!(r.body["error"]["field"], "visitor_email", "{body}");
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("visitor_email")
            );
        }
    }
    let r = app.admin_converts(&t, &chat, json!({"visitor_email": 42})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a number is no email");
    assert_eq!(state_of(&app, &t, &chat).await, before);
}

async fn a_subject_over_255_characters_is_a_422_and_changes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let before = state_of(&app, &t, &chat).await;
    let long = "é".repeat(256);
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil", "subject": long}))
        .await;
    r.assert_invalid("subject");
    assert_eq!(state_of(&app, &t, &chat).await, before);

    // Exactly 255 is fine.
    let ok = "é".repeat(255);
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "g@navy.mil", "subject": ok}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

async fn malformed_json_is_a_400_and_changes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let before = state_of(&app, &t, &chat).await;
    for raw in ["{", "{\"visitor_email\": \"g@navy.mil\"", "not json", ""] {
        let r = app
            .post_raw(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token, raw)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw:?}");
        assert_eq!(r.body["error"]["code"], "bad_request");
    }
    // JSON without the JSON content type is refused the same way.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/chats/{chat}/conversion")))
        .bearer_auth(&t.admin.token)
        .body(r#"{"visitor_email": "g@navy.mil"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(state_of(&app, &t, &chat).await, before);
}

async fn an_unknown_chat_or_ticket_is_a_404(app: TestApp) {
    let t = app.tenant("Acme").await;
    let nobody = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, format!("/api/v1/chats/{nobody}")),
        (Method::GET, format!("/api/v1/chats/{nobody}/conversion")),
        (Method::POST, format!("/api/v1/chats/{nobody}/conversion")),
        (Method::POST, format!("/api/v1/chats/{nobody}/conversion/preview")),
        (Method::POST, format!("/api/v1/chats/{nobody}/reopen")),
        (Method::POST, format!("/api/v1/chats/{nobody}/close")),
        (Method::POST, format!("/api/v1/chats/{nobody}/messages")),
        (Method::GET, "/api/v1/tickets/TK-1001".to_owned()),
        (Method::GET, "/api/v1/tickets/not-a-number".to_owned()),
        // Found by schemathesis: a multi-byte character where "TK-" would end.
        (Method::GET, "/api/v1/tickets/%F0%90%80%80".to_owned()),
        (Method::GET, "/api/v1/tickets/X%F3%89%80%9F%C2%A4".to_owned()),
    ] {
        let body = json!({"visitor_email": "g@navy.mil", "body": "hi"});
        let r = app.call(method.clone(), &path, Some(&t.admin.token), Some(body)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.body["error"]["code"], "not_found");
    }
    let r = app
        .post_anonymous(
            "/api/v1/widget/wk_nope/chats",
            json!({"visitor_name": "A", "message": "hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn missing_or_wrong_credentials_are_a_401(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let path = format!("/api/v1/chats/{chat}/conversion");
    let body = Some(json!({"visitor_email": "g@navy.mil"}));
    assert_eq!(
        app.call(Method::POST, &path, None, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::POST, &path, Some("tl_wrong"), body.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .client
        .post(app.url(&path))
        .header("authorization", format!("Basic {}", t.admin.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.get(app.url("/api/v1/tickets")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert!(
        app.get("/api/v1/tickets", &t.admin.token)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn settings_are_for_admins_only(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    assert_eq!(
        app.get("/api/v1/settings", &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .put("/api/v1/settings", &bob.token, json!({"summary_on_close": true}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.put("/api/v1/settings", &t.admin.token, json!({})).await;
    r.assert_invalid("summary_on_close");
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"summary_on_close": "yes"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let s = app.get("/api/v1/settings", &t.admin.token).await.body;
    assert_eq!(s["summary_on_close"], false, "refused updates change nothing");
    assert_eq!(s["workspace"]["widget_key"], t.widget_key.as_str());
}

async fn starting_a_chat_validates_every_field(app: TestApp) {
    let t = app.tenant("Acme").await;
    let path = format!("/api/v1/widget/{}/chats", t.widget_key);
    for (body, field) in [
        (json!({"message": "hi"}), "visitor_name"),
        (json!({"visitor_name": "  ", "message": "hi"}), "visitor_name"),
        (json!({"visitor_name": "A\nB", "message": "hi"}), "visitor_name"),
        (json!({"visitor_name": "Ada"}), "message"),
        (
            json!({"visitor_name": "Ada", "message": "hi", "visitor_email": "nope"}),
            "visitor_email",
        ),
        (
            json!({"visitor_name": "Ada", "message": "hi", "subject": "x".repeat(256)}),
            "subject",
        ),
    ] {
        let r = app.post_anonymous(&path, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.body["error"]["field"], field, "{body}");
    }
    assert_eq!(app.get("/api/v1/chats", &t.admin.token).await.body, json!([]));
}

async fn unknown_routes_are_a_json_404(app: TestApp) {
    let r = app.call(Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], "not_found");
}
