//! Conversion hooks as sandboxed WebAssembly plugins: the built-in plugins
//! by default, workspace isolation, and an alternative plugin installed
//! through the API. The purpose-built bad plugins are in `misbehaving.rs`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use threadline::domain::transcript::{PublicMessage, plain_transcript};
use threadline::domain::{MessageKind, subject::default_subject, summary::extractive_summary};
use threadline_tests::{TestApp, TestTenant, on_both_databases, wasm};

on_both_databases!(
    by_default_conversion_runs_the_builtin_wasm_plugins,
    builtin_plugins_give_what_the_native_rules_give,
    a_failing_summary_plugin_falls_back_at_close,
    the_server_keeps_serving_while_a_plugin_spins,
    a_plugin_that_floods_the_log_still_answers,
    plugins_get_the_workspace_settings_and_time_zone_but_no_internal_notes,
    one_workspace_plugin_never_runs_for_another,
    least_loaded_assignment_installed_through_the_api_changes_the_next_conversion,
    uploads_that_are_not_usable_plugins_are_refused_with_the_reason,
    bad_pipeline_settings_are_refused_and_change_nothing,
    a_plugin_the_pipeline_runs_cannot_be_deleted,
    each_workspace_keeps_its_newest_thousand_faults,
);

/// What the native built-in rules make of a chat, computed from its stored
/// messages before it is converted.
pub(crate) struct Native {
    pub(crate) subject: String,
    pub(crate) transcript: String,
    pub(crate) summary: Option<String>,
}

pub(crate) async fn native(app: &TestApp, tenant: &TestTenant, chat: &str) -> Native {
    let stored = app.store.chat(&tenant.id, chat).await.unwrap();
    let visitor = app.store.visitor(&tenant.id, &stored.visitor_id).await.unwrap();
    let messages: Vec<PublicMessage> = app
        .store
        .messages(&tenant.id, chat)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| PublicMessage::new(m.kind.parse::<MessageKind>().ok()?, m.author_name, m.body, m.created_at))
        .collect();
    Native {
        subject: default_subject(stored.subject.as_deref(), &visitor.name),
        transcript: plain_transcript(&messages),
        summary: extractive_summary(&messages),
    }
}

async fn by_default_conversion_runs_the_builtin_wasm_plugins(app: TestApp) {
    let t = app.tenant("Acme").await;
    // Starved of fuel, the default subject plugin fails: proof that the
    // default rule runs as WebAssembly, not natively.
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": "subject-default", "policy": "reject", "limits": {"fuel": 1000}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("builtin:subject-default"), "{message}");
    assert!(message.contains("fuel"), "{message}");

    // With its normal limits it gives the spec's default subject.
    app.set_pipeline(&t.admin.token, json!({})).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["subject"], "Chat with Grace Hopper");
}

