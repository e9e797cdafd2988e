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

/// A `threadline serve --demo` on port 0 in `dir`: the process, and what
/// it printed up to its curl examples.
async fn start_demo(dir: &std::path::Path) -> (Running, Vec<String>) {
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
async fn serve_demo(dir: &std::path::Path) -> (Running, String, String, String) {
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
    assert_eq!(out["fault"], Value::Null);
    assert!(out["fuel"].as_u64().is_some_and(|f| f > 0), "{out}");
    assert!(
        out["peak_memory_bytes"].as_u64().is_some_and(|m| m >= 64 << 10),
        "{out}"
    );

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
    // The chat file's workspace is in Paris: times on its clock.
    assert!(
        text.starts_with("[2026-11-25 11:00:00 CET] Ada Lovelace: I was charged twice"),
        "{text}"
    );
    assert!(!text.contains("watch list"), "internal notes never reach a plugin");

    // A plugin stopped by a limit: the fault as JSON, and exit status 1.
    let out = threadline(dir.path())
        .args(["plugin", "run"])
        .arg(&transcript)
        .args(["--hook", "transcript", "--fuel", "1000", "--chat"])
        .arg(&chat)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["fault"]["kind"], "fuel", "{report}");
    assert_eq!(report["output"], Value::Null);

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

/// `plugin test` runs every chat file of a folder and checks the answers
/// the files expect.
#[test]
fn plugin_test_runs_every_chat_of_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let chats = dir.path().join("chats");
    std::fs::create_dir(&chats).unwrap();
    std::fs::copy(
        repo_file("plugins/examples/chats/refund.json"),
        chats.join("a-refund.json"),
    )
    .unwrap();
    let expecting = |subject: &str| {
        json!({
            "visitor": {"name": "Grace Hopper"},
            "messages": [{"author": "visitor", "author_name": "Grace Hopper", "body": "Hello?", "sent_at": "2026-11-25T10:00:00Z"}],
            "expect": {"subject": subject},
        })
        .to_string()
    };
    std::fs::write(chats.join("b-grace.json"), expecting("Chat with Grace Hopper")).unwrap();
    let wasm = std::path::Path::new(env!("OUT_DIR")).join("subject_default.wasm");
    let test = || {
        threadline(dir.path())
            .args(["plugin", "test"])
            .arg(&wasm)
            .arg("--chats")
            .arg(&chats)
            .output()
            .unwrap()
    };
    let out = test();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            report["chats"].as_u64(),
            report["passed"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{report}"
    );
    assert_eq!(report["runs"][0]["hook"], "subject");
    assert!(report["max_fuel"].as_u64().is_some_and(|f| f > 0));

    // An answer other than the expected one, and a file that is no chat.
    std::fs::write(chats.join("b-grace.json"), expecting("Something else")).unwrap();
    std::fs::write(chats.join("c-broken.json"), "{\"visitor\": 3}").unwrap();
    let out = test();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 2, "{report}");
    let problems: Vec<&str> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["problem"].as_str())
        .collect();
    assert!(problems[0].contains("expected \"Something else\""), "{problems:?}");
    assert!(problems[1].contains("not a usable chat file"), "{problems:?}");
}

