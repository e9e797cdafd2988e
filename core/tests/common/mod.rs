//! What the tests of the `threadline` binary share: running it, reading
//! its JSON, and a demo server to talk to. Each test binary uses a part of
//! it, so the rest is dead code there.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub fn threadline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadline"));
    cmd.current_dir(dir)
        .env_remove("THREADLINE_DATABASE_URL")
        .env("RUST_LOG", "warn");
    cmd
}

pub fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("threadline runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("prints JSON")
}

/// Kills the server even when an assertion fails.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub const CREATE_ACME: [&str; 8] = [
    "tenant",
    "create",
    "--name",
    "Acme Support",
    "--admin-name",
    "Ada",
    "--admin-email",
    "ada@acme.test",
];

/// A `threadline serve --demo` on port 0 in `dir`: the process, and what
/// it printed up to its curl examples.
pub async fn start_demo(dir: &std::path::Path) -> (Running, Vec<String>) {
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
    (server, printed)
}

/// A `threadline serve --demo` on port 0 in `dir`: the process, its base URL,
/// the printed API token and chat id.
pub async fn serve_demo(dir: &std::path::Path) -> (Running, String, String, String) {
    let (server, printed) = start_demo(dir).await;
    let find = |label: &str| -> String {
        let line = printed
            .iter()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label} in {printed:#?}"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let token = find("API token:");
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

pub async fn convert(base: &str, token: &str, chat: &str) -> Value {
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

pub fn stop(mut server: Running) {
    // SIGTERM (how a node is stopped in a deployment) ends it cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

pub fn repo_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}
