//! The plugin author's commands as an author runs them: `plugin run`,
//! `test`, `build` and `new`, from a new crate to a conversion.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

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

/// One HTTP answer on loopback, as a model endpoint gives it: it reads one
/// request (headers and a `Content-Length` body) and answers `body`.
/// Returns its `host:port` and the request's body, once it came.
fn one_answer(body: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut request = vec![0; length];
        reader.read_exact(&mut request).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        tx.send(String::from_utf8(request).unwrap()).unwrap();
    });
    (host, rx)
}

/// A plugin that calls out is tried locally against a mock of its API: the
/// hosts named with `--allow-host`, and none without.
#[test]
fn plugin_run_lets_a_plugin_call_the_hosts_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::path::Path::new(env!("OUT_DIR")).join("summary_llm.wasm");
    let chat = repo_file("plugins/examples/chats/refund.json");
    let (host, asked) = one_answer(r#"{"choices": [{"message": {"role": "assistant", "content": "Refund asked."}}]}"#);
    let url = format!("url=http://{host}/v1/chat/completions");
    let run = |allow: Option<&str>| {
        let mut cmd = threadline(dir.path());
        cmd.args(["plugin", "run"])
            .arg(&wasm)
            .args(["--hook", "summary", "--timeout-ms", "2000", "--chat"])
            .arg(&chat)
            .args(["--config", &url]);
        if let Some(host) = allow {
            cmd.args(["--allow-host", host]);
        }
        json_of(&mut cmd)
    };
    let out = run(Some(&host));
    assert_eq!(out["output"], "Refund asked.", "{out}");
    let request: Value = serde_json::from_str(&asked.recv().unwrap()).unwrap();
    assert!(
        request["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("I was charged twice")
    );
    // Not given the host: refused, and the plugin falls back to the
    // extractive summary, as on a server.
    let out = run(None);
    assert_eq!(out["output"], out["builtin_output"], "{out}");
    assert_eq!(out["fault"], Value::Null);
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
