//! Operators shape the built-in rules with settings, no code: a subject
//! template, the transcript's form, zone and redaction, the summary's
//! length. The native fallback of a default plugin answers with the same
//! settings, so a failing plugin never undoes a redaction.

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases, sql};

on_both_databases!(
    a_card_a_phone_and_an_email_never_reach_the_ticket_when_redaction_is_on,
    a_subject_template_fills_in_the_chat,
    the_transcript_follows_its_format_and_zone_settings,
    settings_the_built_in_rules_cannot_read_are_refused,
    a_shadow_run_shows_what_a_change_would_do_and_writes_nothing,
    every_pipeline_change_is_kept_and_can_be_rolled_back,
    versions_stored_before_records_had_a_format_and_by_a_newer_server_roll_back,
    a_ticket_keeps_the_receipt_of_what_ran_for_each_hook,
    the_assignment_rule_can_balance_rotate_or_match_skills,
);

async fn a_card_a_phone_and_an_email_never_reach_the_ticket_when_redaction_is_on(app: TestApp) {
    let t = app.tenant("Acme").await;
    let secrets = ["4111 1111 1111 1111", "+44 20 7946 0958", "grace.h@navy.mil"];
    let typed = format!(
        "My card {} was charged twice, call me on {} or mail {}",
        secrets[0], secrets[1], secrets[2]
    );
    for (label, limits) in [
        ("as the plugin", json!({})),
        // Fuel for nothing: the plugin faults, and its native fallback
        // must redact the same way.
        ("as the fallback", json!({"fuel": 1000})),
    ] {
        let r = app
            .put_pipeline(
                &t.admin.token,
                json!({"transcript": {"plugin": "transcript-plain", "config": {"redact": "true"}, "limits": limits}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let (chat, _) = app
            .start_chat(&t, json!({"visitor_name": "Grace Hopper", "message": typed}))
            .await;
        let r = app
            .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{label}: {:?}", r.body);
        let description = r.body["description"].as_str().unwrap();
        for secret in secrets {
            assert!(!description.contains(secret), "{label}: {secret} leaked: {description}");
        }
        assert!(
            description.contains("My card [card number] was charged twice, call me on [phone] or mail [email]"),
            "{label}: {description}"
        );
    }
    // The fallback ran (and was recorded), so the second ticket was the
    // native rule's.
    let faults = app.get("/api/v1/plugins/faults", &t.admin.token).await;
    assert_eq!(faults.body[0]["hook"], "transcript", "{:?}", faults.body);
    assert_eq!(faults.body[0]["outcome"], "fell_back");

    // Off (the default), the text is copied as typed.
    app.put_pipeline(&t.admin.token, json!({})).await;
    let (chat, _) = app
        .start_chat(&t, json!({"visitor_name": "Grace Hopper", "message": typed}))
        .await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert!(r.body["description"].as_str().unwrap().contains(secrets[0]));
}

async fn a_subject_template_fills_in_the_chat(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"subject": {"plugin": "subject-default",
                           "config": {"template": "[Chat] {visitor_name}: {first_message:20}"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "message": "My   order never\narrived, can you help?"}),
        )
        .await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["subject"], "[Chat] Grace Hopper: My order never arri…");
}

async fn the_transcript_follows_its_format_and_zone_settings(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"time_zone": "Asia/Kolkata"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let convert = |config: Value| {
        let (app, t) = (&app, &t);
        async move {
            let r = app
                .put_pipeline(
                    &t.admin.token,
                    json!({"transcript": {"plugin": "transcript-plain", "config": config}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let (chat, _) = app
                .start_chat(t, json!({"visitor_name": "Grace *Hopper*", "message": "Hello?"}))
                .await;
            let r = app
                .admin_converts(t, &chat, json!({"visitor_email": "grace@example.com"}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["description"].as_str().unwrap().to_owned()
        }
    };
    // The workspace's zone by default (India: IST, all year).
    let text = convert(json!({})).await;
    assert!(
        text.starts_with('[') && text.contains(" IST] Grace *Hopper*: Hello?"),
        "{text}"
    );
    let text = convert(json!({"time_zone": "utc", "date_format": "time"})).await;
    assert!(text.contains(" UTC] Grace *Hopper*: Hello?"), "{text}");
    let text = convert(json!({"format": "markdown"})).await;
    assert!(text.starts_with("**Grace \\*Hopper\\*** · "), "{text}");
    assert!(text.contains(" IST  \nHello?"), "{text}");
}

async fn settings_the_built_in_rules_cannot_read_are_refused(app: TestApp) {
    let t = app.tenant("Acme").await;
    for (hooks, field) in [
        (
            json!({"subject": {"plugin": "subject-default", "config": {"template": "{visitor} says hi"}}}),
            "hooks.subject.config.template",
        ),
        (
            json!({"transcript": {"plugin": "transcript-plain", "config": {"format": "html"}}}),
            "hooks.transcript.config.format",
        ),
        (
            json!({"summary": {"plugin": "summary-extractive", "config": {"length": "5"}}}),
            "hooks.summary.config.length",
        ),
    ] {
        let r = app.put_pipeline(&t.admin.token, hooks.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{hooks}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{:?}", r.body);
    }
    let r = app.get("/api/v1/pipeline", &t.admin.token).await;
    assert!(!r.body.to_string().contains("html"), "nothing was kept: {:?}", r.body);

    // What each built-in rule takes is listed with it.
    let r = app.get("/api/v1/plugins", &t.admin.token).await;
    let transcript = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "transcript-plain")
        .unwrap()
        .clone();
    let keys: Vec<&str> = transcript["manifest"]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["format", "time_zone", "date_format", "include_system", "redact"]);
}

async fn a_shadow_run_shows_what_a_change_would_do_and_writes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let mut closed = Vec::new();
    for (i, name) in ["Ada Lovelace", "Grace Hopper", "Alan Turing"].iter().enumerate() {
        let (chat, _) = app
            .start_chat(
                &t,
                json!({"visitor_name": name, "message": "My card is 4111 1111 1111 1111"}),
            )
            .await;
        if i == 0 {
            let r = app
                .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        } else {
            let r = app
                .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
                .await;
            assert!(r.status.is_success(), "{:?}", r.body);
        }
        closed.push(chat);
    }
    let (open, _) = app.simple_chat(&t).await;
    let tickets_before = app.get("/api/v1/tickets", &t.admin.token).await.body;
    let pipeline_before = app.get("/api/v1/pipeline", &t.admin.token).await.body;

    let candidate = json!({
        "subject": {"plugin": "subject-default", "config": {"template": "[VIP] {visitor_name}"}},
        "transcript": {"plugin": "transcript-plain", "config": {"redact": "true"}},
    });
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": candidate, "last": 20}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let chats = r.body["chats"].as_array().unwrap();
    let ids: Vec<&str> = chats.iter().map(|c| c["chat_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "closed and converted chats, not the open one: {ids:?}");
    assert!(!ids.contains(&open.as_str()));
    assert_eq!(r.body["changed"], 3);
    let hook = |chat: &Value, name: &str| -> Value {
        chat["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["hook"] == name)
            .unwrap()
            .clone()
    };
    for chat in chats {
        let subject = hook(chat, "subject");
        assert_eq!(subject["changed"], true);
        assert!(subject["current"]["output"].as_str().unwrap().starts_with("Chat with "));
        assert!(subject["candidate"]["output"].as_str().unwrap().starts_with("[VIP] "));
        assert!(subject["candidate"]["fuel"].as_u64().unwrap() > 0);
        assert_eq!(subject["candidate"]["plugin"], "subject-default");
        let transcript = hook(chat, "transcript");
        assert!(
            transcript["current"]["output"]
                .as_str()
                .unwrap()
                .contains("4111 1111 1111 1111")
        );
        assert!(
            transcript["candidate"]["output"]
                .as_str()
                .unwrap()
                .contains("[card number]")
        );
        let assignment = hook(chat, "assignment");
        assert_eq!(assignment["changed"], false, "{assignment}");
    }

    // Named chats, open ones included.
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": candidate, "chat_ids": [open]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["chats"][0]["chat_id"], open.as_str());

    // Nothing was written: no ticket, no pipeline change, no fault.
    assert_eq!(app.get("/api/v1/tickets", &t.admin.token).await.body, tickets_before);
    assert_eq!(app.get("/api/v1/pipeline", &t.admin.token).await.body, pipeline_before);
    assert_eq!(app.get("/api/v1/plugins/faults", &t.admin.token).await.body, json!([]));

    // Bad requests.
    for (body, status, field) in [
        (
            json!({"hooks": {}, "last": 500}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("last"),
        ),
        (json!({"hooks": {}}), StatusCode::UNPROCESSABLE_ENTITY, Some("last")),
        (
            json!({"hooks": {}, "last": 2, "chat_ids": [open]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("last"),
        ),
        (
            json!({"hooks": {"subject": {"plugin": "subject-default", "config": {"template": "{nope}"}}}, "last": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("hooks.subject.config.template"),
        ),
    ] {
        let r = app.post("/api/v1/pipeline/shadow", &t.admin.token, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"].as_str(), field, "{body}: {:?}", r.body);
    }
    let other = app.tenant("Other").await;
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &other.admin.token,
            json!({"hooks": {}, "chat_ids": [open]}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another workspace's chat: {:?}",
        r.body
    );
    let agent = app.agent(&t, "Bob").await;
    let r = app
        .post("/api/v1/pipeline/shadow", &agent.token, json!({"hooks": {}, "last": 2}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn every_pipeline_change_is_kept_and_can_be_rolled_back(app: TestApp) {
    let t = app.tenant("Acme").await;
    let template = |v: &str| json!({"subject": {"plugin": "subject-default", "config": {"template": v}}});
    for v in ["A {visitor_name}", "B {visitor_name}"] {
        let r = app.put_pipeline(&t.admin.token, template(v)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = app.get("/api/v1/pipeline/history", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let history = r.body.as_array().unwrap().clone();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["hooks"]["subject"]["config"]["template"], "B {visitor_name}");
    assert_eq!(history[1]["hooks"]["subject"]["config"]["template"], "A {visitor_name}");
    assert_eq!(history[0]["changed_by"]["id"], t.admin.id.as_str());
    let (first, second) = (
        history[1]["version"].as_i64().unwrap(),
        history[0]["version"].as_i64().unwrap(),
    );
    assert!(second > first);

    let r = app
        .post("/api/v1/pipeline/rollback", &t.admin.token, json!({"version": first}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["hooks"]["subject"]["config"]["template"], "A {visitor_name}");
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(r.body["subject"], "A Grace Hopper", "the rollback is in force");
    let r = app.get("/api/v1/pipeline/history", &t.admin.token).await;
    assert_eq!(r.body[0]["note"], format!("rolled back to version {first}"));
    assert_eq!(r.body.as_array().unwrap().len(), 3);

    // A version whose plugin was deleted since cannot come back.
    let probe = app
        .install_plugin(&t.admin.token, "probe", threadline_tests::wasm::PROBE_V2)
        .await;
    app.put_pipeline(&t.admin.token, json!({"fields": {"plugin": probe}}))
        .await;
    let with_probe = app.get("/api/v1/pipeline/history", &t.admin.token).await.body[0]["version"].clone();
    app.put_pipeline(&t.admin.token, json!({})).await;
    let r = app.delete(&format!("/api/v1/plugins/{probe}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/pipeline/rollback",
            &t.admin.token,
            json!({"version": with_probe}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = app.get("/api/v1/pipeline", &t.admin.token).await;
    assert_eq!(r.body["hooks"]["fields"]["plugin"], "fields-none", "nothing changed");

    let r = app
        .post("/api/v1/pipeline/rollback", &t.admin.token, json!({"version": 999_999}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let other = app.tenant("Other").await;
    let r = app
        .post(
            "/api/v1/pipeline/rollback",
            &other.admin.token,
            json!({"version": first}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another workspace's history");
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/pipeline/history", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_ticket_keeps_the_receipt_of_what_ran_for_each_hook(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"transcript": {"plugin": "transcript-plain", "limits": {"fuel": 1000}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
    let receipt = r.body["receipt"].as_array().unwrap().clone();
    let hooks: Vec<&str> = receipt.iter().map(|e| e["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, ["subject", "transcript", "assignment", "fields"]);

    let subject = &receipt[0];
    assert_eq!(subject["plugin"], "subject-default");
    assert_eq!(subject["outcome"], "ok");
    assert_eq!(subject["version"], "0.1.0");
    assert_eq!(subject["sha256"].as_str().unwrap().len(), 64);
    assert!(subject["fuel"].as_u64().unwrap() > 0);
    assert!(subject["elapsed_ms"].as_f64().unwrap() > 0.0);

    let transcript = &receipt[1];
    assert_eq!(transcript["outcome"], "fell_back");
    assert!(transcript["reason"].as_str().unwrap().contains("fuel"), "{transcript}");
    assert_eq!(receipt[2]["outcome"], "ok");
    assert_eq!(receipt[3]["plugin"], "fields-none");
    assert_eq!(receipt[3]["outcome"], "native");

    // A subject the agent typed is theirs.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(
            &t,
            &chat,
            json!({"visitor_email": "grace@example.com", "subject": "Typed by hand"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["receipt"][0]["outcome"], "typed", "{:?}", r.body["receipt"]);
}

async fn the_assignment_rule_can_balance_rotate_or_match_skills(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let cleo = app.skilled_agent(&t, "Cleo", &["billing"]).await;
    // Online means seen using the API lately.
    for token in [&t.admin.token, &bob.token, &cleo.token] {
        assert_eq!(app.get("/api/v1/chats", token).await.status, StatusCode::OK);
    }
    let strategy = |s: &str| json!({"assignment": {"plugin": "assign-converting-agent", "config": {"strategy": s}}});
    let convert = |message: &'static str| {
        let (app, t) = (&app, &t);
        async move {
            let (chat, _) = app
                .start_chat(t, json!({"visitor_name": "Grace Hopper", "message": message}))
                .await;
            let r = app
                .admin_converts(t, &chat, json!({"visitor_email": "grace@example.com"}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["assignee"]["name"].as_str().unwrap().to_owned()
        }
    };

    // Round robin: whoever was given a ticket longest ago (never: first),
    // ties to the converting agent, then in the order agents were added.
    assert_eq!(
        app.put_pipeline(&t.admin.token, strategy("round_robin")).await.status,
        StatusCode::OK
    );
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(convert("Hello?").await);
    }
    assert_eq!(order, ["Ada Admin", "Bob", "Cleo", "Ada Admin"]);

    // Least loaded: Bob and Cleo hold one open ticket each, Ada two.
    assert_eq!(
        app.put_pipeline(&t.admin.token, strategy("least_loaded")).await.status,
        StatusCode::OK
    );
    assert_eq!(convert("Hello?").await, "Bob");

    // Skills: a skill the visitor names; nobody's skill named, the
    // converting agent.
    assert_eq!(
        app.put_pipeline(&t.admin.token, strategy("skills")).await.status,
        StatusCode::OK
    );
    assert_eq!(convert("A billing question about order 4521").await, "Cleo");
    assert_eq!(convert("Where is my parcel?").await, "Ada Admin");

    let r = app.put_pipeline(&t.admin.token, strategy("random")).await;
    r.assert_invalid("hooks.assignment.config.strategy");
}

/// History is stored in a format of its own, not as the API's view: a
/// version written before that format had a number (the view's JSON of
/// the time) and one written by a newer server (a field and a hook this
/// one does not know) both roll back, and the history shows them.
async fn versions_stored_before_records_had_a_format_and_by_a_newer_server_roll_back(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": {"plugin": "subject-default"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let newest = app.get("/api/v1/pipeline/history", &t.admin.token).await.body[0]["version"]
        .as_i64()
        .unwrap();
    let limits = json!({"fuel": 100_000_000, "timeout_ms": 100, "memory_bytes": 33_554_432});
    let before = json!({
        "subject": {"plugin": "subject-default", "config": {"template": "Old {visitor_name}"},
                    "policy": "reject", "limits": limits},
        "transcript": {"plugin": "transcript-plain", "config": {}, "policy": "fallback", "limits": limits},
    });
    let newer = json!({"format": 2, "hooks": {
        "subject": {"plugin": "subject-default", "config": {"template": "New {visitor_name}"},
                    "policy": "fallback", "limits": {"fuel": 2_000_000, "timeout_ms": 90, "memory_bytes": 33_554_432,
                    "stack_bytes": 65_536}, "rollout": {"percent": 10}},
        "escalation": {"plugin": "escalate-vip"},
    }});
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    for (version, hooks) in [(newest + 1, &before), (newest + 2, &newer)] {
        sql::exec(
            &db,
            "INSERT INTO pipeline_versions (tenant_id, version, hooks, changed_by, changed_by_name, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                t.id.as_str().into(),
                version.into(),
                hooks.to_string().into(),
                t.admin.id.as_str().into(),
                "Ada".into(),
                chrono::Utc::now().into(),
            ],
        )
        .await;
    }
    // As the server does when it saves a version.
    sql::exec(
        &db,
        "UPDATE tenants SET pipeline_version = $1 WHERE id = $2",
        vec![(newest + 2).into(), t.id.as_str().into()],
    )
    .await;

    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await;
    assert_eq!(history.status, StatusCode::OK, "{:?}", history.body);
    assert_eq!(history.body[0]["hooks"]["subject"]["limits"]["timeout_ms"], 90);
    assert_eq!(history.body[1]["hooks"]["subject"]["policy"], "reject");
    assert_eq!(history.body[1]["hooks"]["summary"]["plugin"], "summary-extractive");

    for (version, template, policy, fuel) in [
        (newest + 1, "Old {visitor_name}", "reject", 100_000_000),
        (newest + 2, "New {visitor_name}", "fallback", 2_000_000),
    ] {
        let r = app
            .post("/api/v1/pipeline/rollback", &t.admin.token, json!({"version": version}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "version {version}: {:?}", r.body);
        let subject = &r.body["hooks"]["subject"];
        assert_eq!(subject["config"]["template"], template);
        assert_eq!(subject["policy"], policy);
        assert_eq!(subject["limits"]["fuel"], fuel);
        assert!(r.body["hooks"].get("escalation").is_none(), "{:?}", r.body);
        let (chat, _) = app.simple_chat(&t).await;
        let preview = app
            .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
            .await;
        assert_eq!(
            preview.body["subject"],
            template.replace("{visitor_name}", "Grace Hopper")
        );
    }
    // What a rollback wrote reads back the same way again.
    let last = app.get("/api/v1/pipeline/history", &t.admin.token).await.body[0].clone();
    assert_eq!(last["hooks"]["subject"]["config"]["template"], "New {visitor_name}");
    let r = app
        .post(
            "/api/v1/pipeline/rollback",
            &t.admin.token,
            json!({"version": last["version"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
