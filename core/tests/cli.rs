//! The `threadline` binary as a new user runs it: the README's walkthrough
//! (workspaces, agents, the demo, the configuration reference). The plugin
//! author's commands are in `plugin_cli.rs`.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::{Value, json};

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

/// The demo prints a workspace, email and password that sign in.
#[tokio::test]
async fn the_demo_prints_credentials_that_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let (server, printed) = start_demo(dir.path()).await;
    let field = |label: &str| -> String {
        let line = printed.iter().find(|l| l.trim_start().starts_with(label)).unwrap();
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let base = printed
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://") && w.ends_with("/console"))
        })
        .expect("the console's URL")
        .trim_end_matches("/console")
        .to_owned();
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/sign-in"))
        .json(&json!({
            "workspace": field("Workspace:"),
            "email": field("Email:"),
            "password": field("Password:"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert!(session["token"].as_str().unwrap().starts_with("tls_"));
    tokio::task::spawn_blocking(move || stop(server)).await.unwrap();
}

/// Passwords come on standard input (never as an argument, where `ps` and
/// shell history would show them), are checked, and are stored hashed.
#[tokio::test]
async fn passwords_are_read_from_standard_input_and_stored_hashed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let with_stdin = |args: &[&str], input: &str| {
        let mut child = threadline(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let mut create: Vec<&str> = CREATE_ACME.to_vec();
    create.push("--admin-password-stdin");
    let out = with_stdin(&create, "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    assert!(!dir.path().join("data").exists(), "nothing was created");

    let out = with_stdin(&create, "admin passphrase one\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = with_stdin(
        &[
            "agent",
            "create",
            "--tenant",
            "acme-support",
            "--name",
            "Bob",
            "--email",
            "bob@acme.test",
            "--password-stdin",
        ],
        "bob's passphrase\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let url = format!("sqlite://{}/data/threadline.db?mode=rwc", dir.path().display());
    let store = threadline::store::Store::connect(&url).await.unwrap();
    let stored = |email: &'static str| {
        let store = store.clone();
        async move {
            store
                .account("acme-support", email)
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .unwrap()
        }
    };
    let ada = stored("ada@acme.test").await;
    assert!(ada.starts_with("$argon2id$") && !ada.contains("passphrase"), "{ada}");
    assert!(threadline::domain::password::verify(&ada, "admin passphrase one"));
    assert!(threadline::domain::password::verify(
        &stored("bob@acme.test").await,
        "bob's passphrase"
    ));

    // A forgotten password is reset by an operator.
    let out = with_stdin(
        &[
            "agent",
            "set-password",
            "--tenant",
            "acme-support",
            "--email",
            "Bob@Acme.test",
        ],
        "bob's new passphrase\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob = stored("bob@acme.test").await;
    assert!(threadline::domain::password::verify(&bob, "bob's new passphrase"));
    assert!(!threadline::domain::password::verify(&bob, "bob's passphrase"));
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

/// The README's configuration reference lists every flag of `serve` with
/// its environment variable, and nothing `serve` does not take.
#[test]
fn the_configuration_reference_lists_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let help = threadline(dir.path()).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let reference = readme
        .split("### Configuration reference")
        .nth(1)
        .expect("a configuration reference in the README");
    let reference = reference.split("\n\n#").next().unwrap();
    // Each option of --help: its line, then its description lines.
    let mut blocks: Vec<String> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") || trimmed.starts_with("-h,") {
            blocks.push(trimmed.to_owned());
        } else if let Some(block) = blocks.last_mut() {
            block.push(' ');
            block.push_str(trimmed);
        }
    }
    let mut flags = Vec::new();
    for block in blocks.iter().filter(|b| b.starts_with("--")) {
        let flag = block.split(' ').next().unwrap();
        let env = block
            .split("[env: ")
            .nth(1)
            .map(|rest| rest.split('=').next().unwrap().to_owned());
        let row = match &env {
            Some(env) => format!("| `{flag}` | `{env}` |"),
            None => format!("| `{flag}` | |"),
        };
        assert!(reference.contains(&row), "the reference lacks the row {row}");
        flags.push(flag.to_owned());
    }
    assert!(flags.len() > 20, "read the flags from --help: {flags:?}");
    for listed in reference.lines().filter_map(|l| l.strip_prefix("| `--")) {
        let flag = format!("--{}", listed.split('`').next().unwrap());
        assert!(
            flags.contains(&flag),
            "the reference lists {flag}, which serve does not take"
        );
    }
}