/// `plugin build` builds a plugin crate for wasm32-wasip2 and says where the
/// component is and which hooks it exports.
#[test]
fn plugin_build_builds_a_crate_and_names_its_hooks() {
    // The example was built for the server's tests already (core/build.rs):
    // the same target directory makes this build a quick no-op.
    let target = std::path::Path::new(env!("OUT_DIR"))
        .ancestors()
        .nth(4)
        .unwrap()
        .join("guests/plugins");
    let dir = tempfile::tempdir().unwrap();
    let out = threadline(dir.path())
        .args(["plugin", "build"])
        .arg(repo_file("plugins/examples/assign-least-loaded"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let built: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(built["hooks"], json!(["assignment"]));
    let wasm = built["wasm"].as_str().unwrap();
    assert!(
        wasm.ends_with("wasm32-wasip2/release/assign_least_loaded.wasm"),
        "{wasm}"
    );
    assert_eq!(
        built["size_bytes"].as_u64(),
        Some(std::fs::metadata(wasm).unwrap().len())
    );

    // A folder without a crate is told so.
    let out = threadline(dir.path()).args(["plugin", "build", "."]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Cargo.toml"));
}

/// From nothing to a plugin a server runs, in a fresh folder outside the
/// repository: `plugin new` → its own `cargo test` → `plugin build` →
/// `plugin test` → `plugin run` → `plugin install` on a running server →
/// a conversion uses it.
#[tokio::test]
async fn a_new_plugin_goes_from_scaffold_to_a_conversion() {
    let work = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = threadline(work.path());
        cmd.args(args);
        cmd
    };
    let out = json_of(&mut cli(&["plugin", "new", "vip-subject", "--hook", "subject"]));
    assert_eq!(out["hook"], "subject");
    let crate_dir = work.path().join("vip-subject");
    let source = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
    assert!(
        !source.contains("wit_bindgen") && !source.contains("generate!"),
        "{source}"
    );
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains(env!("CARGO_MANIFEST_DIR")) && !manifest.contains("../"),
        "{manifest}"
    );
    // The logic is one short function: the trait's one method.
    let body: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.contains("fn default_subject"))
        .take_while(|l| l.trim() != "}")
        .collect();
    assert!(body.len() <= 4, "{body:#?}");

    // Target folders of their own, kept between runs of the suite.
    let target = std::path::Path::new(env!("OUT_DIR"))
        .ancestors()
        .nth(4)
        .unwrap()
        .join("guests");
    let status = Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", target.join("scaffold-host"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the new crate's own tests pass natively");
    let built = json_of(cli(&["plugin", "build", "vip-subject"]).env("CARGO_TARGET_DIR", target.join("scaffold")));
    assert_eq!(built["hooks"], json!(["subject"]));
    let wasm = built["wasm"].as_str().unwrap().to_owned();

    let tested = json_of(&mut cli(&["plugin", "test", &wasm, "--chats", "vip-subject/chats"]));
    assert_eq!(
        (tested["passed"].as_u64(), tested["failed"].as_u64()),
        (Some(1), Some(0)),
        "{tested}"
    );
    let ran = json_of(&mut cli(&[
        "plugin",
        "run",
        &wasm,
        "--hook",
        "subject",
        "--chat",
        "vip-subject/chats/sample.json",
        "--config",
        "prefix=[VIP]",
    ]));
    assert_eq!(ran["output"], "[VIP] Refund for order 4521", "{ran}");

    let server_dir = tempfile::tempdir().unwrap();
    let (server, base, token, chat) = serve_demo(server_dir.path()).await;
    let installed = json_of(&mut cli(&[
        "plugin",
        "install",
        &wasm,
        "--server",
        &base,
        "--token",
        &token,
        "--hook",
        "subject",
        "--config",
        "prefix=[VIP]",
    ]));
    assert_eq!(installed["plugin"]["hooks"], json!(["subject"]));
    let ticket = convert(&base, &token, &chat).await;
    assert_eq!(ticket["subject"], "[VIP] Refund for order #4521");
    tokio::task::spawn_blocking(move || stop(server)).await.unwrap();
}

/// `plugin new --sdk-path` depends on a checkout's SDK instead of copying
/// it: nothing is vendored, and the crate's own tests pass against it. A
/// folder that is not the SDK is refused and writes nothing.
#[test]
fn a_new_plugin_can_depend_on_the_sdk_in_a_checkout() {
    let work = tempfile::tempdir().unwrap();
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
    let out = threadline(work.path())
        .args(["plugin", "new", "tagger", "--hook", "fields", "--sdk-path"])
        .arg(&sdk)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let crate_dir = work.path().join("tagger");
    assert!(!crate_dir.join("vendor").exists(), "nothing is copied");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let sdk = sdk.canonicalize().unwrap();
    assert!(
        manifest.contains(&format!(
            "threadline-plugin-sdk = {{ path = {:?} }}",
            sdk.display().to_string()
        )),
        "{manifest}"
    );
    // The same target folder as the vendored crate's test: the SDK's
    // dependencies are built once.
    let target = std::path::Path::new(env!("OUT_DIR"))
        .ancestors()
        .nth(4)
        .unwrap()
        .join("guests/scaffold-host");
    let status = Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the crate's own tests pass against the checkout's SDK"
    );

    let out = threadline(work.path())
        .args(["plugin", "new", "nowhere", "--hook", "subject", "--sdk-path"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no Cargo.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!work.path().join("nowhere").exists());
}
