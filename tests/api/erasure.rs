//! Erasing a workspace: no row of it left in any table of the schema, its
//! plugins' compiled code gone, the other workspaces untouched.

use reqwest::StatusCode;
use sea_orm::{Database, DbBackend};
use serde_json::json;
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql, wasm};

use crate::hosting::{WORKSPACES, count};

on_both_databases!(erasing_a_workspace_leaves_no_row_of_it_in_any_table);

/// Every table of the schema with a `tenant_id` column.
async fn workspace_tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql_text = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.columns WHERE column_name = 'tenant_id' \
             AND table_schema = current_schema() AND $1 = $1"
        }
        _ => {
            "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name = 'tenant_id' AND $1 = $1"
        }
    };
    sql::query(db, sql_text, vec!["".into()])
        .await
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

async fn fill(app: &TestApp, t: &TestTenant) {
    let op_email = format!("req-{}@example.com", t.slug);
    let (chat, visitor) = app.simple_chat(t).await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": op_email}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/widget/chats/{chat}/rating"),
        &visitor,
        json!({"score": 5}),
    )
    .await;
    app.post(
        &format!("/api/v1/tickets/{number}/comments"),
        &t.admin.token,
        json!({"body": "A public answer"}),
    )
    .await;
    app.post(
        &format!("/api/v1/tickets/{number}/comments"),
        &t.admin.token,
        json!({"body": "A note", "internal": true}),
    )
    .await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (chat, visitor) = app.simple_chat(t).await;
    app.visitor_says(&visitor, &chat, "more words").await;
    let r = app
        .post(
            &format!("/api/v1/chats/{chat}/spam"),
            &t.admin.token,
            json!({"block": true}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    app.post(
        "/api/v1/agents/invitations",
        &t.admin.token,
        json!({"email": format!("inv@{}.test", t.slug)}),
    )
    .await;
    app.post(
        "/api/v1/canned-replies",
        &t.admin.token,
        json!({"title": "Hi", "body": "Hello!"}),
    )
    .await;
    // Code of its own, so that its compiled form is its own on disk.
    let code = threadline_tests::make::distinct(wasm::TRAP, &t.slug);
    let trap = app.install_plugin(&t.admin.token, "trap", &code).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": trap, "policy": "fallback"}}),
    )
    .await;
    // A conversion through the trapping plugin leaves a fault.
    let (chat, _) = app.simple_chat(t).await;
    app.convert(&t.admin.token, &chat, json!({"visitor_email": op_email}))
        .await;
    // Its plugin log (written at once when read) and a rollout under way.
    let log = app.get("/api/v1/plugins/logs", &t.admin.token).await;
    assert!(!log.body["lines"].as_array().unwrap().is_empty(), "{:?}", log.body);
    let r = app
        .post(
            "/api/v1/pipeline/rollout",
            &t.admin.token,
            json!({"pipeline": {"hooks": {}}, "percent": 10}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    app.post("/api/v1/tokens", &t.admin.token, json!({"name": "CRM"})).await;
    // A mail received, and a mailbox to poll (nothing listens there).
    let key = app.get("/api/v1/settings", &t.admin.token).await.body["inbound_key"].clone();
    let mail = format!(
        "From: a@{0}.test\nSubject: Hi\nMessage-ID: <m@{0}.test>\n\nHello\n",
        t.slug
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/inbound/{}", key.as_str().unwrap())))
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let imap = threadline_tests::smtp::unused_addr();
    let r = app
        .put(
            "/api/v1/settings/imap",
            &t.admin.token,
            json!({"host": "127.0.0.1", "port": imap.port(), "security": "none", "username": "u", "password": "p"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    app.post_anonymous(
        "/api/v1/auth/password-reset",
        json!({"workspace": t.slug, "email": t.admin.email}),
    )
    .await;
    // A webhook that hears a conversion (its delivery logged), and a timed
    // rule that answers the chats still waiting (its marks).
    let receiver = threadline_tests::webhooks::Receiver::start().await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &t.admin.token,
            json!({"url": receiver.url, "events": ["ticket_created"]}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    let (chat, _) = app.simple_chat(t).await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "hooked@example.com"}))
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    receiver.wait_for(1, Some("ticket_created")).await;
    let r = app
        .post(
            "/api/v1/automations",
            &t.admin.token,
            json!({"name": "Hold on", "plugin": "chat-wait-reply", "config": {"minutes": 1, "message": "Soon"}}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    app.simple_chat(t).await;
    assert!(app.run_schedule_after(std::time::Duration::from_secs(120)).await.acted > 0);
    app.store.flush_usage().await.unwrap();
}

/// The compiled code files of the workspace's uploaded plugins in `cache`.
async fn cached_code(app: &TestApp, t: &TestTenant, cache: &std::path::Path) -> Vec<String> {
    let plugins = app.get("/api/v1/plugins", &t.admin.token).await.body;
    let mine: Vec<String> = plugins
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["builtin"] == false)
        .map(|p| p["sha256"].as_str().unwrap().to_owned())
        .collect();
    assert!(!mine.is_empty());
    std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| mine.iter().any(|sha| name.starts_with(sha.as_str())))
        .collect()
}

async fn erasing_a_workspace_leaves_no_row_of_it_in_any_table(app: TestApp) {
    // A disk cache of compiled code, to see the erased workspace's go.
    let cache = threadline_tests::warm_plugin_cache().await;
    let mut settings = threadline_tests::plugin_settings();
    settings.cache_dir = Some(cache.path().to_owned());
    let app = TestApp::builder(app.db.clone()).plugins(settings).spawn().await;
    let op = app.operator_token("ops").await;
    let gone = app.tenant("Leaving").await;
    let stays = app.tenant("Staying").await;
    fill(&app, &gone).await;
    fill(&app, &stays).await;
    let gone_code = cached_code(&app, &gone, cache.path()).await;
    assert_eq!(gone_code.len(), 1, "its plugin's code is cached");
    let db = Database::connect(&app.db.url).await.unwrap();
    let tables = workspace_tables(&db).await;
    assert!(tables.len() >= 20, "{tables:?}");
    for table in &tables {
        assert!(
            threadline::store::WORKSPACE_TABLES.contains(&table.as_str()),
            "{table} has a tenant_id but deletion does not know it"
        );
    }
    // Every table is filled for both, so that "nothing left" means
    // something (a table this test cannot fill is said here).
    // Events are deleted once handled: the queue is empty between changes.
    let unfilled = ["password_resets", "events"];
    for table in &tables {
        let n = count(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
            &gone.id,
        )
        .await;
        assert!(
            n > 0 || unfilled.contains(&table.as_str()),
            "{table} holds nothing of the workspace"
        );
    }
    assert!(app.plugins_in_memory().0 >= 2, "both workspaces' plugins are loaded");
    let memory_before = app.plugins_in_memory().0;

    let r = app.delete(&format!("{WORKSPACES}/{}", gone.id), &op).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    for table in &tables {
        let n = count(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
            &gone.id,
        )
        .await;
        assert_eq!(n, 0, "{table} still holds rows of the erased workspace");
        let kept = count(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
            &stays.id,
        )
        .await;
        assert!(
            kept > 0 || unfilled.contains(&table.as_str()),
            "{table}: the other workspace's rows stay"
        );
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM tenants WHERE id = $1", &gone.id).await,
        0
    );
    assert_eq!(
        app.plugins_in_memory().0,
        memory_before - 1,
        "its loaded plugin is gone"
    );
    // Its tokens and widget are dead; the other workspace works.
    assert_eq!(
        app.get("/api/v1/chats", &gone.admin.token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .post_anonymous(
            &format!("/api/v1/widget/{}/chats", gone.widget_key),
            json!({"visitor_name": "V", "message": "hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.converted(&stays, "someone@example.com").await;
    let again = app.delete(&format!("{WORKSPACES}/{}", gone.id), &op).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}
