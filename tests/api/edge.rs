//! What anyone on the internet can send: ids and cursors with control
//! characters, oversized bodies, odd spellings of the auth scheme, requests
//! refused before their body is read, names that reverse text.

use reqwest::{Method, StatusCode};
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    ids_with_control_characters_are_a_404_on_every_route_and_cursors_a_422,
    a_body_over_the_limit_is_a_413,
    the_bearer_scheme_is_case_insensitive,
    a_request_refused_before_its_body_is_read_closes_its_connection_cleanly,
    names_and_subjects_with_bidirectional_controls_are_refused,
);

async fn ids_with_control_characters_are_a_404_on_every_route_and_cursors_a_422(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let agent = Some(t.admin.token.as_str());
    let bad = ["%00", "abc%00def", "%0A", "%1F", "%7F"];
    for id in bad {
        let requests: Vec<(Method, String, Option<&str>)> = vec![
            (Method::GET, format!("/api/v1/chats/{id}"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/messages"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/close"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/reopen"), agent),
            (Method::GET, format!("/api/v1/chats/{id}/conversion"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/conversion"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/conversion/preview"), agent),
            (Method::GET, format!("/api/v1/tickets/{id}"), agent),
            (Method::DELETE, format!("/api/v1/plugins/{id}"), agent),
            (Method::POST, format!("/api/v1/widget/{id}/chats"), None),
            (
                Method::GET,
                format!("/api/v1/widget/chats/{id}"),
                Some(visitor.as_str()),
            ),
            (
                Method::POST,
                format!("/api/v1/widget/chats/{id}/messages"),
                Some(visitor.as_str()),
            ),
            (
                Method::POST,
                format!("/api/v1/widget/chats/{id}/rating"),
                Some(visitor.as_str()),
            ),
        ];
        for (method, path, token) in requests {
            let r = app.call(method.clone(), &path, token, Some(json!({}))).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {:?}", r.body);
            assert_eq!(r.body["error"]["code"], "not_found", "{method} {path}");
        }
        for path in [
            format!("/api/v1/chats?before={id}"),
            format!("/api/v1/tickets?before={id}"),
            format!("/api/v1/plugins/faults?before={id}"),
            format!("/api/v1/chats?status=open&x{id}=1"),
        ] {
            let r = app.call(Method::GET, &path, agent, None).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {:?}", r.body);
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("control characters"),
                "{path}: {:?}",
                r.body
            );
        }
    }
    // Nothing changed, and the chat is still there under its real id.
    let c = app.chat(&t.admin.token, &chat).await;
    assert_eq!(c["status"], "open");
}

async fn a_body_over_the_limit_is_a_413(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let before = app.chat(&t.admin.token, &chat).await;
    let body = format!("{{\"body\": \"{}\"}}", "x".repeat(3 << 20));
    let r = app
        .client
        .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
        .bearer_auth(&t.admin.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["connection"], "close");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
    assert_eq!(app.chat(&t.admin.token, &chat).await, before, "nothing was posted");
}

async fn the_bearer_scheme_is_case_insensitive(app: TestApp) {
    let t = app.tenant("Acme").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url("/api/v1/chats"))
            .header("authorization", format!("{scheme} {}", t.admin.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    for value in ["Basic abc", "Bearer", "Bearer ", "Token x"] {
        let r = app
            .client
            .get(app.url("/api/v1/chats"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{value:?}");
    }
}

/// A 401 for a POST whose body the server never read says `Connection:
/// close`, so the client does not send its next request down a connection
/// the server is about to drop: the next request on the same client works.
async fn a_request_refused_before_its_body_is_read_closes_its_connection_cleanly(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    for _ in 0..5 {
        let r = client
            .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
            .bearer_auth("not-a-token")
            .json(&json!({"body": "x".repeat(100_000)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["connection"], "close");
        let r = client
            .get(app.url("/api/v1/chats"))
            .bearer_auth(&t.admin.token)
            .send()
            .await
            .expect("the next request on the same client goes through");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A request without a body keeps its connection.
    let r = client.get(app.url("/api/v1/chats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("connection").is_none());
}

async fn names_and_subjects_with_bidirectional_controls_are_refused(app: TestApp) {
    let t = app.tenant("Acme").await;
    let path = format!("/api/v1/widget/{}/chats", t.widget_key);
    for (body, field) in [
        (
            json!({"visitor_name": "Ada\u{202E}fdp.exe", "message": "hi"}),
            "visitor_name",
        ),
        (
            json!({"visitor_name": "Ada", "subject": "Refund \u{2067}now", "message": "hi"}),
            "subject",
        ),
    ] {
        let r = app.call(Method::POST, &path, None, Some(body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.body["error"]["field"], field);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("bidirectional"));
    }
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .convert(
            &t.admin.token,
            &chat,
            json!({"visitor_email": "a@example.com", "subject": "Hi \u{202D}there"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["error"]["field"], "subject");
    let chats = app.get("/api/v1/chats", &t.admin.token).await.body;
    assert_eq!(chats.as_array().unwrap().len(), 1, "only the plain chat was started");
}
