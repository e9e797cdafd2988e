//! Plugins that call out, and what admins see of their plugins: the
//! `summary-llm` example asks a model on loopback for the summary at
//! close, only at the hosts its hook allows, with a key the API never
//! shows, falling back to the extractive summary; and every line and call
//! lands in the workspace's own plugin log.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::model::{Mode, Model};
use threadline_tests::{TestApp, TestTenant, on_both_databases, wasm};

on_both_databases!(
    the_model_writes_the_summary_at_close_and_the_key_is_never_shown,
    the_summary_falls_back_when_the_model_fails_or_is_too_slow,
    a_plugin_reaches_only_the_hosts_its_hook_allows,
    an_admin_reads_their_plugins_log_and_never_another_workspace_s,
);

const KEY: &str = "sk-test-0123456789";

/// The summary-llm plugin installed and set on the summary hook, asking
/// `model` (allowed unless `allowed` says otherwise), with summaries on.
async fn summarize_with_model(app: &TestApp, t: &TestTenant, model: &Model, allowed: Value, timeout_ms: u32) -> String {
    let id = app
        .install_plugin(&t.admin.token, "summary-llm", wasm::SUMMARY_LLM)
        .await;
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"summary": {"plugin": id, "config": {"url": model.url, "model": "test-model"},
                "secrets": {"api_key": KEY}, "allowed_hosts": allowed, "limits": {"timeout_ms": timeout_ms}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .put("/api/v1/settings", &t.admin.token, json!({"summary_on_close": true}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    id
}

/// A chat with a reply and an internal note, closed: its id.
async fn closed_chat(app: &TestApp, t: &TestTenant) -> String {
    let (chat, _) = app
        .start_chat(
            t,
            json!({"visitor_name": "Ada Lovelace", "message": "I was charged twice."}),
        )
        .await;
    let r = app
        .agent_says(&t.admin.token, &chat, "Let me check with billing.", false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .agent_says(&t.admin.token, &chat, "SECRET: on the watch list", true)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    chat
}

async fn summary_of(app: &TestApp, t: &TestTenant, chat: &str) -> String {
    for _ in 0..400 {
        let s = &app.chat(&t.admin.token, chat).await["summary"];
        if let Some(s) = s.as_str() {
            return s.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no summary on chat {chat} after 10 s");
}

async fn log_lines(app: &TestApp, t: &TestTenant, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/plugins/logs{query}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["lines"].as_array().unwrap().clone()
}

fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_model_writes_the_summary_at_close_and_the_key_is_never_shown(app: TestApp) {
    let t = app.tenant("Acme").await;
    let model = Model::start().await;
    // Time enough on a busy machine: this test is not about the limit.
    let plugin = summarize_with_model(&app, &t, &model, json!([model.host]), 10_000).await;

    // The key is stored, used, and never shown: not by the pipeline, not by
    // its history.
    for path in ["/api/v1/pipeline", "/api/v1/pipeline/history"] {
        let text = app.get(path, &t.admin.token).await.body.to_string();
        assert!(!text.contains(KEY), "{path} shows the key: {text}");
    }
    let pipeline = app.get("/api/v1/pipeline", &t.admin.token).await.body;
    assert_eq!(pipeline["hooks"]["summary"]["secrets"], json!(["api_key"]));
    assert_eq!(pipeline["hooks"]["summary"]["allowed_hosts"], json!([model.host]));

    let chat = closed_chat(&app, &t).await;
    let summary = summary_of(&app, &t, &chat).await;
    let log = messages(&log_lines(&app, &t, "").await);
    assert_eq!(summary, Model::SUMMARY, "{log:?}");
    let asked = model.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(asked[0].body["model"], "test-model");
    let prompt = asked[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("Customer (Ada Lovelace): I was charged twice."),
        "{prompt}"
    );
    assert!(prompt.contains("Let me check with billing."), "{prompt}");
    assert!(
        !prompt.contains("SECRET"),
        "an internal note reached the model: {prompt}"
    );

    // Saving the pipeline again without the key keeps it; an empty one
    // removes it.
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"summary": {"plugin": plugin, "config": {"url": model.url},
                "allowed_hosts": [model.host], "limits": {"timeout_ms": 10000}}}),
        )
        .await;
    assert_eq!(
        r.body["hooks"]["summary"]["secrets"],
        json!(["api_key"]),
        "{:?}",
        r.body
    );
    let chat = closed_chat(&app, &t).await;
    summary_of(&app, &t, &chat).await;
    assert_eq!(
        model.asked()[1].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"summary": {"plugin": plugin, "config": {"url": model.url}, "secrets": {"api_key": ""},
                "allowed_hosts": [model.host], "limits": {"timeout_ms": 10000}}}),
        )
        .await;
    assert_eq!(r.body["hooks"]["summary"]["secrets"], json!([]), "{:?}", r.body);

    // The request is in the plugin's log, with the call's outcome.
    let lines = log_lines(&app, &t, &format!("?plugin={plugin}&hook=summary")).await;
    let text = messages(&lines);
    assert!(
        text.iter()
            .any(|m| m.starts_with(&format!("http: POST {} → 200 in", model.url))),
        "{text:?}"
    );
    let call = lines.iter().find(|l| l["level"] == "call").expect("a call line");
    assert_eq!(call["outcome"], "ok");
    assert!(call["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert!(call["chat_id"].is_string());
}

async fn the_summary_falls_back_when_the_model_fails_or_is_too_slow(app: TestApp) {
    let t = app.tenant("Acme").await;
    let model = Model::start().await;
    let plugin = summarize_with_model(&app, &t, &model, json!([model.host]), 1_000).await;
    for (mode, why) in [(Mode::Fail, "the endpoint answered 500"), (Mode::Slow, "time limit")] {
        model.answer_with(mode);
        let chat = closed_chat(&app, &t).await;
        let summary = summary_of(&app, &t, &chat).await;
        assert!(
            summary.contains("Ada Lovelace asked: I was charged twice."),
            "{mode:?}: {summary}"
        );
        assert!(
            summary.contains("Last reply from Ada Admin: Let me check with billing."),
            "{summary}"
        );
        let lines = log_lines(&app, &t, &format!("?plugin={plugin}")).await;
        let text = messages(&lines);
        assert!(
            text.iter()
                .any(|m| m.starts_with("the model gave no summary") && m.contains(why)),
            "{mode:?}: {text:?}"
        );
    }
    // What the endpoint sent is in the log with its control characters
    // escaped: it cannot forge a line.
    let text = messages(&log_lines(&app, &t, "").await);
    let failed = text.iter().find(|m| m.contains("answered 500")).unwrap();
    assert!(failed.contains(r"overloaded\n\u{1b}[31mFORGED LINE"), "{failed}");
    assert!(!text.iter().any(|m| m.chars().any(char::is_control)), "{text:?}");
}

async fn a_plugin_reaches_only_the_hosts_its_hook_allows(app: TestApp) {
    let t = app.tenant("Acme").await;
    let model = Model::start().await;
    // Another host allowed, not the model's: the host refuses the request.
    let plugin = summarize_with_model(&app, &t, &model, json!(["api.example.com"]), 1_000).await;
    let chat = closed_chat(&app, &t).await;
    let summary = summary_of(&app, &t, &chat).await;
    assert!(summary.contains("Ada Lovelace asked"), "{summary}");
    assert!(
        model.asked().is_empty(),
        "the request reached a host it was not allowed"
    );
    let text = messages(&log_lines(&app, &t, &format!("?plugin={plugin}")).await);
    assert!(
        text.iter()
            .any(|m| m.contains("127.0.0.1 is not among the hosts this hook's plugin may call")),
        "{text:?}"
    );

    // Bad lists and deadlines are refused by field, and change nothing.
    for (hook, bad, field) in [
        (
            json!({"plugin": plugin, "allowed_hosts": ["https://api.example.com/v1"]}),
            "summary",
            "hooks.summary.allowed_hosts",
        ),
        (
            json!({"plugin": plugin, "limits": {"timeout_ms": 30_001}}),
            "summary",
            "hooks.summary.limits.timeout_ms",
        ),
        (
            json!({"plugin": "subject-default", "limits": {"timeout_ms": 3_000}}),
            "subject",
            "hooks.subject.limits.timeout_ms",
        ),
        (
            json!({"plugin": plugin, "config": {"api_key": "a"}, "secrets": {"api_key": "b"}}),
            "summary",
            "hooks.summary.secrets.api_key",
        ),
    ] {
        let r = app.put_pipeline(&t.admin.token, json!({ bad: hook })).await;
        r.assert_invalid(field);
    }
    let pipeline = app.get("/api/v1/pipeline", &t.admin.token).await.body;
    assert_eq!(
        pipeline["hooks"]["summary"]["allowed_hosts"],
        json!(["api.example.com"])
    );
    // The summary hook may wait up to 30 s.
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"summary": {"plugin": plugin, "limits": {"timeout_ms": 30_000}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn an_admin_reads_their_plugins_log_and_never_another_workspace_s(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Globex").await;
    let flood = app.install_plugin(&t.admin.token, "log-flood", wasm::LOG_FLOOD).await;
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": {"plugin": flood}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // 40 calls of 32 lines each and their outcomes: more than the ring holds.
    for _ in 0..40 {
        let (chat, _) = app.simple_chat(&t).await;
        let r = app
            .admin_converts(&t, &chat, json!({"visitor_email": "g@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let newest = log_lines(&app, &t, "").await;
    assert_eq!(newest.len(), 200);
    assert_eq!(newest.last().unwrap()["level"], "call");
    assert_eq!(newest.last().unwrap()["outcome"], "ok");
    assert_eq!(newest[0]["plugin"], flood.as_str());
    assert!(newest[0]["message"].as_str().unwrap().starts_with("yyyy"));
    // Paging from the start reads the ring: the newest 1,000 lines.
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        let page = log_lines(&app, &t, &format!("?since={since}")).await;
        let Some(last) = page.last() else { break };
        since = last["id"].as_i64().unwrap();
        all.extend(page);
    }
    assert_eq!(all.len(), 1_000);
    assert_eq!(all.last().unwrap()["id"], newest.last().unwrap()["id"]);
    let ids: Vec<i64> = all.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "lines come oldest first");

    // Another workspace's admin sees none of it, asked any way.
    assert!(log_lines(&app, &other, "").await.is_empty());
    assert!(log_lines(&app, &other, &format!("?plugin={flood}")).await.is_empty());
    assert!(log_lines(&app, &other, "?since=0").await.is_empty());
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/plugins/logs", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );
    app.get("/api/v1/plugins/logs?hook=escalation", &t.admin.token)
        .await
        .assert_invalid("hook");
}
