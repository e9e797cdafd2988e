//! Rules in JavaScript, no toolchain: the built-in `javascript` plugin runs
//! a workspace's rule, which is only its source text. A rule changes the
//! next conversion; a rule that does not parse is refused where it is
//! wrong; a rule that throws, spins, hoards memory or backtracks forever is
//! a fault under its hook's policy, stopped within its limits, while other
//! workspaces are served.

use std::sync::Arc;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases, threadline_cli};

on_both_databases!(
    javascript_rules_for_subject_transcript_and_assignment_change_the_next_conversion,
    a_rule_that_does_not_parse_is_refused_at_its_line_and_column_and_nothing_changes,
    runaway_rules_are_faults_under_fallback_and_others_are_served,
    runaway_rules_are_faults_under_reject_and_others_are_served,
    the_history_of_long_rules_is_bounded_in_size,
    the_server_names_the_hooks_and_a_starter_rule_for_each_that_saves_and_runs,
);

fn rule(source: &str) -> Value {
    json!({"plugin": "javascript", "config": {"source": source}})
}

const SUBJECT: &str =
    "function subject(chat) {\n  return 'Case: ' + chat.visitor.name + ' (' + chat.message_count + ')';\n}";

const TRANSCRIPT: &str = "// Markdown, one line a message.
function transcript(chat, context) {
  const lines = chat.messages.map((m) => `- **${m.author_name}** (${m.author}): ${m.body}`);
  return `# Chat ${chat.id}\\n\\n` + lines.join('\\n');
}";

const ASSIGN: &str = "// Whoever has a skill the visitor names; else the converting agent.
function assign(chat, agent, candidates) {
  const text = chat.messages.filter((m) => m.author === 'visitor').map((m) => m.body.toLowerCase()).join(' ');
  const skilled = candidates.filter((c) => c.skills.some((s) => text.includes(s)));
  skilled.sort((a, b) => a.open_tickets - b.open_tickets);
  return skilled.length ? skilled[0] : agent.id;
}";

const FIELDS: &str = "async function fields(chat) {
  return { priority: 'high', tags: ['lucky-' + Math.floor(Math.random() * 1e6), 'clock-' + Date.now()] };
}";

async fn javascript_rules_for_subject_transcript_and_assignment_change_the_next_conversion(app: TestApp) {
    let t = app.tenant("Acme").await;
    // The assignment rule below picks whoever has a skill the visitor names.
    app.skilled_agent(&t, "Cleo", &["billing"]).await;
    let plugins = app.get("/api/v1/plugins", &t.admin.token).await;
    let js = plugins
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "javascript")
        .expect("the JavaScript plugin is listed");
    assert_eq!(js["builtin"], true);
    assert_eq!(
        js["hooks"],
        json!(["subject", "transcript", "assignment", "summary", "fields"])
    );

    let hooks = json!({"subject": rule(SUBJECT), "transcript": rule(TRANSCRIPT), "assignment": rule(ASSIGN), "fields": rule(FIELDS)});
    let r = app.put_pipeline(&t.admin.token, hooks.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // JavaScript's own default limits, within the server's maximums.
    assert_eq!(r.body["hooks"]["subject"]["limits"]["fuel"], 500_000_000);

    let (chat, visitor) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "message": "A BILLING question"}),
        )
        .await;
    app.agent_says(&t.admin.token, &chat, "Let me look.", false).await;
    app.agent_says(&t.admin.token, &chat, "secret: card on file", true)
        .await;
    app.visitor_says(&visitor, &chat, "Thanks").await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        r.body["subject"], "Case: Grace Hopper (3)",
        "internal notes are not counted"
    );
    let description = r.body["description"].as_str().unwrap();
    assert_eq!(
        description,
        format!(
            "# Chat {chat}\n\n- **Grace Hopper** (visitor): A BILLING question\n- **Ada Admin** (agent): Let me look.\n- \
             **Grace Hopper** (visitor): Thanks"
        )
    );
    assert!(!description.contains("secret"), "the host removes internal notes");
    assert_eq!(r.body["assignee"]["name"], "Cleo", "{:?}", r.body["assignee"]);
    assert!(app.faults(&t.admin.token).await.is_empty());
    // No clock, and Math.random seeded from the chat: a shadow run of the
    // same chat answers exactly as the conversion did.
    let tags = r.body["tags"].clone();
    assert_eq!(tags[1], "clock-0", "{tags}");
    let shadow = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": hooks, "chat_ids": [chat], "hook": "fields"}),
        )
        .await;
    assert_eq!(shadow.status, StatusCode::OK, "{:?}", shadow.body);
    let tried = shadow.body["chats"][0]["hooks"].as_array().unwrap();
    assert_eq!(tried.len(), 1, "only the hook asked for runs: {tried:?}");
    assert_eq!(tried[0]["hook"], "fields");
    assert_eq!(tried[0]["candidate"]["output"]["tags"], tags, "{tried:?}");
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": {}, "chat_ids": [chat], "hook": "priority"}),
        )
        .await;
    r.assert_invalid("hook");

    // No skill named: the converting agent.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.body["assignee"]["name"], "Ada Admin", "{:?}", r.body);
}