async fn builtin_plugins_give_what_the_native_rules_give(app: TestApp) {
    let t = app.tenant("Acme").await;
    enable_summaries(&app, &t).await;
    let long_name = "Zoë ".repeat(24);
    let chats = [
        json!({"visitor_name": "Ada Lovelace", "subject": "  Refund for order 4521  ", "message": "I was   charged\ntwice."}),
        json!({"visitor_name": long_name.trim(), "message": "Ünïcödé 🎉 and\ttabs"}),
        json!({"visitor_name": "Grace", "message": "x".repeat(450)}),
    ];
    for (i, start) in chats.into_iter().enumerate() {
        let (chat, visitor) = app.start_chat(&t, start).await;
        app.agent_says(&t.admin.token, &chat, "Let me look.\n\nOne moment…", false)
            .await;
        app.agent_says(&t.admin.token, &chat, "internal: check the ledger", true)
            .await;
        app.visitor_says(&visitor, &chat, "Thanks!").await;
        let expected = native(&app, &t, &chat).await;

        let prefill = app
            .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
            .await;
        assert_eq!(prefill.body["subject"], expected.subject.as_str(), "chat {i}");
        let r = app
            .admin_converts(&t, &chat, json!({"visitor_email": format!("v{i}@example.com")}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["subject"], expected.subject.as_str(), "chat {i}");
        assert_eq!(r.body["description"], expected.transcript.as_str(), "chat {i}");
        assert_eq!(r.body["assignee"]["id"], t.admin.id.as_str(), "chat {i}");
        let summary = wait_for(&app, &t.admin.token, &format!("/api/v1/chats/{chat}"), "summary").await;
        assert_eq!(summary.as_str(), expected.summary.as_deref(), "chat {i}");
    }
    assert!(app.faults(&t.admin.token).await.is_empty());
}

async fn enable_summaries(app: &TestApp, t: &TestTenant) {
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"summary_on_close": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn wait_for(app: &TestApp, token: &str, path: &str, field: &str) -> Value {
    for _ in 0..200 {
        let body = app.get(path, token).await.body;
        if !body[field].is_null() {
            return body[field].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{field} never appeared on {path}");
}

async fn a_failing_summary_plugin_falls_back_at_close(app: TestApp) {
    let t = app.tenant("Acme").await;
    enable_summaries(&app, &t).await;
    let id = app.install_plugin(&t.admin.token, "trap", wasm::TRAP).await;
    app.set_pipeline(&t.admin.token, json!({"summary": {"plugin": id, "policy": "fallback"}}))
        .await;
    let (chat, _) = app.simple_chat(&t).await;
    let expected = native(&app, &t, &chat).await;
    let r = app
        .post_empty(&format!("/api/v1/chats/{chat}/close"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let summary = wait_for(&app, &t.admin.token, &format!("/api/v1/chats/{chat}"), "summary").await;
    assert_eq!(summary.as_str(), expected.summary.as_deref());
    let faults = app.faults(&t.admin.token).await;
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["hook"], "summary");
    assert_eq!(faults[0]["outcome"], "fell_back");
}

async fn the_server_keeps_serving_while_a_plugin_spins(app: TestApp) {
    let t = app.tenant("Acme").await;
    let id = app
        .install_plugin(&t.admin.token, "loop-forever", wasm::LOOP_FOREVER)
        .await;
    // The longest a workspace may allow, so the spin outlasts the requests below.
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": id, "policy": "reject",
                           "limits": {"timeout_ms": 2000, "fuel": 20_000_000_000u64}}}),
    )
    .await;
    let mut spinning = Vec::new();
    for _ in 0..3 {
        let (chat, _) = app.simple_chat(&t).await;
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/chats/{chat}/conversion")),
            t.admin.token.clone(),
        );
        spinning.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"visitor_email": "grace@example.com"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    // Meanwhile another workspace converts, and health checks answer.
    let other = app.tenant("Other").await;
    let (chat, _) = app.simple_chat(&other).await;
    let r = app
        .admin_converts(&other, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for _ in 0..10 {
        let r = app.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert!(
        spinning.iter().all(|h| !h.is_finished()),
        "the spinning conversions ended before the other requests were served"
    );
    for h in spinning {
        assert_eq!(h.await.unwrap(), StatusCode::BAD_GATEWAY);
    }
}

async fn a_plugin_that_floods_the_log_still_answers(app: TestApp) {
    let t = app.tenant("Acme").await;
    let id = app.install_plugin(&t.admin.token, "log-flood", wasm::LOG_FLOOD).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": id, "policy": "reject", "limits": {"timeout_ms": 2000, "fuel": 20_000_000_000u64}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["subject"], "Logged a lot");
}

async fn one_workspace_plugin_never_runs_for_another(app: TestApp) {
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let id = app.install_plugin(&a.admin.token, "trap", wasm::TRAP).await;
    app.set_pipeline(&a.admin.token, json!({"subject": {"plugin": id, "policy": "reject"}}))
        .await;

    // B cannot see, use or delete A's plugin.
    let listed = app.get("/api/v1/plugins", &b.admin.token).await;
    assert!(listed.body.as_array().unwrap().iter().all(|p| p["id"] != id.as_str()));
    let r = app
        .put(
            "/api/v1/pipeline",
            &b.admin.token,
            json!({"hooks": {"subject": {"plugin": id}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = app.delete(&format!("/api/v1/plugins/{id}"), &b.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A's conversions run it (and fail, by A's policy); B's never do.
    let (chat_a, _) = app.simple_chat(&a).await;
    let r = app
        .admin_converts(&a, &chat_a, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let (chat_b, _) = app.simple_chat(&b).await;
    let r = app
        .admin_converts(&b, &chat_b, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["subject"], "Chat with Grace Hopper");
    assert!(app.faults(&b.admin.token).await.is_empty());
    assert_eq!(app.faults(&a.admin.token).await.len(), 1);
}

async fn least_loaded_assignment_installed_through_the_api_changes_the_next_conversion(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bea = app.agent(&t, "Bea Agent").await;
    // Bea is online (she used the console); she has no tickets.
    assert_eq!(app.get("/api/v1/chats", &bea.token).await.status, StatusCode::OK);

    // By default the converting agent gets the ticket, so the admin now has one open.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.body["assignee"]["id"], t.admin.id.as_str());

    let id = app
        .install_plugin(&t.admin.token, "least-loaded", wasm::ASSIGN_LEAST_LOADED)
        .await;
    app.set_pipeline(
        &t.admin.token,
        json!({"assignment": {"plugin": id, "policy": "reject"}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["assignee"]["id"],
        bea.id.as_str(),
        "the least-loaded online agent gets it"
    );
    assert!(app.faults(&t.admin.token).await.is_empty());

    // Now both have one open ticket: the tie goes to the converting agent.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.body["assignee"]["id"], t.admin.id.as_str());
}

async fn uploads_that_are_not_usable_plugins_are_refused_with_the_reason(app: TestApp) {
    let t = app.tenant("Acme").await;
    let cases: [(&str, Vec<u8>, StatusCode, &str); 6] = [
        (
            "text",
            b"hello".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a WebAssembly binary",
        ),
        // A core module (version 1), not a component.
        (
            "core",
            b"\0asm\x01\0\0\0".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "component",
        ),
        // An empty component: valid, but exports no hook.
        (
            "empty",
            b"\0asm\x0d\0\x01\0".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exports no hook",
        ),
        // Native code compiled ahead of time is never accepted.
        (
            "elf",
            b"\x7fELF\x02\x01\x01\0".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "precompiled",
        ),
        (
            "big",
            vec![0u8; 9 << 20],
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 8 MiB",
        ),
        ("", wasm::TRAP.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "name"),
    ];
    for (name, bytes, status, words) in cases {
        let r = app.upload_plugin(&t.admin.token, name, &bytes).await;
        assert_eq!(r.status, status, "{name}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{name}: {message}");
    }
    let r = app
        .upload_plugin(&t.admin.token, "subject-default", wasm::SUBJECT_DEFAULT)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "built-in names are taken");
    let agent = app.agent(&t, "Bea").await;
    let r = app.upload_plugin(&agent.token, "trap", wasm::TRAP).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Nothing was installed by any of that; a good upload lists its hooks.
    let listed = app.get("/api/v1/plugins", &t.admin.token).await;
    assert!(listed.body.as_array().unwrap().iter().all(|p| p["builtin"] == true));
    let r = app.upload_plugin(&t.admin.token, "mine", wasm::SUBJECT_DEFAULT).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["hooks"], json!(["subject"]));
    let r = app.upload_plugin(&t.admin.token, "mine", wasm::TRAP).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.upload_plugin(&t.admin.token, "all-four", wasm::TRAP).await;
    assert_eq!(
        r.body["hooks"],
        json!(["subject", "transcript", "assignment", "summary"])
    );
}

async fn bad_pipeline_settings_are_refused_and_change_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let least = app
        .install_plugin(&t.admin.token, "least-loaded", wasm::ASSIGN_LEAST_LOADED)
        .await;
    app.set_pipeline(
        &t.admin.token,
        json!({"assignment": {"plugin": least, "config": {"skill": "billing"}}}),
    )
    .await;
    let before = app.get("/api/v1/pipeline", &t.admin.token).await.body;
    assert_eq!(before["hooks"]["assignment"]["plugin"], least.as_str());
    assert_eq!(before["hooks"]["subject"]["plugin"], "subject-default");
    assert_eq!(before["hooks"]["subject"]["limits"]["timeout_ms"], 100);

    let bad = [
        (
            json!({"hooks": {"greeting": {"plugin": "subject-default"}}}),
            "hooks.greeting",
        ),
        (json!({"hooks": {"subject": {"plugin": least}}}), "hooks.subject.plugin"),
        (
            json!({"hooks": {"subject": {"plugin": "no-such-builtin"}}}),
            "hooks.subject.plugin",
        ),
        (
            json!({"hooks": {"subject": {"plugin": uuid::Uuid::now_v7().to_string()}}}),
            "hooks.subject.plugin",
        ),
        (
            json!({"hooks": {"subject": {"plugin": "subject-default", "policy": "retry"}}}),
            "hooks.subject.policy",
        ),
        (
            json!({"hooks": {"subject": {"plugin": "subject-default", "limits": {"timeout_ms": 60000}}}}),
            "hooks.subject.limits.timeout_ms",
        ),
        (
            json!({"hooks": {"subject": {"plugin": "subject-default", "limits": {"memory_bytes": 1u64 << 40}}}}),
            "hooks.subject.limits.memory_bytes",
        ),
        (
            json!({"hooks": {"subject": {"plugin": "subject-default", "limits": {"fuel": 1}}}}),
            "hooks.subject.limits.fuel",
        ),
    ];
    for (body, field) in bad {
        let r = app.put("/api/v1/pipeline", &t.admin.token, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {:?}", r.body);
    }
    let r = app
        .put("/api/v1/pipeline", &t.admin.token, json!({"hooks": {"subject": {}}}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let agent = app.agent(&t, "Bea").await;
    let r = app.put("/api/v1/pipeline", &agent.token, json!({"hooks": {}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/pipeline", &t.admin.token).await.body, before);
}

async fn a_plugin_the_pipeline_runs_cannot_be_deleted(app: TestApp) {
    let t = app.tenant("Acme").await;
    let id = app
        .install_plugin(&t.admin.token, "least-loaded", wasm::ASSIGN_LEAST_LOADED)
        .await;
    app.set_pipeline(&t.admin.token, json!({"assignment": {"plugin": id}}))
        .await;
    let path = format!("/api/v1/plugins/{id}");
    let r = app.delete(&path, &t.admin.token).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(r.error_message().contains("assignment"));

    app.set_pipeline(&t.admin.token, json!({})).await;
    let r = app.delete(&path, &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.delete(&path, &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let listed = app.get("/api/v1/plugins", &t.admin.token).await;
    assert!(listed.body.as_array().unwrap().iter().all(|p| p["id"] != id.as_str()));
}

async fn plugins_get_the_workspace_settings_and_time_zone_but_no_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"time_zone": "Mars/Olympus"}))
        .await;
    r.assert_invalid("time_zone");
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"time_zone": "Asia/Kolkata"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["time_zone"], "Asia/Kolkata");
    assert_eq!(r.body["summary_on_close"], false, "left as it was");

    let id = app.install_plugin(&t.admin.token, "echo", wasm::ECHO_CONTEXT).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": id, "policy": "reject", "config": {"tier": "gold", "lang": "fr"}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    app.agent_says(&t.admin.token, &chat, "secret note", true).await;
    app.agent_says(&t.admin.token, &chat, "Hi Grace", false).await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // India is UTC+5:30 all year; the note is not among the messages counted.
    assert_eq!(
        r.body["subject"],
        "tz=Asia/Kolkata offset=330 config=lang=fr,tier=gold messages=2 first=Hello?"
    );
}

async fn each_workspace_keeps_its_newest_thousand_faults(app: TestApp) {
    let (a, b) = (app.tenant("A").await, app.tenant("B").await);
    let fault = |tenant: &TestTenant, i: usize| threadline::store::NewFault {
        tenant_id: tenant.id.clone(),
        hook: "subject".into(),
        plugin: "p".into(),
        plugin_name: "p".into(),
        chat_id: None,
        reason: format!("fault {i}"),
        outcome: "fell_back".into(),
    };
    app.store
        .record_faults((0..2).map(|i| fault(&b, i)).collect())
        .await
        .unwrap();
    app.store
        .record_faults((0..1003).map(|i| fault(&a, i)).collect())
        .await
        .unwrap();
    let kept = app.store.faults(&a.id, None, 2000).await.unwrap();
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0].reason, "fault 1002", "newest first");
    assert_eq!(kept[999].reason, "fault 3", "the oldest three went");
    assert_eq!(
        app.store.faults(&b.id, None, 2000).await.unwrap().len(),
        2,
        "per workspace"
    );
    // The API pages through them.
    let page = app.get("/api/v1/plugins/faults?limit=200", &a.admin.token).await;
    assert_eq!(page.body.as_array().unwrap().len(), 200);
    assert!(page.headers.get("link").is_some());
}
