//! Webhooks: every event reaches a receiver on loopback once, signed as the
//! README says to check it; a receiver that fails for a while gets
//! everything once it recovers; deliveries are logged and can be sent
//! again; private addresses are refused without the flag, when saved and
//! when delivered; a server killed with SIGKILL between commit and
//! delivery loses nothing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::webhooks::{Receiver, verify};
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    each_event_reaches_its_webhooks_once_signed,
    a_failing_receiver_gets_every_event_once_it_recovers,
    private_addresses_are_refused_without_the_flag,
);

const ALL: [&str; 6] = [
    "ticket_created",
    "ticket_updated",
    "comment_added",
    "chat_started",
    "chat_closed",
    "sla_breached",
];

async fn db(app: &TestApp) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&app.db.url).await.unwrap()
}

async fn webhook(app: &TestApp, t: &TestTenant, url: &str, events: &[&str]) -> (String, String) {
    let r = app
        .post(
            "/api/v1/webhooks",
            &t.admin.token,
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    (r.body["id"].as_str().unwrap().to_owned(), secret)
}

async fn each_event_reaches_its_webhooks_once_signed(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let receiver = Receiver::start().await;
    let (id, secret) = webhook(&app, &t, &receiver.url, &ALL).await;
    // Listing never shows the secret again.
    let list = app.get("/api/v1/webhooks", &t.admin.token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body[0].get("secret").is_none(), "{:?}", list.body);
    // Agents who are not admins see nothing of webhooks.
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/webhooks", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );
    // Another workspace's events never reach this one's webhook.
    app.converted(&other, "zed@example.com").await;

    // chat_started, then a conversion: ticket_created and chat_closed.
    let number = app.converted(&t, "grace@example.com").await;
    // comment_added, and ticket_updated with what changed.
    let c = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &t.admin.token,
            json!({"body": "Looking into it", "internal": true}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    let p = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);

    let got = receiver.wait_for(5, None).await;
    // A moment more: nothing else may come.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.accepted().await;
    assert_eq!(
        got_all.len(),
        5,
        "{:?}",
        got_all.iter().map(|r| &r.event).collect::<Vec<_>>()
    );
    let mut kinds: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "chat_closed",
            "chat_started",
            "comment_added",
            "ticket_created",
            "ticket_updated"
        ]
    );
    let mut deliveries: Vec<&str> = got.iter().map(|r| r.delivery.as_str()).collect();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 5);
    for r in &got {
        assert!(verify(r, &secret), "bad signature on {}: {}", r.event, r.signature);
        assert!(!verify(r, "whsec_another"), "a wrong secret verifies");
        assert_eq!(r.body["event"], r.event.as_str());
    }
    let by = |kind: &str| got.iter().find(|r| r.event == kind).unwrap().body.clone();
    let created = by("ticket_created");
    assert_eq!(created["ticket"]["number"], number.as_str());
    assert_eq!(created["ticket"]["requester"]["email"], "grace@example.com");
    assert_eq!(created["actor"], format!("agent:{}", t.admin.id));
    let updated = by("ticket_updated");
    assert_eq!(
        updated["changes"]["status"],
        json!({"from": "in_progress", "to": "pending"})
    );
    let comment = by("comment_added");
    assert_eq!(comment["comment"]["body"], "Looking into it");
    assert_eq!(comment["comment"]["internal"], true);
    let started = by("chat_started");
    assert_eq!(started["chat"]["visitor"]["name"], "Grace Hopper");

    // The log: each delivered at the first attempt, with the status.
    let log = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &t.admin.token)
        .await;
    assert_eq!(log.status, StatusCode::OK);
    let entries = log.body.as_array().unwrap();
    assert_eq!(entries.len(), 5);
    for d in entries {
        assert_eq!(d["state"], "delivered", "{d:?}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 204);
        assert!(d["latency_ms"].as_i64().is_some());
    }
    // Sent again on request: the same id and bytes.
    let first = &entries[0];
    let again = app
        .post_empty(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/redeliver",
                first["id"].as_str().unwrap()
            ),
            &t.admin.token,
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{:?}", again.body);
    let got = receiver.wait_for(6, None).await;
    let resent = got.last().unwrap();
    assert_eq!(resent.delivery, first["id"].as_str().unwrap());
    let original = got.iter().find(|r| r.delivery == resent.delivery).unwrap();
    assert_eq!(original.raw, resent.raw);
    // Another workspace cannot read or redeliver it.
    let theirs = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &other.admin.token)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // Switched off, it hears nothing; deleted, its log goes with it.
    let off = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            &t.admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    app.converted(&t, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().await.len(), 6);
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), &t.admin.token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let left = sql::query(&db(&app).await, "SELECT count(*) FROM webhook_deliveries", vec![]).await;
    assert_eq!(left[0].try_get_by_index::<i64>(0).unwrap(), 0);
}

