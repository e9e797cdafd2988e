//! The hosting operator: operator tokens and the operator API; making a
//! workspace whose first admin is invited; suspension and resumption;
//! quotas (hit, a clear error, nothing written, mail that waits); the
//! meter. Erasure is in `erasure.rs`, several nodes in `nodes.rs`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::Database;
use serde_json::{Value, json};
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{Reply, TestApp, on_both_databases, sql, wasm};

on_both_databases!(
    operator_tokens_open_the_operator_api_and_nothing_else,
    an_operator_makes_a_workspace_whose_admin_accepts_the_invitation,
    a_suspended_workspace_keeps_its_data_and_works_again_once_resumed,
    each_quota_refuses_with_a_clear_error_and_writes_nothing,
    mail_over_the_daily_quota_waits_in_the_outbox,
    usage_is_metered_per_day_and_adds_up_across_nodes,
);

pub(crate) const WORKSPACES: &str = "/api/operator/v1/workspaces";

async fn patch_workspace(app: &TestApp, op: &str, id: &str, body: Value) -> Reply {
    let r = app.patch(&format!("{WORKSPACES}/{id}"), op, body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r
}

pub(crate) async fn count(db: &sea_orm::DatabaseConnection, sql_text: &str, id: &str) -> i64 {
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
    // Only the mail this test counts: no acknowledgement of the ticket.
    app.settings(&t, json!({"acknowledge_by_mail": false})).await;
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
    // Only the mail this test counts: no acknowledgement of the ticket.
    app.settings(&t, json!({"acknowledge_by_mail": false})).await;
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
    // The sender counts a mail once the SMTP server's answer is back, a
    // moment after the server has it.
    let mut sent = serde_json::Value::Null;
    for _ in 0..50 {
        app.store.flush_usage().await.unwrap();
        let r = app.get(&format!("{WORKSPACES}/{}", t.id), &op).await;
        sent = r.body["usage"]["mails_sent"].clone();
        if sent == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 2);
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
