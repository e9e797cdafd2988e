//! What plugin authors get from a server: the exact input a hook got for a
//! chat, in the format the local runner reads.

use reqwest::StatusCode;
use serde_json::json;
use threadline::domain::transcript::plain_transcript;
use threadline::plugins::local::ChatFile;
use threadline_tests::{TestApp, on_both_databases, threadline_cli, wasm};

on_both_databases!(
    a_hook_input_replays_what_the_hook_got_without_internal_notes,
    plugin_install_uploads_a_plugin_and_points_a_hook_at_it,
);

async fn a_hook_input_replays_what_the_hook_got_without_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@navy.mil",
                   "subject": "Refund", "message": "I was charged twice."}),
        )
        .await;
    app.agent_says(&bob.token, &chat, "Sorry! Checking with billing.", false)
        .await;
    app.agent_says(&bob.token, &chat, "SECRET: on the watch list", true)
        .await;

    let path = |hook: &str| format!("/api/v1/chats/{chat}/hook-input?hook={hook}");
    let r = app.get(&path("transcript"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        !r.body.to_string().contains("SECRET"),
        "internal notes never leave for a plugin"
    );
    assert!(
        r.body.get("converting_agent").is_none(),
        "only the assignment hook gets agents"
    );
    let file: ChatFile = serde_json::from_value(r.body.clone()).expect("the runner's own format");
    let input = file.into_input().expect("the runner accepts it");
    assert_eq!(input.chat.chat_id, chat);
    assert_eq!(input.chat.visitor_email.as_deref(), Some("grace@navy.mil"));
    assert_eq!(input.chat.messages.len(), 2);

    let r = app.get(&path("assignment"), &t.admin.token).await;
    assert_eq!(r.body["converting_agent"]["id"], t.admin.id.as_str());
    let mut candidates: Vec<&str> = r.body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    candidates.sort();
    assert_eq!(candidates, ["Ada Admin", "Bob"]);

    // Exactly what the hook got: the built-in transcript of the exported
    // chat is the description the conversion writes.
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["description"], plain_transcript(&input.chat.messages));

    // Bad requests change nothing and say why.
    assert_eq!(
        app.get(&path("nope"), &t.admin.token).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app
        .get(&format!("/api/v1/chats/{chat}/hook-input"), &t.admin.token)
        .await;
    assert_eq!(
        (r.status, &r.body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("hook"))
    );
    assert_eq!(
        app.get(&path("subject"), &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
    let other = app.tenant("Other").await;
    assert_eq!(
        app.get(&path("subject"), &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
}

/// `threadline plugin install` from an author's machine: the plugin lands in
/// the token's workspace, the hook runs it with the settings given, and the
/// next conversion shows it.
async fn plugin_install_uploads_a_plugin_and_points_a_hook_at_it(app: TestApp) {
    let t = app.tenant("Acme").await;
    let cleo = app.skilled_agent(&t, "Cleo", &["billing"]).await;
    // Cleo is online (seen), the admin converts: the built-in rule would
    // give the admin the ticket; the plugin gives it to the billing agent.
    app.get("/api/v1/chats", &cleo.token).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("assign_least_loaded.wasm");
    std::fs::write(&file, wasm::ASSIGN_LEAST_LOADED).unwrap();
    let install = |args: Vec<String>| {
        let base = app.url("");
        let token = t.admin.token.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(threadline_cli())
                .args(["plugin", "install"])
                .arg(&file)
                .args(["--server", &base, "--token", &token])
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = install(vec![
        "--hook".into(),
        "assignment".into(),
        "--policy".into(),
        "reject".into(),
        "--config".into(),
        "skill=billing".into(),
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["plugin"]["name"], "assign_least_loaded");
    let id = printed["plugin"]["id"].as_str().unwrap();
    let pipeline = app.get("/api/v1/pipeline", &t.admin.token).await.body;
    assert_eq!(pipeline["hooks"]["assignment"]["plugin"], id);
    assert_eq!(pipeline["hooks"]["assignment"]["policy"], "reject");
    assert_eq!(pipeline["hooks"]["assignment"]["config"]["skill"], "billing");
    assert_eq!(
        pipeline["hooks"]["subject"]["plugin"], "subject-default",
        "other hooks unchanged"
    );

    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["assignee"]["id"], cleo.id.as_str());

    // A name the workspace already uses is refused with the server's reason;
    // a bad token is told so.
    let out = install(vec![]).await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("409"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tokio::task::spawn_blocking({
        let (base, file) = (app.url(""), file.clone());
        move || {
            std::process::Command::new(threadline_cli())
                .args(["plugin", "install"])
                .arg(&file)
                .args(["--server", &base, "--token", "tl_nope", "--name", "other"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
