//! The plugin contract as it grows: components built against 0.1.0 and
//! 0.2.0 upload and run side by side; a 0.2.0 plugin reads the chat through
//! its resource, asks the host for local time, returns typed errors, sets
//! ticket fields and describes its settings, which the server then checks.
//! An export with a hook's name and another version's types is refused.

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases, wasm};

on_both_databases!(
    plugins_of_both_contract_versions_run_side_by_side,
    a_plugin_sets_the_new_tickets_priority_tags_and_custom_fields,
    settings_are_checked_against_what_a_plugin_declares,
    a_typed_plugin_error_reaches_the_operator_in_words,
    a_hook_exported_with_the_wrong_types_is_refused_at_upload_naming_the_function,
);

async fn in_kolkata(app: &TestApp, token: &str) {
    let r = app
        .put("/api/v1/settings", token, json!({"time_zone": "Asia/Kolkata"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn plugins_of_both_contract_versions_run_side_by_side(app: TestApp) {
    let t = app.tenant("Acme").await;
    in_kolkata(&app, &t.admin.token).await;
    let old = app.install_plugin(&t.admin.token, "echo", wasm::ECHO_CONTEXT).await;
    let new = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;

    // What each says of itself: a 0.1.0 plugin cannot, a 0.2.0 one does,
    // and the built-in plugins (0.2.0 now) do too.
    let r = app.get("/api/v1/plugins", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let listed = r.body.as_array().unwrap();
    let by_id = |id: &str| listed.iter().find(|p| p["id"] == id).unwrap().clone();
    assert!(by_id(&old)["manifest"].is_null());
    let probe = by_id(&new);
    assert_eq!(probe["hooks"], json!(["subject", "fields"]));
    assert_eq!(probe["manifest"]["name"], "probe-v2");
    assert_eq!(probe["manifest"]["hooks"], json!(["subject", "fields"]));
    let priority = &probe["manifest"]["settings"][0];
    assert_eq!(priority["key"], "priority");
    assert_eq!(priority["kind"], "choice");
    assert_eq!(priority["choices"], json!(["low", "normal", "high", "urgent"]));
    assert_eq!(by_id("subject-default")["manifest"]["name"], "subject-default");
    assert!(
        by_id("fields-none")["manifest"].is_null(),
        "the native default is no plugin"
    );

    let (chat, _) = app.simple_chat(&t).await;
    app.agent_says(&t.admin.token, &chat, "secret note", true).await;
    app.agent_says(&t.admin.token, &chat, "Hi Grace", false).await;
    let prefill = || async {
        let r = app
            .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["subject"].as_str().unwrap().to_owned()
    };

    app.set_pipeline(&t.admin.token, json!({"subject": {"plugin": old, "policy": "reject"}}))
        .await;
    assert_eq!(
        prefill().await,
        "tz=Asia/Kolkata offset=330 config= messages=2 first=Hello?",
        "the 0.1.0 plugin still gets its records"
    );

    app.set_pipeline(&t.admin.token, json!({"subject": {"plugin": new, "policy": "reject"}}))
        .await;
    // The last message read with a ranged read; its local time from the
    // host's clock (India is UTC+5:30 all year); no internal note counted;
    // and each call a fresh instance (its static call counter starts over,
    // though the pool slot's memory is reset by zeroing, not unmapping).
    for _ in 0..3 {
        let subject = prefill().await;
        assert!(
            subject.starts_with("tz=Asia/Kolkata messages=2 first=Hello? last=Hi Grace at="),
            "{subject}"
        );
        assert!(subject.ends_with("+330IST call=1"), "{subject}");
    }
}

async fn a_plugin_sets_the_new_tickets_priority_tags_and_custom_fields(app: TestApp) {
    let t = app.tenant("Acme").await;
    let probe = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    let (plain, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &plain, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["priority"], "normal", "the default sets nothing");
    assert_eq!(r.body["tags"], json!([]));
    assert_eq!(r.body["custom_fields"], json!({}));

    app.set_pipeline(
        &t.admin.token,
        json!({"fields": {"plugin": probe, "policy": "reject",
                          "config": {"priority": "high", "tags": "VIP, billing,vip"}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["tags"], json!(["vip", "billing"]), "lowercased, once each");
    assert_eq!(r.body["custom_fields"], json!({"source": "chat"}));
    let number = r.body["number"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
    assert_eq!(r.body["priority"], "high", "as stored: {:?}", r.body);
    assert_eq!(r.body["tags"], json!(["vip", "billing"]));

    // An unusable tag is the plugin's fault: under `reject` nothing is
    // converted, and the chat can still be converted once fixed.
    app.set_pipeline(
        &t.admin.token,
        json!({"fields": {"plugin": probe, "policy": "reject", "config": {"tags": "no spaces allowed"}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "bad@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
    assert!(r.error_message().contains("tag"), "{:?}", r.body);
    assert!(app.chat(&t.admin.token, &chat).await["ticket"].is_null());
}

async fn settings_are_checked_against_what_a_plugin_declares(app: TestApp) {
    let t = app.tenant("Acme").await;
    let probe = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    let put = |hooks: serde_json::Value| {
        let app = &app;
        let token = t.admin.token.clone();
        async move { app.put("/api/v1/pipeline", &token, json!({ "hooks": hooks })).await }
    };
    let r = put(json!({"fields": {"plugin": probe, "config": {"priority": "highest"}}})).await;
    r.assert_invalid("hooks.fields.config.priority");
    assert!(r.error_message().contains("low, normal, high, urgent"));

    let r = put(json!({"fields": {"plugin": probe, "config": {"prority": "high"}}})).await;
    r.assert_invalid("hooks.fields.config.prority");
    assert!(
        r.error_message().contains("priority, tags, fail"),
        "the keys it has are named: {:?}",
        r.body
    );

    let r = put(json!({"subject": {"plugin": "subject-default", "config": {"prefix": "x"}}})).await;
    r.assert_invalid("hooks.subject.config.prefix");

    let r = put(json!({"fields": {"plugin": "fields-none", "config": {"x": "y"}}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);

    // Nothing of the refused updates was kept.
    let r = app.get("/api/v1/pipeline", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(!r.body.to_string().contains(&probe), "{:?}", r.body);

    let r = put(json!({"fields": {"plugin": probe, "config": {"priority": "urgent", "tags": "a"}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn a_typed_plugin_error_reaches_the_operator_in_words(app: TestApp) {
    let t = app.tenant("Acme").await;
    let probe = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": probe, "config": {"fail": "only French chats"}}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["subject"], "Chat with Grace Hopper",
        "the built-in rule answered"
    );
    let r = app.get("/api/v1/plugins/faults", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let fault = &r.body[0];
    assert_eq!(fault["hook"], "subject");
    assert_eq!(fault["outcome"], "fell_back");
    assert_eq!(fault["reason"], "it does not handle this chat: only French chats");
}

/// A component exporting a hook's interface by name with other types
/// links, and would fault on every call: the upload is refused instead,
/// naming the function and how its type differs, and nothing is kept.
/// Conversion hooks of 0.1.0 and 0.2.0 and event hooks of 0.3.0 alike.
async fn a_hook_exported_with_the_wrong_types_is_refused_at_upload_naming_the_function(app: TestApp) {
    let t = app.tenant("Acme").await;
    let cases = [
        // 0.1.0's subject hook (a three-field context, a chat header)
        // under 0.2.0's name.
        (
            "mistyped-v2",
            wasm::MISTYPED_V2,
            "threadline:plugin/subject@0.2.0",
            "record of 2 fields",
        ),
        // A subject hook of 0.1.0 taking and returning a string.
        (
            "mistyped-v1",
            wasm::MISTYPED_V1,
            "threadline:plugin/subject@0.1.0",
            "type mismatch",
        ),
    ];
    for (name, bytes, export, why) in cases {
        let r = app.upload_plugin(&t.admin.token, name, bytes).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("default-subject"),
            "{name} names the function: {message}"
        );
        assert!(message.contains(export), "{name} names the export: {message}");
        assert!(message.contains(why), "{name} says how it differs: {message}");
    }
    // Event hooks (0.3.0) of the right names, each taking a string: the
    // first of them is named.
    let r = app
        .upload_plugin(&t.admin.token, "mistyped-v3", wasm::MISTYPED_V3)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("its function ticket-created (threadline:plugin/events@0.3.0)"),
        "{message}"
    );
    let r = app.get("/api/v1/plugins", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        r.body.as_array().unwrap().iter().all(|p| p["builtin"] == true),
        "nothing was installed: {:?}",
        r.body
    );
    // A well-typed plugin of each version still uploads.
    app.install_plugin(&t.admin.token, "echo", wasm::ECHO_CONTEXT).await;
    app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    app.install_plugin(&t.admin.token, "events", wasm::EVENTS_V3).await;
}