async fn a_failing_receiver_gets_every_event_once_it_recovers(app: TestApp) {
    let t = app.tenant("Acme").await;
    let receiver = Receiver::start().await;
    let (id, secret) = webhook(&app, &t, &receiver.url, &["ticket_created", "ticket_updated"]).await;
    // Down for its next 4 posts: the first attempts of three events and
    // one retry.
    receiver.fail_next(4);
    let mut numbers = Vec::new();
    for n in 0..3 {
        numbers.push(app.converted(&t, &format!("p{n}@example.com")).await);
    }
    let got = receiver.wait_for(3, Some("ticket_created")).await;
    let mut seen: Vec<&str> = got
        .iter()
        .map(|r| r.body["ticket"]["number"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 3, "every ticket once: {seen:?}");
    assert!(got.iter().all(|r| verify(r, &secret)));
    let failed = receiver.all().await.into_iter().filter(|r| r.status == 503).count();
    assert_eq!(failed, 4);
    let log = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &t.admin.token)
        .await;
    let retried: Vec<&Value> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["attempts"].as_i64() > Some(1))
        .collect();
    assert!(!retried.is_empty(), "{:?}", log.body);
    for d in log.body.as_array().unwrap() {
        assert_eq!(d["state"], "delivered", "{d:?}");
        assert!(d["last_error"].is_null(), "{d:?}");
    }
}

async fn private_addresses_are_refused_without_the_flag(app: TestApp) {
    // Alone on its database: the first server's sender may post anywhere.
    let alone = app.db.clone();
    drop(app);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = TestApp::builder(alone)
        .automation(threadline::automation::AutomationSettings {
            webhooks_allow_private: false,
            ..threadline_tests::test_automation()
        })
        .spawn()
        .await;
    let t = app.tenant("Acme").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
        "not a url",
    ] {
        let r = app
            .post(
                "/api/v1/webhooks",
                &t.admin.token,
                json!({"url": url, "events": ["ticket_created"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {:?}", r.body);
        r.assert_invalid("url");
    }
    let r = app
        .post(
            "/api/v1/webhooks",
            &t.admin.token,
            json!({"url": "http://93.184.216.34/hook", "events": ["no_such_event"]}),
        )
        .await;
    r.assert_invalid("events");
    assert_eq!(app.get("/api/v1/webhooks", &t.admin.token).await.body, json!([]));

    // An address that moved to loopback after it was saved is refused when
    // delivered.
    let receiver = Receiver::start().await;
    let (id, _) = webhook(&app, &t, "http://93.184.216.34/hook", &["ticket_created"]).await;
    sql::exec(
        &db(&app).await,
        "UPDATE webhooks SET url = $1 WHERE id = $2",
        vec![receiver.url.clone().into(), id.clone().into()],
    )
    .await;
    app.converted(&t, "grace@example.com").await;
    let mut last = Value::Null;
    for _ in 0..100 {
        let log = app
            .get(&format!("/api/v1/webhooks/{id}/deliveries"), &t.admin.token)
            .await;
        last = log.body[0].clone();
        if last["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = last["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("public address"), "{last:?}");
    assert!(receiver.all().await.is_empty());
}

/// SIGKILL between commit and delivery: the server is killed while its
/// receiver is down (every event committed, none delivered); a new server
/// over the same database delivers every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_commit_and_delivery_loses_nothing() {
    for backend in [threadline_tests::Backend::Sqlite, threadline_tests::Backend::Postgres] {
        let Some(db) = threadline_tests::TestDb::create(backend).await else {
            continue;
        };
        let store = threadline::store::Store::connect(&db.url).await.unwrap();
        let email = threadline::domain::EmailAddress::parse("email", "ada@acme.test").unwrap();
        let t = store.create_tenant("Acme", "Ada", &email).await.unwrap();
        let token = t.admin.token.clone();
        let receiver = Receiver::start().await;
        let flags = [
            "--webhooks-allow-private",
            "--webhook-retry-base-ms",
            "100",
            "--webhook-timeout-secs",
            "2",
            "--automation-lease-secs",
            "2",
        ];
        let cache = threadline_tests::warm_plugin_cache().await;
        let http = reqwest::Client::new();
        let a = threadline_tests::ServerProcess::start(&db.url, cache.path(), &flags);
        let r = http
            .post(format!("{}/api/v1/webhooks", a.base))
            .bearer_auth(&token)
            .json(&json!({"url": receiver.url, "events": ["ticket_created"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        receiver.fail_next(u32::MAX);
        let mut numbers = Vec::new();
        for n in 0..5 {
            let chat = http
                .post(format!("{}/api/v1/widget/{}/chats", a.base, t.tenant.widget_key))
                .json(&json!({"visitor_name": "Grace", "message": format!("Hello {n}")}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let (ticket, _) = a.convert(&http, &token, chat["chat_id"].as_str().unwrap()).await;
            numbers.push(ticket["number"].as_str().unwrap().to_owned());
        }
        // SIGKILL: no shutdown, whatever it held stays claimed until its
        // lease runs out.
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe {
            libc::kill(a.pid() as libc::pid_t, libc::SIGKILL);
        }
        drop(a);
        receiver.fail_next(0);
        let before = receiver.accepted().await.len();
        assert_eq!(before, 0, "nothing was accepted while the receiver was down");
        let b = threadline_tests::ServerProcess::start(&db.url, cache.path(), &flags);
        let got = receiver.wait_for(5, Some("ticket_created")).await;
        let mut seen: Vec<String> = got
            .iter()
            .map(|r| r.body["ticket"]["number"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        seen.dedup();
        numbers.sort();
        assert_eq!(seen, numbers, "{backend:?}");
        drop(b);
    }
}