async fn a_rule_that_does_not_parse_is_refused_at_its_line_and_column_and_nothing_changes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let before = app.get("/api/v1/pipeline", &t.admin.token).await.body;

    let broken = "function subject(chat) {\n  return 'Case: ' +;\n}";
    let r = app.put_pipeline(&t.admin.token, json!({"subject": rule(broken)})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let e = &r.body["error"];
    assert_eq!(e["field"], "hooks.subject.config.source");
    assert_eq!((e["line"].clone(), e["column"].clone()), (json!(2), json!(20)), "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("line 2, column 20: SyntaxError"), "{message}");

    // The function a hook needs, named after it.
    let r = app
        .put_pipeline(
            &t.admin.token,
            json!({"assignment": rule("function assignment() { return 'x' }")}),
        )
        .await;
    r.assert_invalid("hooks.assignment.config.source");
    assert!(r.error_message().contains("no function named assign"), "{:?}", r.body);
    // A source is required; a top level that never ends is stopped.
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": {"plugin": "javascript"}}))
        .await;
    r.assert_invalid("hooks.subject.config.source");
    // (Under a small budget and a long deadline, so that fuel stops it
    // whatever the load: at the defaults, 100 million fuel and 100 ms, a
    // busy machine could reach the deadline first.)
    let mut endless = rule("while (true) {}\nfunction subject() { return 'x' }");
    endless["limits"] = json!({"fuel": 10_000_000, "timeout_ms": 2000});
    let r = app.put_pipeline(&t.admin.token, json!({"subject": endless})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error_message().contains("fuel"), "{:?}", r.body);
    // A shadow run checks the same way, so an editor can show the error.
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": {"subject": rule(broken)}, "last": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["line"], 2);

    // Sources up to 64 KiB are taken (far past other settings' 4 KiB);
    // past that, refused.
    let comment = format!("// {}\n", "x".repeat(997));
    let long = format!("{}{SUBJECT}", comment.repeat(64));
    assert!(long.len() > 64_000 && long.len() <= 64 << 10, "{}", long.len());
    let r = app.put_pipeline(&t.admin.token, json!({"subject": rule(&long)})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let too_long = format!("{}{SUBJECT}", comment.repeat(66));
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": rule(&too_long)}))
        .await;
    r.assert_invalid("hooks.subject.config.source");

    // Refusals changed nothing: the one good save is the only change.
    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await.body;
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    let r = app.put_pipeline(&t.admin.token, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/pipeline", &t.admin.token).await.body, before);
}

/// Rules that go wrong, and what the fault says of each (a spinning rule
/// runs out of fuel, or on a busy machine may reach its deadline first:
/// either limit stops it).
const RUNAWAYS: [(&str, &str, &[&str]); 5] = [
    (
        "throws",
        "function subject(chat) {\n  throw new Error('no VIP list for ' + chat.visitor.name);\n}",
        &["Error: no VIP list for Grace Hopper\n  at subject (rule.js:2"],
    ),
    (
        "loops forever",
        "function subject() { for (;;) {} }",
        &["fuel", "time limit"],
    ),
    (
        "allocates without bound",
        "function subject() { const kept = []; for (;;) kept.push(new ArrayBuffer(4 << 20)); }",
        &["memory limit"],
    ),
    (
        "backtracks forever",
        "function subject() { return String(/^(a+)+$/.test('a'.repeat(40) + 'b')) }",
        &["fuel", "time limit"],
    ),
    // A capacity overflow inside the engine: a Rust panic, reported with
    // its message from the guest's standard error.
    (
        "panics the engine",
        "function subject() { return 'x'.repeat(1 << 30) }",
        &["panicked: capacity overflow"],
    ),
];

/// The hoarding rule gets time enough that its memory limit always comes
/// first (on a loaded machine filling 64 MiB can outlast the default
/// 250 ms); the others run under JavaScript's defaults.
fn limits_for(what: &str) -> Value {
    if what == "allocates without bound" {
        json!({"timeout_ms": 2000})
    } else {
        json!({})
    }
}

async fn runaway_rules_are_faults(app: TestApp, policy: &str) {
    let app = Arc::new(app);
    let hostile = app.tenant("Hostile").await;
    let bystander = app.tenant("Bystander").await;
    for (what, source, says) in RUNAWAYS {
        let r = app
            .put_pipeline(
                &hostile.admin.token,
                json!({"subject": {"plugin": "javascript", "policy": policy, "config": {"source": source},
                                   "limits": limits_for(what)}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "a rule that {what} parses: {:?}", r.body);
        let (chat, _) = app.simple_chat(&hostile).await;
        // The bystander converts while the runaway runs.
        let others = {
            let (app, b) = (app.clone(), bystander.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..3 {
                    let (chat, _) = app.simple_chat(&b).await;
                    let r = app
                        .admin_converts(&b, &chat, json!({"visitor_email": "b@example.com"}))
                        .await;
                    statuses.push((r.status, r.body["subject"].clone()));
                }
                statuses
            })
        };
        let started = Instant::now();
        let r = app
            .admin_converts(&hostile, &chat, json!({"visitor_email": "grace@example.com"}))
            .await;
        let took = started.elapsed();
        match policy {
            "reject" => assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{what}: {:?}", r.body),
            _ => {
                assert_eq!(r.status, StatusCode::CREATED, "{what}: {:?}", r.body);
                assert_eq!(
                    r.body["subject"], "Chat with Grace Hopper",
                    "the built-in rule answered"
                );
            }
        }
        let faults = app.faults(&hostile.admin.token).await;
        let fault = &faults[0];
        let reason = fault["reason"].as_str().unwrap();
        eprintln!("a rule that {what} ({policy}): {reason}; answered in {took:?}");
        assert_eq!(fault["hook"], "subject");
        assert_eq!(fault["plugin"], "javascript");
        assert!(says.iter().any(|s| reason.contains(s)), "a rule that {what}: {reason}");
        for (status, subject) in others.await.unwrap() {
            assert_eq!(status, StatusCode::CREATED, "the bystander is served");
            assert_eq!(subject, "Chat with Grace Hopper");
        }
    }
    let faults = app.faults(&hostile.admin.token).await;
    assert_eq!(faults.len(), RUNAWAYS.len());
    let outcome = if policy == "reject" { "rejected" } else { "fell_back" };
    assert!(faults.iter().all(|f| f["outcome"] == outcome), "{faults:?}");
    assert!(app.faults(&bystander.admin.token).await.is_empty());
}

async fn runaway_rules_are_faults_under_fallback_and_others_are_served(app: TestApp) {
    runaway_rules_are_faults(app, "fallback").await;
}

async fn runaway_rules_are_faults_under_reject_and_others_are_served(app: TestApp) {
    runaway_rules_are_faults(app, "reject").await;
}

/// `threadline plugin run --js`: plugins/README.md's three examples on the
/// example chat, as the server would run them (from a warm plugin cache);
/// a syntax error is reported at its line and column, and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run_locally_with_plugin_run_js() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cache = threadline_tests::warm_plugin_cache().await;
    let run = |file: &std::path::Path, hook: &str| {
        std::process::Command::new(threadline_cli())
            .args(["plugin", "run", "--js"])
            .arg(file)
            .args(["--hook", hook, "--chat"])
            .arg(root.join("plugins/examples/chats/refund.json"))
            .arg("--plugin-cache")
            .arg(cache.path())
            .output()
            .unwrap()
    };
    let examples = root.join("plugins/examples/javascript");
    for (file, hook, expected) in [
        ("subject.js", "subject", json!("[VIP] Order 4521: Ada Lovelace")),
        (
            "transcript-markdown.js",
            "transcript",
            json!(
                "## Chat with Ada Lovelace\n\n- **Ada Lovelace** (2026-11-25 11:00 CET): I was charged twice for order \
                 4521.\n- **Bob** (2026-11-25 11:01 CET): Sorry about that, let me check with billing.\n- **Bob** \
                 (2026-11-25 11:04 CET): Billing will refund the second charge within 3 days."
            ),
        ),
        ("assign-skills.js", "assignment", json!("agent-cleo")),
    ] {
        let out = run(&examples.join(file), hook);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["output"], expected, "{file}: {printed}");
        assert!(printed["fuel"].as_u64().unwrap() > 0);
    }

    let broken = cache.path().join("broken.js");
    std::fs::write(&broken, "function subject(chat) {\n  return chat.visitor.name +\n}\n").unwrap();
    let out = run(&broken, "subject");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("broken.js: line 3, column 1: SyntaxError"), "{said}");
}

/// A server started on a warm plugin cache compiles nothing (the
/// JavaScript plugin included: its pre-initialised form is what is cached),
/// and its first conversion runs a JavaScript rule. (That a server writes
/// every built-in plugin into its cache is tested in `isolation`; making
/// them cold happens in every test process, in `builtins_ready`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_warm_cache_compiles_nothing_and_runs_the_rule() {
    use threadline_tests::{Backend, ServerProcess, TestDb};
    let db = Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(db.clone()).await;
    let t = app.tenant("Acme").await;
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": rule(SUBJECT)}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cache = threadline_tests::warm_plugin_cache().await;
    let http = reqwest::Client::new();
    let env = [("RUST_LOG", "threadline=info")];
    let server = ServerProcess::start_with_env(&db.url, cache.path(), &[], &env);
    let (chat, _) = app.simple_chat(&t).await;
    let (ticket, took) = server.convert(&http, &t.admin.token, &chat).await;
    assert_eq!(ticket["subject"], "Case: Grace Hopper (1)");
    eprintln!("the first conversion after a restart on a warm cache took {took:?} (debug build)");
    // The warm-up loads the rest beside the first requests: give it a
    // moment (from the cache it takes milliseconds; making one, seconds).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // Pre-initialising is always followed by a compile, which is logged.
    assert_eq!(
        server.builtins_compiled(),
        0,
        "nothing is made: {:?}",
        server.log_lines()
    );
}

