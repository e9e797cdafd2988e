//! What a server process holds in memory (RSS, from `/proc`): started, after
//! one conversion with the default pipeline, after the conversion bench's
//! load, across 100 calls of a plugin that grows to 64 MiB, and after a
//! workspace's first JavaScript rule. A real `threadline serve` on SQLite,
//! its plugin cache already filled (as a deployment's disk is after its
//! first start). Prints the figures beside issue 31's targets; asserts
//! nothing about them.
//!
//! cargo bench -p threadline-tests --bench memory

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::bench::{Api, Workspace};
use threadline_tests::{Backend, ServerProcess, TestDb, seed, wasm};

/// The conversion bench's load: warm-up and 8 clients.
const CONVERSIONS: usize = 64 + 300 + 1_000;
const CLIENTS: usize = 8;
/// Calls of the plugin that grows to its memory cap.
const GROWING_CALLS: usize = 100;
const MIB: u64 = 1 << 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    first_start(&db).await;
    let cache = threadline_tests::warm_plugin_cache().await;
    let server = ServerProcess::start(&db.url, cache.path(), &[]);
    let rss = || server.rss() / MIB;
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        samples.push(rss());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "started: {} MiB after 1 s, {} MiB after 5 s (peak {} MiB)",
        samples[4],
        samples.last().unwrap(),
        samples.iter().max().unwrap()
    );

    let ws = Workspace::create(&db.url).await;
    let count = CONVERSIONS + 2 + GROWING_CALLS;
    let chats = seed::chats(&ws.conn, &ws.tenant_id, ws.agent_ref(), count, 20, 235).await;
    let api = Api::new(&server.base, &ws.admin.token);

    api.convert(&chats[0]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("one conversion (default pipeline): {} MiB (target <= 80 MB)", rss());

    let started = Instant::now();
    futures::stream::iter(&chats[1..=CONVERSIONS])
        .map(|chat| api.convert(chat))
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "after {CONVERSIONS} more conversions ({CLIENTS} clients, {:.0}/s): {} MiB (target <= 150 MB)",
        CONVERSIONS as f64 / took.as_secs_f64(),
        rss()
    );

    let before_js = rss();
    let rule = "function subject(chat) { return 'Case: ' + chat.visitor.name }";
    api.set_pipeline(json!({"hooks": {"subject": {"plugin": "javascript", "config": {"source": rule}}}}))
        .await;
    api.convert(&chats[CONVERSIONS + 1]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_js = rss();
    println!(
        "after the workspace's first JavaScript rule: {with_js} MiB ({:+} MiB)",
        with_js as i64 - before_js as i64
    );

    // A subject rule that allocates until its 64 MiB cap stops it, asked
    // for by the conversion form's prefill: each call faults, falls back,
    // and its memory should go back.
    let r = api
        .request(reqwest::Method::POST, "/api/v1/plugins?name=alloc")
        .body(wasm::ALLOC_UNBOUNDED)
        .header("content-type", "application/wasm")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let limits = json!({"memory_bytes": 64 * MIB, "fuel": 2_000_000_000u64, "timeout_ms": 2000});
    api.set_pipeline(json!({"hooks": {"subject": {"plugin": id, "limits": limits}}}))
        .await;
    let range = CONVERSIONS + 2..CONVERSIONS + 2 + GROWING_CALLS;
    let before = rss();
    futures::stream::iter(&chats[range.clone()])
        .map(|chat| prefill(&api, chat))
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss();
    println!(
        "{GROWING_CALLS} calls of a plugin growing to 64 MiB ({CLIENTS} at a time): {before} -> {after} MiB \
         ({:+} MiB; target: within 32 MiB)",
        after as i64 - before as i64
    );

    println!(
        "peak (VmHWM): {} MiB",
        threadline_tests::peak_rss_bytes(server.pid()) / MIB
    );
}

/// The conversion form's prefill of `chat`: it runs the subject hook.
async fn prefill(api: &Api, chat: &str) {
    let (status, body) = api
        .send(reqwest::Method::GET, &format!("/api/v1/chats/{chat}/conversion"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A server's first start, on an empty plugin cache: it makes every
/// built-in plugin (the JavaScript one pre-initialised) before it is idle.
async fn first_start(db: &TestDb) {
    let cache = tempfile::tempdir().unwrap();
    let env = [("RUST_LOG", "threadline=info")];
    let server = ServerProcess::start_with_env(&db.url, cache.path(), &[], &env);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_one = server.rss() / MIB;
    while server.builtins_compiled() < threadline::plugins::BUILTIN.len()
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "first start (empty plugin cache): {at_one} MiB after 1 s; {} built-in plugins made in {made:.1?}, then {} MiB \
         (peak {} MiB)",
        server.builtins_compiled(),
        server.rss() / MIB,
        threadline_tests::peak_rss_bytes(server.pid()) / MIB
    );
}
