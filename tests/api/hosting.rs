//! The hosting operator: operator tokens and the operator API; making a
//! workspace whose first admin is invited; suspension and resumption;
//! quotas (hit, a clear error, nothing written, mail that waits); the
//! meter; and erasing a workspace from every table.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{Database, DbBackend};
use serde_json::{Value, json};
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{Reply, TestApp, TestTenant, on_both_databases, sql, wasm};

on_both_databases!(
    operator_tokens_open_the_operator_api_and_nothing_else,
    an_operator_makes_a_workspace_whose_admin_accepts_the_invitation,
    a_suspended_workspace_keeps_its_data_and_works_again_once_resumed,
    each_quota_refuses_with_a_clear_error_and_writes_nothing,
    mail_over_the_daily_quota_waits_in_the_outbox,
    usage_is_metered_per_day_and_adds_up_across_nodes,
    erasing_a_workspace_leaves_no_row_of_it_in_any_table,
);

const WORKSPACES: &str = "/api/operator/v1/workspaces";

async fn patch_workspace(app: &TestApp, op: &str, id: &str, body: Value) -> Reply {
    let r = app.patch(&format!("{WORKSPACES}/{id}"), op, body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r
}

async fn count(db: &sea_orm::DatabaseConnection, sql_text: &str, id: &str) -> i64 {
    let rows = sql::query(db, sql_text, vec![id.into()]).await;
    rows[0].try_get_by_index::<i64>(0).unwrap()
}

async fn operator_tokens_open_the_operator_api_and_nothing_else(app: TestApp) {
    let t = app.tenant("Acme").await;
    let op = app.operator_token("billing").await;
    assert!(op.starts_with("tlo_"), "{op}");
    assert_eq!(app.get(WORKSPACES, &op).await.status, StatusCode::OK);
    // No token, a made-up one, or a workspace admin's: 401.
    let r = app.call(Method::GET, WORKSPACES, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(WORKSPACES, "tlo_0000").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(WORKSPACES, &t.admin.token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The operator's token opens no workspace's route.
    for path in ["/api/v1/chats", "/api/v1/settings", "/api/v1/auth/session"] {
        assert_eq!(app.get(path, &op).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A second token of the same name is refused; revoking ends it at once.
    assert!(app.store.create_operator_token("billing").await.is_err());
    app.store.revoke_operator_token("billing").await.unwrap();
    assert_eq!(app.get(WORKSPACES, &op).await.status, StatusCode::UNAUTHORIZED);
    assert!(app.store.revoke_operator_token("billing").await.is_err());
}

async fn an_operator_makes_a_workspace_whose_admin_accepts_the_invitation(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let op = app.operator_token("signup").await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let before = count(&db, "SELECT count(*) FROM tenants WHERE id <> $1", "").await;

    // Bad input: named, and nothing made.
    for (body, field) in [
        (
            json!({"name": "", "admin_email": "a@b.test", "admin_name": "A"}),
            "name",
        ),
        (
            json!({"name": "Beta", "admin_email": "nope", "admin_name": "A"}),
            "admin_email",
        ),
        (
            json!({"name": "Beta", "slug": "Not A Slug", "admin_email": "a@b.test", "admin_name": "A"}),
            "slug",
        ),
    ] {
        app.post(WORKSPACES, &op, body).await.assert_invalid(field);
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM tenants WHERE id <> $1", "").await,
        before
    );

    let r = app
        .post(
            WORKSPACES,
            &op,
            json!({"name": "Beta Corp", "slug": "beta", "admin_email": "Bea@Beta.test", "admin_name": "Bea"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["slug"], "beta");
    assert_eq!(r.body["status"], "active");
    assert!(r.body["widget_key"].as_str().unwrap().starts_with("wk_"));
    let url = r.body["invitation_url"].as_str().unwrap();
    assert!(url.starts_with(&app.url("/")), "{url}");
    // The slug is the workspace's: asked for again, 409.
    let again = app
        .post(
            WORKSPACES,
            &op,
            json!({"name": "Other", "slug": "beta", "admin_email": "o@o.test", "admin_name": "O"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);

    // The invitation is mailed too, with the same link; accepting it makes
    // the workspace's first admin, who signs in.
    let mail = &smtp.mails_to("Bea@Beta.test", 1).await[0];
    let token = mail.link_token("invitation");
    assert!(url.ends_with(&token), "{url} carries {token}");
    let r = app
        .post_anonymous(
            "/api/v1/auth/invitation",
            json!({"token": token, "password": "bea's long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["agent"]["role"], "admin");
    let signed = app.sign_in("beta", "bea@beta.test", "bea's long password").await;
    assert_eq!(signed.status, StatusCode::OK, "{:?}", signed.body);
    let session = signed.body["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/settings", session).await.status, StatusCode::OK);

    // Listed (newest first, by status, in pages) and read with its quotas
    // and this month's usage.
    let gamma = app.tenant("Gamma").await;
    let page = app.get(&format!("{WORKSPACES}?limit=1"), &op).await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["id"], gamma.id.as_str());
    let next = page.headers["link"].to_str().unwrap().to_owned();
    let next = next.trim_start_matches('<').split('>').next().unwrap();
    let page2 = app.get(next, &op).await;
    assert_eq!(page2.body[0]["id"], id.as_str());
    patch_workspace(&app, &op, &gamma.id, json!({"status": "suspended"})).await;
    let suspended = app.get(&format!("{WORKSPACES}?status=suspended"), &op).await;
    assert_eq!(suspended.each("id"), vec![gamma.id.clone()]);
    app.get(&format!("{WORKSPACES}?status=gone"), &op)
        .await
        .assert_invalid("status");
    let one = app.get(&format!("{WORKSPACES}/{id}"), &op).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["name"], "Beta Corp");
    assert_eq!(one.body["quotas"]["agents"], Value::Null);
    assert_eq!(one.body["usage"]["conversions"], 0);
    let missing = app.get(&format!("{WORKSPACES}/{}", uuid::Uuid::now_v7()), &op).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn a_suspended_workspace_keeps_its_data_and_works_again_once_resumed(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let op = app.operator_token("ops").await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let number = app.converted(&t, "req@example.com").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let mut socket = app.events("/api/v1/events", &t.admin.token).await;

    let r = patch_workspace(&app, &op, &t.id, json!({"status": "suspended"})).await;
    assert_eq!(r.body["status"], "suspended");
    // Its agents are told, on every route; its sockets close.
    let r = app.get("/api/v1/chats", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "workspace_suspended");
    assert!(r.error_message().contains("suspended"), "{:?}", r.body);
    assert!(socket.ends().await, "the socket closes");
    // Its widget starts no chat and says why; nobody is "available".
    let r = app
        .post_anonymous(
            &format!("/api/v1/widget/{}/chats", t.widget_key),
            json!({"visitor_name": "V", "message": "hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "workspace_suspended");
    let presence = app
        .call(
            Method::GET,
            &format!("/api/v1/widget/{}/presence", t.widget_key),
            None,
            None,
        )
        .await;
    assert_eq!(presence.body["available"], false);
    // Mail queued before (a reply made by the store directly, as a request
    // in flight at the moment of suspension would) waits.
    let agent = app.store.agent(&t.id, &t.admin.id).await.unwrap();
    let n: i64 = number.trim_start_matches("TK-").parse().unwrap();
    app.store
        .add_comment(&t.id, n, &agent, "Written as it was suspended", false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(smtp.received().is_empty(), "no mail while suspended");
    // Another workspace goes on as before.
    assert_eq!(
        app.get("/api/v1/chats", &other.admin.token).await.status,
        StatusCode::OK
    );
    app.simple_chat(&other).await;

    // Resumed: everything is there and works.
    patch_workspace(&app, &op, &t.id, json!({"status": "active"})).await;
    assert_eq!(smtp.mails_to("req@example.com", 1).await.len(), 1);
    assert_eq!(app.chat(&t.admin.token, &chat).await["status"], "open");
    assert_eq!(
        app.visitor_says(&visitor, &chat, "still there?").await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.ticket(&t.admin.token, &number).await["number"], number.as_str());
    app.simple_chat(&t).await;
    app.patch(&format!("{WORKSPACES}/{}", t.id), &op, json!({"status": "closed"}))
        .await
        .assert_invalid("status");
}

async fn each_quota_refuses_with_a_clear_error_and_writes_nothing(app: TestApp) {
    let op = app.operator_token("ops").await;
    let t = app.tenant("Acme").await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let quota_error = |r: &Reply, status: StatusCode, quota: &str| {
        assert_eq!(r.status, status, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "quota_exceeded", "{:?}", r.body);
        assert!(r.error_message().contains(quota), "{:?} names {quota}", r.body);
    };

    // Unknown quotas and bad numbers: named, nothing changed.
    let r = app
        .patch(
            &format!("{WORKSPACES}/{}", t.id),
            &op,
            json!({"quotas": {"agents": 1, "seats": 3}}),
        )
        .await;
    r.assert_invalid("quotas");
    let r = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await;
    assert_eq!(r.body["quotas"]["agents"], Value::Null);

    // Agents: the admin is one; with a quota of 2, one invitation fills it.
    let r = patch_workspace(&app, &op, &t.id, json!({"quotas": {"agents": 2}})).await;
    assert_eq!(r.body["quotas"]["agents"], 2);
    let invite = |email: &str| app.post("/api/v1/agents/invitations", &t.admin.token, json!({"email": email}));
    assert_eq!(invite("one@acme.test").await.status, StatusCode::CREATED);
    let r = invite("two@acme.test").await;
    quota_error(&r, StatusCode::FORBIDDEN, "agents");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM agent_invitations WHERE tenant_id = $1",
            &t.id
        )
        .await,
        1
    );

    // Chats a day: 429 with a Retry-After until midnight UTC.
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"chats_per_day": 1}})).await;
    app.simple_chat(&t).await;
    let r = app
        .post_anonymous(
            &format!("/api/v1/widget/{}/chats", t.widget_key),
            json!({"visitor_name": "V", "message": "hi"}),
        )
        .await;
    quota_error(&r, StatusCode::TOO_MANY_REQUESTS, "chats_per_day");
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM chats WHERE tenant_id = $1", &t.id).await,
        1
    );
    // null: unlimited again.
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"chats_per_day": null}})).await;
    app.simple_chat(&t).await;

    // Plugins, by count and by bytes.
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"plugins": 1}})).await;
    app.install_plugin(&t.admin.token, "first", wasm::TRAP).await;
    let r = app.upload_plugin(&t.admin.token, "second", wasm::LOOP_FOREVER).await;
    quota_error(&r, StatusCode::FORBIDDEN, "plugins");
    let bytes = wasm::TRAP.len() as u64;
    patch_workspace(
        &app,
        &op,
        &t.id,
        json!({"quotas": {"plugins": null, "plugin_bytes": bytes + 10}}),
    )
    .await;
    let r = app.upload_plugin(&t.admin.token, "second", wasm::LOOP_FOREVER).await;
    quota_error(&r, StatusCode::FORBIDDEN, "plugin_bytes");
    assert_eq!(
        count(&db, "SELECT count(*) FROM plugins WHERE tenant_id = $1", &t.id).await,
        1
    );

    // Stored bytes: the meter's total (flushed here rather than waited for).
    app.store.flush_usage().await.unwrap();
    let stored = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await.body["stored_bytes"]
        .as_i64()
        .unwrap();
    assert!(stored >= bytes as i64, "{stored}: the plugin at least");
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"stored_bytes": stored}})).await;
    let r = app
        .post_anonymous(
            &format!("/api/v1/widget/{}/chats", t.widget_key),
            json!({"visitor_name": "V", "message": "hi"}),
        )
        .await;
    quota_error(&r, StatusCode::FORBIDDEN, "stored_bytes");
    assert_eq!(
        count(&db, "SELECT count(*) FROM chats WHERE tenant_id = $1", &t.id).await,
        2
    );

    // The server's defaults apply where the workspace has no override.
    let app2 = TestApp::builder(app.db.clone())
        .quotas(threadline::domain::hosting::Quotas {
            chats_per_day: Some(0),
            ..Default::default()
        })
        .spawn()
        .await;
    let fresh = app2.tenant("Fresh").await;
    let r = app2
        .post_anonymous(
            &format!("/api/v1/widget/{}/chats", fresh.widget_key),
            json!({"visitor_name": "V", "message": "hi"}),
        )
        .await;
    quota_error(&r, StatusCode::TOO_MANY_REQUESTS, "chats_per_day");
    let r = app2.get(&format!("{WORKSPACES}/{}", fresh.id), &op).await;
    assert_eq!(r.body["quotas"]["chats_per_day"], 0);
}

