//! Receiving e-mail from an IMAP mailbox: a real Dovecot on loopback (see
//! `threadline_tests::imap`). Mail put in the mailbox becomes tickets once,
//! across a restart of the poller and across two server processes (of
//! their own) polling the same mailbox, and is marked seen only once it has.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use threadline::imap::ImapSettings;
use threadline_tests::imap::{ImapServer, PASSWORD, USER};
use threadline_tests::{TestApp, TestTenant, on_both_databases};

on_both_databases!(
    mailbox_mail_becomes_tickets_once_across_a_restart_and_two_nodes,
    a_mailbox_that_refuses_the_login_says_why,
    a_workspace_cannot_point_the_server_at_its_own_network,
);

const PATIENCE: Duration = Duration::from_secs(30);

fn quick() -> ImapSettings {
    ImapSettings {
        poll_interval: Duration::from_millis(300),
        lease: Duration::from_secs(2),
        retry_after: Duration::from_millis(500),
        // Dovecot runs on loopback.
        allow_private: true,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/mail/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn set_mailbox(app: &TestApp, t: &TestTenant, port: u16, password: &str) {
    let r = app
        .put(
            "/api/v1/settings/imap",
            &t.admin.token,
            json!({"host": "127.0.0.1", "port": port, "security": "none", "username": USER, "password": password}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["has_password"], true);
    assert!(
        r.body.get("password").is_none(),
        "the password is never shown: {}",
        r.body
    );
}

/// Waits until the mailbox's last poll failed; why.
async fn last_error(app: &TestApp, t: &TestTenant) -> String {
    let start = std::time::Instant::now();
    loop {
        let m = app.get("/api/v1/settings/imap", &t.admin.token).await;
        if let Some(e) = m.body["last_error"].as_str() {
            return e.to_owned();
        }
        assert!(start.elapsed() < PATIENCE, "no error noted: {}", m.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the workspace has `n` tickets and the mailbox nothing unseen.
async fn settled(app: &TestApp, t: &TestTenant, imap: &ImapServer, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let tickets = app.get("/api/v1/tickets", &t.admin.token).await.each("number");
        let (unseen, _) = imap.unseen_of().await;
        if tickets.len() >= n && unseen == 0 {
            return tickets;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{} of {n} tickets, {unseen} unseen",
            tickets.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mailbox_mail_becomes_tickets_once_across_a_restart_and_two_nodes(app: TestApp) {
    let Some(imap) = ImapServer::start().await else { return };
    let node = TestApp::builder(app.db.clone()).imap(quick()).spawn().await;
    let t = node.tenant("Acme").await;
    set_mailbox(&node, &t, imap.port, PASSWORD).await;

    imap.deliver(&fixture("plain.eml")).await;
    let first = settled(&node, &t, &imap, 1).await;
    let ticket = node.ticket(&t.admin.token, &first[0]).await;
    assert_eq!(ticket["subject"], "My invoice is wrong");
    assert_eq!(ticket["received_mail"][0]["via"], "imap");

    // The poller stops with its node; mail comes in meanwhile; then server
    // processes of their own poll the one mailbox: two on PostgreSQL (one
    // on SQLite, which is one node).
    drop(node);
    imap.deliver(&fixture("alternative.eml")).await;
    imap.deliver(&fixture("html-only.eml")).await;
    // The same mail delivered twice (a second copy in the mailbox).
    imap.deliver(&fixture("plain.eml")).await;
    let cache = threadline_tests::warm_plugin_cache().await;
    let flags = ["--imap-poll-secs", "1", "--imap-allow-private-hosts"];
    let nodes = if app.db.url.starts_with("postgres") { 2 } else { 1 };
    let processes: Vec<_> = (0..nodes)
        .map(|_| threadline_tests::ServerProcess::start(&app.db.url, cache.path(), &flags))
        .collect();
    let http = reqwest::Client::new();
    let get = async |base: &str, path: &str| -> serde_json::Value {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&t.admin.token)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    };
    let start = std::time::Instant::now();
    loop {
        let tickets = get(&processes[0].base, "/api/v1/tickets").await;
        let (unseen, _) = imap.unseen_of().await;
        if tickets.as_array().unwrap().len() >= 3 && unseen == 0 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{tickets} with {unseen} unseen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let every node poll a few more times: nothing is imported twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let base = &processes[nodes - 1].base;
    assert_eq!(get(base, "/api/v1/tickets").await.as_array().unwrap().len(), 3);
    let received = get(base, "/api/v1/mail/received").await;
    let outcomes: Vec<_> = received
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("ticket"), json!("ticket"), json!("ticket")],
        "{received}"
    );
    assert_eq!(imap.unseen_of().await, (0, 4), "every message seen, none removed");

    let mailbox = get(base, "/api/v1/settings/imap").await;
    assert!(mailbox["last_polled_at"].is_string(), "{mailbox}");
    assert!(mailbox["last_error"].is_null(), "{mailbox}");
    for p in &processes {
        p.terminate();
    }
}

async fn a_mailbox_that_refuses_the_login_says_why(app: TestApp) {
    let Some(imap) = ImapServer::start().await else { return };
    let node = TestApp::builder(app.db.clone()).imap(quick()).spawn().await;
    let t = node.tenant("Acme").await;
    // Bad settings are refused, and change nothing.
    let r = node
        .put(
            "/api/v1/settings/imap",
            &t.admin.token,
            json!({"host": "127.0.0.1", "port": imap.port, "security": "smoke-signals", "username": USER, "password": "x"}),
        )
        .await;
    r.assert_invalid("security");
    let r = node
        .put(
            "/api/v1/settings/imap",
            &t.admin.token,
            json!({"host": "127.0.0.1", "port": imap.port, "security": "none", "username": USER}),
        )
        .await;
    r.assert_invalid("password");
    assert_eq!(
        node.get("/api/v1/settings/imap", &t.admin.token).await.status,
        StatusCode::NOT_FOUND
    );

    set_mailbox(&node, &t, imap.port, "wrong").await;
    imap.deliver(&fixture("plain.eml")).await;
    let error = last_error(&node, &t).await;
    assert!(error.contains("cannot log in"), "{error}");
    assert_eq!(imap.unseen_of().await, (1, 1), "the mail waits");
    // Put right (the password kept when left out is the wrong one, so it
    // is given again), it comes in.
    set_mailbox(&node, &t, imap.port, PASSWORD).await;
    settled(&node, &t, &imap, 1).await;
    let r = node.delete("/api/v1/settings/imap", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

async fn a_workspace_cannot_point_the_server_at_its_own_network(app: TestApp) {
    let Some(imap) = ImapServer::start().await else { return };
    // A server as it runs by default: private addresses refused.
    let node = TestApp::builder(app.db.clone())
        .imap(ImapSettings {
            allow_private: false,
            ..quick()
        })
        .spawn()
        .await;
    let t = node.tenant("Acme").await;
    set_mailbox(&node, &t, imap.port, PASSWORD).await;
    imap.deliver(&fixture("plain.eml")).await;
    let error = last_error(&node, &t).await;
    assert!(error.contains("public address"), "{error}");
    assert_eq!(imap.unseen_of().await, (1, 1), "nothing was read");
}
