//! Several server processes over one PostgreSQL: shared limits and
//! usage that adds up.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::hosting::WORKSPACES;

/// A request to a server process: status, `Retry-After`, JSON body.
async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<u64>, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

/// Two server processes over one PostgreSQL: limits hold at one node's
/// numbers when requests alternate between them, and what each node
/// meters adds up. (SQLite is one node; its limits stay in memory.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_share_limits_and_add_up_usage_on_postgres() {
    let Some(db) = threadline_tests::TestDb::create(threadline_tests::Backend::Postgres).await else {
        return;
    };
    let store = threadline::store::Store::connect(&db.url).await.unwrap();
    let email = threadline::domain::EmailAddress::parse("email", "ada@acme.test").unwrap();
    let t = store.create_tenant("Acme", "Ada", &email).await.unwrap();
    let hash = |p: &str| {
        threadline::domain::password::Password::parse("password", p)
            .unwrap()
            .hash()
    };
    store
        .set_password(&t.tenant.id, &t.admin.agent.id, &hash("the right long password"))
        .await
        .unwrap();
    let bob_email = threadline::domain::EmailAddress::parse("email", "bob@acme.test").unwrap();
    let bob = store
        .create_agent(&t.tenant.id, "Bob", &bob_email, false)
        .await
        .unwrap();
    store
        .set_password(&t.tenant.id, &bob.agent.id, &hash("bob's long password"))
        .await
        .unwrap();
    let (op_row, op) = store.create_operator_token("ops").await.unwrap();
    assert_eq!(op_row.name, "ops");

    let flags = [
        "--rate-chats-burst",
        "3",
        "--rate-chats-per-hour",
        "1",
        "--rate-messages-burst",
        "2",
        "--rate-messages-per-minute",
        "1",
        "--sign-in-failures",
        "4",
    ];
    let cache = threadline_tests::warm_plugin_cache().await;
    let a = threadline_tests::ServerProcess::start(&db.url, cache.path(), &flags);
    let b = threadline_tests::ServerProcess::start(&db.url, cache.path(), &flags);
    let nodes = [a.base.as_str(), b.base.as_str()];
    let http = reqwest::Client::new();

    // Chats from one address: 3 in a burst, whichever node takes them.
    let path = format!("/api/v1/widget/{}/chats", t.tenant.widget_key);
    let body = json!({"visitor_name": "Grace", "message": "Hello?"});
    let mut visitor = None;
    for i in 0..3 {
        let (status, _, r) = send(&http, nodes[i % 2], Method::POST, &path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "chat {i}: {r:?}");
        visitor = Some((
            r["chat_id"].as_str().unwrap().to_owned(),
            r["visitor_token"].as_str().unwrap().to_owned(),
        ));
    }
    for node in nodes {
        let (status, retry, r) = send(&http, node, Method::POST, &path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
        assert!((1..=3600).contains(&retry.unwrap()), "{retry:?}");
    }
    // A visitor's messages: 2 in a burst across both nodes.
    let (chat, token) = visitor.unwrap();
    let say = |text: &str| json!({"body": text});
    let messages = format!("/api/v1/widget/chats/{chat}/messages");
    let (s1, _, _) = send(&http, nodes[0], Method::POST, &messages, Some(&token), Some(say("one"))).await;
    let (s2, _, _) = send(&http, nodes[1], Method::POST, &messages, Some(&token), Some(say("two"))).await;
    let (s3, _, _) = send(
        &http,
        nodes[0],
        Method::POST,
        &messages,
        Some(&token),
        Some(say("three")),
    )
    .await;
    assert_eq!(
        [s1, s2, s3],
        [StatusCode::CREATED, StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]
    );

    // The sign-in lock: 4 failures, alternating, lock the account on both.
    let sign_in =
        |email: &str, password: &str| json!({"workspace": t.tenant.slug, "email": email, "password": password});
    for i in 0..4 {
        let (status, _, r) = send(
            &http,
            nodes[i % 2],
            Method::POST,
            "/api/v1/auth/sign-in",
            None,
            Some(sign_in("ada@acme.test", "a wrong guess")),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}: {r:?}");
    }
    for node in nodes {
        let (status, _, r) = send(
            &http,
            node,
            Method::POST,
            "/api/v1/auth/sign-in",
            None,
            Some(sign_in("ada@acme.test", "the right long password")),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("from this network"),
            "{r:?}"
        );
    }
    // Another account is not locked, and its success clears only its own.
    send(
        &http,
        nodes[1],
        Method::POST,
        "/api/v1/auth/sign-in",
        None,
        Some(sign_in("bob@acme.test", "wrong")),
    )
    .await;
    let (status, _, r) = send(
        &http,
        nodes[0],
        Method::POST,
        "/api/v1/auth/sign-in",
        None,
        Some(sign_in("bob@acme.test", "bob's long password")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r:?}");
    let (status, _, _) = send(
        &http,
        nodes[1],
        Method::POST,
        "/api/v1/auth/sign-in",
        None,
        Some(sign_in("ada@acme.test", "the right long password")),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // What both nodes metered adds up: 3 chats, 5 messages (3 first ones
    // and 2 more), flushed by each node within a few seconds.
    let usage_path = format!("{WORKSPACES}/{}", t.tenant.id);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, w) = send(&http, nodes[1], Method::GET, &usage_path, Some(&op), None).await;
        assert_eq!(status, StatusCode::OK, "{w:?}");
        if w["usage"]["chats"] == 3 && w["usage"]["messages"] == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the nodes' counts never added up: {w}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