async fn mail_over_the_daily_quota_waits_in_the_outbox(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let op = app.operator_token("ops").await;
    let t = app.tenant("Acme").await;
    let number = app.converted(&t, "req@example.com").await;
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"mails_per_day": 1}})).await;
    for body in ["first answer", "second answer"] {
        let r = app
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                &t.admin.token,
                json!({"body": body}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    assert_eq!(smtp.mails_to("req@example.com", 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.received().len(), 1, "the second waits");
    let db = Database::connect(&app.db.url).await.unwrap();
    let rows = sql::query(
        &db,
        "SELECT state, last_error, attempts FROM mail_outbox WHERE tenant_id = $1 AND state = 'queued'",
        vec![t.id.clone().into()],
    )
    .await;
    assert_eq!(rows.len(), 1, "kept, not dropped");
    let reason: String = rows[0].try_get("", "last_error").unwrap();
    assert!(reason.contains("mails_per_day"), "{reason}");
    assert_eq!(
        rows[0].try_get::<i32>("", "attempts").unwrap(),
        0,
        "waiting is no attempt"
    );
    // Raising the quota does not hurry it: it waits for midnight, as said.
    // Moving its time there (as midnight would) sends it, now within quota.
    patch_workspace(&app, &op, &t.id, json!({"quotas": {"mails_per_day": 2}})).await;
    sql::exec(
        &db,
        "UPDATE mail_outbox SET next_attempt_at = $1 WHERE tenant_id = $2 AND state = 'queued'",
        vec![chrono::Utc::now().into(), t.id.clone().into()],
    )
    .await;
    assert_eq!(smtp.mails_to("req@example.com", 2).await.len(), 2);
    app.store.flush_usage().await.unwrap();
    let r = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await;
    assert_eq!(r.body["usage"]["mails_sent"], 2);
}

async fn usage_is_metered_per_day_and_adds_up_across_nodes(app: TestApp) {
    let op = app.operator_token("ops").await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let node2 = TestApp::spawn_on(app.db.clone()).await;
    let (chat, visitor) = app.simple_chat(&t).await;
    node2.visitor_says(&visitor, &chat, "from node 2").await;
    node2
        .agent_says(&t.admin.token, &chat, "answer from node 2", false)
        .await;
    let r = node2
        .convert(&t.admin.token, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.simple_chat(&t).await;
    app.simple_chat(&other).await;
    // Nothing is written per request: the counts reach the database when
    // each node flushes (every 2 s; here at once).
    app.store.flush_usage().await.unwrap();
    node2.store.flush_usage().await.unwrap();
    let usage = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await.body["usage"].clone();
    assert_eq!(usage["chats"], 2, "{usage}");
    // Two first messages, a visitor's, an agent's, and the conversion's
    // system message is not a message anyone sent.
    assert!(usage["messages"].as_i64().unwrap() >= 4, "{usage}");
    assert_eq!(usage["conversions"], 1, "{usage}");
    assert!(usage["plugin_calls"].as_i64().unwrap() >= 1, "{usage}");
    assert!(usage["stored_bytes"].as_i64().unwrap() > 0, "{usage}");
    let since = usage["since"].as_str().unwrap();
    assert!(since.ends_with("-01"), "{since}");
    let theirs = app.get(&format!("{WORKSPACES}/{}", other.id), &op).await.body["usage"].clone();
    assert_eq!(theirs["chats"], 1, "{theirs}");
    // The workspace's own figures are the cluster's too.
    let mine = app.get("/api/v1/plugins/usage", &t.admin.token).await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    assert_eq!(mine.body["today"]["conversions"], 1, "{:?}", mine.body);

    // A later flush adds to the day's row; it does not replace it. Both
    // workspaces' running totals move, each by its own amount.
    let stored = |body: &Value| body["stored_bytes"].as_i64().unwrap();
    let (t_before, o_before) = (
        stored(&app.get(&format!("{WORKSPACES}/{}", t.id), &op).await.body),
        stored(&app.get(&format!("{WORKSPACES}/{}", other.id), &op).await.body),
    );
    app.simple_chat(&t).await;
    node2
        .start_chat(
            &other,
            json!({"visitor_name": "A much longer visitor name", "message": "Hello?"}),
        )
        .await;
    app.store.flush_usage().await.unwrap();
    node2.store.flush_usage().await.unwrap();
    let t_now = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await.body;
    assert_eq!(t_now["usage"]["chats"], 3, "{t_now}");
    let o_now = app.get(&format!("{WORKSPACES}/{}", other.id), &op).await.body;
    // "Grace Hopper" + "Hello?", and the longer name + "Hello?".
    assert_eq!(stored(&t_now) - t_before, 18);
    assert_eq!(stored(&o_now) - o_before, 32);

    // Rows per workspace and day, summed.
    let db = Database::connect(&app.db.url).await.unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM usage_days WHERE tenant_id = $1", &t.id).await,
        1
    );
}

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
    app.post("/api/v1/tokens", &t.admin.token, json!({"name": "CRM"})).await;
    app.post_anonymous(
        "/api/v1/auth/password-reset",
        json!({"workspace": t.slug, "email": t.admin.email}),
    )
    .await;
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
    let unfilled = ["password_resets"];
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
