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

/// What the README promises: `threadline serve --demo` prints a token and a
/// chat, and the printed curl commands convert it.
#[tokio::test]
async fn serve_demo_then_convert_with_the_printed_commands() {
    let dir = tempfile::tempdir().unwrap();
    let child = threadline(dir.path())
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
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .and_then(|u| u.split("/api/").next())
        .expect("the printed URL")
        .to_owned();

    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/chats/{chat}/conversion"))
        .bearer_auth(&token)
        .json(&json!({"visitor_email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let ticket: Value = res.json().await.unwrap();
    assert_eq!(ticket["number"], "TK-1001");
    assert_eq!(ticket["status"], "in_progress");
    assert!(
        !ticket["description"].as_str().unwrap().contains("Billing needs a day"),
        "the demo's internal note"
    );

    // SIGTERM (how a node is stopped in a deployment) ends it cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || server.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
