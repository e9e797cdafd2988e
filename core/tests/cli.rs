//! The `threadline` binary as a new user runs it: the README's walkthrough.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn threadline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadline"));
    cmd.current_dir(dir)
        .env_remove("THREADLINE_DATABASE_URL")
        .env("RUST_LOG", "warn");
    cmd
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("threadline runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("prints JSON")
}

/// Kills the server even when an assertion fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CREATE_ACME: [&str; 8] = [
    "tenant",
    "create",
    "--name",
    "Acme Support",
    "--admin-name",
    "Ada",
    "--admin-email",
    "ada@acme.test",
];

#[test]
fn tenant_and_agent_create_print_credentials_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = json_of(threadline(dir.path()).args(CREATE_ACME));
    assert_eq!(tenant["slug"], "acme-support");
    for key in ["tenant_id", "widget_key", "admin_agent_id", "admin_token"] {
        assert!(tenant[key].as_str().is_some_and(|s| !s.is_empty()), "{key} in {tenant}");
    }
    // The default database is a SQLite file under ./data, created on demand.
    assert!(dir.path().join("data/threadline.db").exists());

    let agent = json_of(threadline(dir.path()).args([
        "agent",
        "create",
        "--tenant",
        "acme-support",
        "--name",
        "Bob",
        "--email",
        "bob@acme.test",
    ]));
    assert_eq!(agent["admin"], false);
    assert!(agent["token"].as_str().unwrap().starts_with("tl_"));

    // A second workspace of the same name gets its own slug.
    let again = json_of(threadline(dir.path()).args(CREATE_ACME));
    assert_eq!(again["slug"], "acme-support-2");
}

#[test]
fn bad_cli_input_fails_with_a_message_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = threadline(dir.path())
        .args([
            "tenant",
            "create",
            "--name",
            "Acme",
            "--admin-name",
            "Ada",
            "--admin-email",
            "not-an-email",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin-email"));
    assert!(!dir.path().join("data").exists(), "nothing was created");

    let out = threadline(dir.path())
        .args([
            "agent",
            "create",
            "--tenant",
            "nope",
            "--name",
            "Bob",
            "--email",
            "bob@acme.test",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace with slug"));
}

/// A `threadline serve --demo` on port 0 in `dir`: the process, its base URL,
/// the printed agent token and chat id.
async fn serve_demo(dir: &std::path::Path) -> (Running, String, String, String) {
    let child = threadline(dir)
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Running(child);
    let stdout = server.0.stdout.take().unwrap();
    let printed: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("/conversion"))
            .collect()
    })
    .await
    .unwrap();
    let find = |label: &str| -> String {
        let line = printed
            .iter()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label} in {printed:#?}"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let token = find("Agent token:");
    let chat = find("A chat to convert:");
    let base = printed
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") && w.contains("/api/"))
        })
        .and_then(|u| u.split("/api/").next())
        .expect("the printed URL")
        .to_owned();
    (server, base, token, chat)
}

async fn convert(base: &str, token: &str, chat: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/chats/{chat}/conversion"))
        .bearer_auth(token)
        .json(&json!({"visitor_email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn stop(mut server: Running) {
    // SIGTERM (how a node is stopped in a deployment) ends it cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// What the README promises: `threadline serve --demo` prints a token and a
/// chat, and the printed curl commands convert it.
#[tokio::test]
async fn serve_demo_then_convert_with_the_printed_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base, token, chat) = serve_demo(dir.path()).await;
    let ticket = convert(&base, &token, &chat).await;
    assert_eq!(ticket["number"], "TK-1001");
    assert_eq!(ticket["status"], "in_progress");
    assert!(
        !ticket["description"].as_str().unwrap().contains("Billing needs a day"),
        "the demo's internal note"
    );
    tokio::task::spawn_blocking(move || stop(server)).await.unwrap();
}

/// The default plugins are compiled once; a restarted server loads the
/// compiled code from `data/plugin-cache` instead of compiling again.
#[tokio::test]
async fn a_restart_loads_compiled_plugins_from_the_cache() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("data/plugin-cache");
    let (server, base, token, chat) = serve_demo(dir.path()).await;
    convert(&base, &token, &chat).await;
    tokio::task::spawn_blocking(move || stop(server)).await.unwrap();
    let entries = || -> Vec<(String, u64)> {
        let mut e: Vec<(String, u64)> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().ino(),
                )
            })
            .collect();
        e.sort();
        e
    };
    let before = entries();
    assert_eq!(before.len(), 4, "one compiled file per default plugin: {before:?}");
    assert!(before.iter().all(|(name, _)| name.ends_with(".cwasm")));

    // A second demo workspace in the same data directory, converted by a new process.
    let (server, base, token, chat) = serve_demo(dir.path()).await;
    convert(&base, &token, &chat).await;
    tokio::task::spawn_blocking(move || stop(server)).await.unwrap();
    // Compiling again would have written new files (write, then rename).
    assert_eq!(entries(), before);
}

fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Plugin authors try a plugin on a chat file, with the server's limits,
/// and see the built-in rule's answer beside it.
#[test]
fn plugin_run_tries_a_plugin_on_a_chat_file() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::path::Path::new(env!("OUT_DIR")).join("assign_least_loaded.wasm");
    let chat = repo_file("plugins/examples/chats/refund.json");
    let out = json_of(
        threadline(dir.path())
            .args(["plugin", "run"])
            .arg(&wasm)
            .args(["--hook", "assignment", "--chat"])
            .arg(&chat)
            .args(["--config", "skill=billing"]),
    );
    assert_eq!(out["output"], "agent-cleo", "{out}");
    assert_eq!(out["builtin_output"], "agent-bob");

    let transcript = std::path::Path::new(env!("OUT_DIR")).join("transcript_plain.wasm");
    let out = json_of(
        threadline(dir.path())
            .args(["plugin", "run"])
            .arg(&transcript)
            .args(["--hook", "transcript", "--chat"])
            .arg(&chat),
    );
    assert_eq!(out["output"], out["builtin_output"]);
    let text = out["output"].as_str().unwrap();
    assert!(
        text.starts_with("[2026-11-25 10:00:00 UTC] Ada Lovelace: I was charged twice"),
        "{text}"
    );
    assert!(!text.contains("watch list"), "internal notes never reach a plugin");

    let out = json_of(threadline(dir.path()).args(["plugin", "inspect"]).arg(&wasm));
    assert_eq!(out["hooks"], json!(["assignment"]));

    // A hook the plugin does not export, and a file that is no plugin, fail clearly.
    let out = threadline(dir.path())
        .args(["plugin", "run"])
        .arg(&wasm)
        .args(["--hook", "subject", "--chat"])
        .arg(&chat)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not export the subject hook"));
    let out = threadline(dir.path())
        .args(["plugin", "inspect"])
        .arg(&chat)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would refuse it"));
}
