//! Moving a workspace: its export, streamed as JSON lines, loaded into a
//! fresh server on the other database (SQLite → PostgreSQL), and beside
//! the original under a new slug. The round trip is the proof that the
//! export is complete: the moved workspace works, numbers, links,
//! pipeline and plugins included.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{Backend, Reply, TestAgent, TestApp, TestDb, TestTenant, on_both_databases, wasm};

on_both_databases!(
    a_copy_beside_the_original_gets_new_ids_and_both_work,
    a_cut_short_foreign_or_garbled_export_writes_nothing,
);

const WORKSPACES: &str = "/api/operator/v1/workspaces";
const PASSWORD: &str = "a long enough password";
/// The echo plugin's subject, which names its configuration.
const ECHOED: &str = "config=lang=fr,tier=gold";

/// A workspace with some of everything: agents, an uploaded plugin in its
/// pipeline, tickets with comments, an open chat, a canned reply.
async fn populated(app: &TestApp) -> (TestTenant, TestAgent, String) {
    let t = app.tenant("Moving Co").await;
    let bob = app.agent(&t, "Bob").await;
    let echo = app.install_plugin(&t.admin.token, "echo", wasm::ECHO_CONTEXT).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": echo, "policy": "reject", "config": {"tier": "gold", "lang": "fr"}}}),
    )
    .await;
    for who in ["ann@example.com", "cy@example.com"] {
        let number = app.converted(&t, who).await;
        let r = app
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                &t.admin.token,
                json!({"body": format!("Answer for {who}"), "internal": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let (open, visitor) = app.simple_chat(&t).await;
    app.visitor_says(&visitor, &open, "Are you there?").await;
    app.agent_says(&bob.token, &open, "Yes!", false).await;
    app.post(
        "/api/v1/canned-replies",
        &t.admin.token,
        json!({"title": "Thanks", "body": "Thank you for writing."}),
    )
    .await;
    (t, bob, open)
}

pub(crate) async fn export(app: &TestApp, op: &str, id: &str) -> String {
    let res = app
        .client
        .get(app.url(&format!("{WORKSPACES}/{id}/export")))
        .bearer_auth(op)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    res.text().await.unwrap()
}

async fn import(app: &TestApp, op: &str, body: String, slug: Option<&str>) -> Reply {
    let path = match slug {
        Some(s) => format!("{WORKSPACES}/import?slug={s}"),
        None => format!("{WORKSPACES}/import"),
    };
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(op)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Signs in as the agent of `email` in `slug` after setting their password
/// (as a reset would: an export carries no password).
async fn signed_in(app: &TestApp, slug: &str, email: &str) -> String {
    let account = app
        .store
        .account(slug, &email.to_lowercase())
        .await
        .unwrap()
        .expect("the agent came along");
    let hash = threadline::domain::password::Password::parse("password", PASSWORD)
        .unwrap()
        .hash();
    app.store
        .set_password(&account.agent.tenant_id, &account.agent.id, &hash)
        .await
        .unwrap();
    let r = app.sign_in(slug, email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

/// What an agent sees of a workspace, ids left out: the same before and
/// after a move or a copy.
async fn what_agents_see(app: &TestApp, token: &str) -> Value {
    let tickets = app.get("/api/v1/tickets", token).await.body;
    let mut seen = Vec::new();
    for t in tickets.as_array().unwrap() {
        let number = t["number"].as_str().unwrap();
        let full = app.ticket(token, number).await;
        seen.push(json!({
            "number": number,
            "subject": full["subject"],
            "status": full["status"],
            "requester": full["requester"]["email"],
            "description": full["description"],
            "comments": full["comments"].as_array().unwrap().iter().map(|c| c["body"].clone()).collect::<Vec<_>>(),
        }));
    }
    let chats = app.get("/api/v1/chats?status=open", token).await.body;
    let mut threads = Vec::new();
    for c in chats.as_array().unwrap() {
        let full = app.chat(token, c["id"].as_str().unwrap()).await;
        threads.push(
            full["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| json!([m["kind"], m["body"]]))
                .collect::<Vec<_>>(),
        );
    }
    let plugins: Vec<Value> = app
        .get("/api/v1/plugins", token)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["builtin"] == false)
        .map(|p| json!([p["name"], p["sha256"]]))
        .collect();
    let pipeline = app.get("/api/v1/pipeline", token).await.body;
    let canned = app.get("/api/v1/canned-replies", token).await.body;
    json!({
        "tickets": seen,
        "threads": threads,
        "plugins": plugins,
        "subject_hook": [pipeline["hooks"]["subject"]["policy"], pipeline["hooks"]["subject"]["config"]],
        "canned": canned.as_array().unwrap().iter().map(|c| c["body"].clone()).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_moves_from_sqlite_to_postgres_whole() {
    let Some(pg) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let from = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let to = TestApp::spawn(pg).await;
    let (t, bob, open) = populated(&from).await;
    let before = what_agents_see(&from, &t.admin.token).await;
    assert_eq!(before["tickets"].as_array().unwrap().len(), 2, "{before}");
    assert_eq!(before["plugins"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["threads"][0].as_array().unwrap().len(), 3, "{before}");
    assert_eq!(
        before["subject_hook"],
        json!(["reject", {"lang": "fr", "tier": "gold"}])
    );
    assert_eq!(before["canned"], json!(["Thank you for writing."]));
    assert_eq!(
        before["tickets"][0]["comments"].as_array().unwrap().len(),
        1,
        "{before}"
    );

    let op_from = from.operator_token("ops").await;
    let text = export(&from, &op_from, &t.id).await;
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["format"], "threadline-workspace");
    assert_eq!(lines[0]["workspace"], t.id.as_str());
    assert_eq!(lines.last().unwrap()["end"], true);
    assert_eq!(lines.last().unwrap()["rows"], (lines.len() - 2) as u64);
    // No secret leaves: no credential, and no visitor's token.
    let tables: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["table"].as_str()).collect();
    for secret in ["agent_credentials", "password_resets", "agent_invitations"] {
        assert!(!tables.contains(secret), "{secret} exported");
    }
    assert!(
        !text.contains(&t.admin.token) && !text.contains("password_hash"),
        "a secret in the export"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l["table"] == "visitors")
            .all(|l| l["row"]["token_hash"].is_null())
    );

    // Into a fresh PostgreSQL server: the same ids (a move).
    let op_to = to.operator_token("ops").await;
    let r = import(&to, &op_to, text.clone(), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["id"], t.id.as_str());
    assert_eq!(r.body["slug"], t.slug.as_str());
    assert_eq!(
        r.body["widget_key"],
        t.widget_key.as_str(),
        "the site's snippet keeps working"
    );
    assert_eq!(r.body["new_ids"], false);
    assert_eq!(r.body["rows"], (lines.len() - 2) as u64);

    // Its agents sign in once they set a password; they see what they saw.
    let admin = signed_in(&to, &t.slug, &t.admin.email).await;
    let after = what_agents_see(&to, &admin).await;
    assert_eq!(after, before);
    let bob_there = signed_in(&to, &t.slug, &bob.email).await;
    // Links hold: the open chat has the same id, and the visitor's widget
    // key starts chats here.
    assert_eq!(to.chat(&bob_there, &open).await["status"], "open");
    to.simple_chat(&t).await;
    // A conversion runs the moved pipeline (the moved plugin, its config)
    // and takes the next number.
    let r = to
        .convert(&admin, &open, json!({"visitor_email": "dee@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["subject"].as_str().unwrap().contains(ECHOED), "{:?}", r.body);
    let numbers: Vec<String> = before["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !numbers.contains(&r.body["number"].as_str().unwrap().to_owned()),
        "a new number"
    );
    // Open tickets are counted for assignment as they were.
    let agents = to.get("/api/v1/agents", &admin).await.body;
    assert!(agents.as_array().unwrap().len() >= 2);

    // The same export again here: its slug is taken.
    let again = import(&to, &op_to, text, None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
}

async fn a_copy_beside_the_original_gets_new_ids_and_both_work(app: TestApp) {
    let (t, _bob, open) = populated(&app).await;
    let before = what_agents_see(&app, &t.admin.token).await;
    let op = app.operator_token("ops").await;
    let text = export(&app, &op, &t.id).await;
    let r = import(&app, &op, text, Some("the-copy")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["new_ids"], true);
    assert_eq!(r.body["slug"], "the-copy");
    let copy = r.body["id"].as_str().unwrap().to_owned();
    assert_ne!(copy, t.id);
    assert_ne!(r.body["widget_key"], t.widget_key.as_str());

    let token = signed_in(&app, "the-copy", &t.admin.email).await;
    assert_eq!(what_agents_see(&app, &token).await, before);
    // The copy's open chat is its own: the original's id is not its.
    assert_eq!(
        app.get(&format!("/api/v1/chats/{open}"), &token).await.status,
        StatusCode::NOT_FOUND
    );
    let chats = app.get("/api/v1/chats?status=open", &token).await.body;
    let copied = chats[0]["id"].as_str().unwrap().to_owned();
    let r = app
        .convert(&token, &copied, json!({"visitor_email": "dee@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["subject"].as_str().unwrap().contains(ECHOED), "{:?}", r.body);
    // The original is untouched and works.
    assert_eq!(what_agents_see(&app, &t.admin.token).await, before);
    let r = app
        .convert(&t.admin.token, &open, json!({"visitor_email": "dee@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

async fn a_cut_short_foreign_or_garbled_export_writes_nothing(app: TestApp) {
    let (t, _, _) = populated(&app).await;
    let op = app.operator_token("ops").await;
    let text = export(&app, &op, &t.id).await;
    let lines: Vec<&str> = text.lines().collect();
    let count = || async { app.get(WORKSPACES, &op).await.body.as_array().unwrap().len() };
    let workspaces = count().await;

    // Cut short: the last line is missing.
    let cut = lines[..lines.len() - 1].join("\n");
    let r = import(&app, &op, cut, Some("cut")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(r.error_message().contains("ends early"), "{:?}", r.body);
    // A row of another workspace slipped in.
    let other = app.tenant("Other").await;
    let mut foreign: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut row: Value = serde_json::from_str(&foreign[3]).unwrap();
    row["row"]["tenant_id"] = other.id.clone().into();
    foreign[3] = row.to_string();
    let r = import(&app, &op, foreign.join("\n"), Some("foreign")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    // Garbled, and not an export at all.
    let mut garbled: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    garbled[5] = "{not json".into();
    let r = import(&app, &op, garbled.join("\n"), Some("garbled")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = import(&app, &op, "{\"hello\": 1}\n".into(), Some("hello")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = import(&app, &op, text.clone(), Some("Not A Slug")).await;
    r.assert_invalid("slug");
    // A workspace's token opens neither route.
    let r = import(&app, &t.admin.token, text, Some("x")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Nothing was made by any of it (the other workspace is the one added).
    assert_eq!(count().await, workspaces + 1);
    for slug in ["cut", "foreign", "garbled", "hello"] {
        assert!(app.store.tenant_by_slug(slug).await.is_err(), "{slug}");
    }
}