/// A server's first start on an empty plugin cache makes every built-in
/// plugin in its compile worker (`compile-worker --builtin`), the
/// JavaScript one included, without loading that one: the first rule then
/// maps it from the cache and nothing is made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_makes_the_builtins_in_its_worker_and_the_first_rule_maps_javascript() {
    use threadline_tests::{Backend, ServerProcess, TestDb};
    let db = Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(db.clone()).await;
    let t = app.tenant("Acme").await;
    let cache = tempfile::tempdir().unwrap();
    let env = [("RUST_LOG", "threadline=info")];
    let server = ServerProcess::start_with_env(&db.url, cache.path(), &[], &env);
    let all = threadline::plugins::BUILTIN.len();
    let started = Instant::now();
    while server.builtins_compiled() < all {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the built-ins were not all made: {:?}",
            server.log_lines()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let cached = std::fs::read_dir(cache.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".cwasm"))
        .count();
    assert_eq!(cached, all, "each one is in the cache");

    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": rule(SUBJECT)}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let http = reqwest::Client::new();
    let (chat, _) = app.simple_chat(&t).await;
    let (ticket, _) = server.convert(&http, &t.admin.token, &chat).await;
    assert_eq!(ticket["subject"], "Case: Grace Hopper (1)");
    let lines = server.log_lines();
    assert_eq!(server.builtins_compiled(), all, "nothing was made twice: {lines:?}");
    assert!(
        !lines.iter().any(|l| l.contains("making it here")),
        "the worker made them all: {lines:?}"
    );
}

/// Sources of 64 KiB on every hook would let a workspace keep 32 MB of
/// pipeline history (a hundred versions): history is kept by count and by
/// size, so the oldest versions go once it passes 4 MiB.
async fn the_history_of_long_rules_is_bounded_in_size(app: TestApp) {
    let t = app.tenant("Acme").await;
    let padding = format!("// {}\n", "x".repeat(997)).repeat(60);
    let functions = [
        ("subject", "subject"),
        ("transcript", "transcript"),
        ("assignment", "assign"),
        ("summary", "summary"),
        ("fields", "fields"),
    ];
    for i in 0..16 {
        let hooks: serde_json::Map<String, Value> = functions
            .iter()
            .map(|(hook, f)| {
                let source = format!("{padding}function {f}() {{ return null }} // version {i}");
                (hook.to_string(), rule(&source))
            })
            .collect();
        let r = app.put_pipeline(&t.admin.token, Value::Object(hooks)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let history = app.get("/api/v1/pipeline/history", &t.admin.token).await.body;
    let versions = history.as_array().unwrap();
    let chars: usize = versions.iter().map(|v| v["hooks"].to_string().chars().count()).sum();
    eprintln!("{} versions kept, {chars} characters", versions.len());
    assert!((10..16).contains(&versions.len()), "{}", versions.len());
    assert!(chars <= threadline::store::MAX_HISTORY_CHARS as usize, "{chars}");
    assert_eq!(versions[0]["version"], 16, "the newest is kept");
    assert!(
        versions[0]["hooks"]["subject"]["config"]["source"]
            .as_str()
            .unwrap()
            .ends_with("version 15")
    );
}

/// The console builds its rules page from the server's list of hooks (in
/// the order a conversion runs them) and each hook's first JavaScript rule;
/// every starter is a rule the server accepts, and runs.
async fn the_server_names_the_hooks_and_a_starter_rule_for_each_that_saves_and_runs(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app.get("/api/v1/pipeline/hooks", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let hooks = r.body.as_array().unwrap().clone();
    let names: Vec<&str> = hooks.iter().map(|h| h["hook"].as_str().unwrap()).collect();
    assert_eq!(names, ["subject", "transcript", "assignment", "summary", "fields"]);
    assert_eq!(hooks[2]["javascript_function"], "assign");
    let mut pipeline = serde_json::Map::new();
    for h in &hooks {
        let starter = h["javascript_starter"].as_str().unwrap();
        let function = h["javascript_function"].as_str().unwrap();
        assert!(starter.contains(&format!("function {function}(")), "{starter}");
        pipeline.insert(h["hook"].as_str().unwrap().to_owned(), rule(starter));
    }
    let r = app.put_pipeline(&t.admin.token, Value::Object(pipeline)).await;
    assert_eq!(r.status, StatusCode::OK, "every starter saves: {:?}", r.body);
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["subject"], "Chat with Grace Hopper");
    let number = r.body["number"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
    let receipt = r.body["receipt"].as_array().unwrap();
    assert_eq!(receipt.len(), 4, "{receipt:?}");
    assert!(
        receipt
            .iter()
            .all(|e| e["outcome"] == "ok" && e["plugin"] == "javascript"),
        "every hook ran its starter: {receipt:?}"
    );

    let bob = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/pipeline/hooks", &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
}

/// A rule's error is the workspace's text: in the server's log its line
/// breaks and terminal escapes are escaped, so a rule cannot forge a line
/// of the log (issue 24).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_cannot_forge_a_line_of_the_server_log() {
    use threadline_tests::{Backend, ServerProcess, TestDb};
    let db = Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(db.clone()).await;
    let t = app.tenant("Acme").await;
    let forged = "2026-12-06T03:00:00.000000Z  INFO threadline: admin signed in";
    let source = format!("function subject(chat) {{\n  throw new Error('nope\\n{forged}\\u001b[2J');\n}}");
    let r = app
        .put_pipeline(&t.admin.token, json!({"subject": rule(&source)}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cache = threadline_tests::warm_plugin_cache().await;
    let server = ServerProcess::start(&db.url, cache.path(), &[]);
    let (chat, _) = app.simple_chat(&t).await;
    let (ticket, _) = server.convert(&reqwest::Client::new(), &t.admin.token, &chat).await;
    assert_eq!(ticket["subject"], "Chat with Grace Hopper", "the fallback answered");
    // The fault is logged at warn, the server's default level here.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    let logged = loop {
        let lines = server.log_lines();
        if let Some(line) = lines.iter().find(|l| l.contains("plugin fault")) {
            break (line.clone(), lines);
        }
        assert!(Instant::now() < deadline, "no fault logged: {lines:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (line, lines) = logged;
    assert!(line.contains("nope\\n2026-12-06"), "the break is shown escaped: {line}");
    assert!(
        !line.contains("\u{1b}[2J"),
        "no terminal escape of the rule's: {line:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with(forged)),
        "no line of the log is the rule's: {lines:?}"
    );
}
