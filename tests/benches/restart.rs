//! The first conversion with a JavaScript rule after a restart, on a warm
//! plugin cache: a real server process (SQLite) is started on a cache a
//! first process filled, and converts a chat whose subject hook runs a
//! JavaScript rule as its first request. Also how long the cold start took
//! to make the plugin. Prints figures; asserts nothing about time.
//!
//! cargo bench -p threadline-tests --bench restart

use std::time::{Duration, Instant};

use serde_json::json;
use threadline_tests::{Backend, ServerProcess, TestApp, TestDb};

const RESTARTS: usize = 7;

#[tokio::main]
async fn main() {
    let db = std::sync::Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::spawn_on(db.clone()).await;
    let t = app.tenant("Bench").await;
    let cache = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let env = [("RUST_LOG", "threadline=info")];
    let rule = "function subject(chat) { return 'Case: ' + chat.visitor.name }";

    let started = Instant::now();
    let mut server = ServerProcess::start_with_env(&db.url, cache.path(), &[], &env);
    let r = http
        .put(format!("{}/api/v1/pipeline", server.base))
        .bearer_auth(&t.admin.token)
        .json(&json!({"hooks": {"subject": {"plugin": "javascript", "config": {"source": rule}}}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    println!(
        "cold cache: the first save of a JavaScript rule answered after {:?} (pre-initialise and compile)",
        started.elapsed()
    );
    // Let the first process finish caching every built-in plugin.
    while server.builtins_compiled() < 5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate();
    server.exited_within(Duration::from_secs(10)).unwrap();

    let mut firsts = Vec::new();
    for _ in 0..RESTARTS {
        let (chat, _) = app.simple_chat(&t).await;
        let mut server = ServerProcess::start_with_env(&db.url, cache.path(), &[], &env);
        let (ticket, took) = server.convert(&http, &t.admin.token, &chat).await;
        assert_eq!(ticket["subject"], "Case: Grace Hopper");
        assert_eq!(server.builtins_compiled(), 0, "a warm start compiles nothing");
        firsts.push(took);
        server.terminate();
        server.exited_within(Duration::from_secs(10)).unwrap();
    }
    firsts.sort();
    println!(
        "warm cache, {RESTARTS} restarts: the first conversion (JavaScript subject rule) took p50 {:?}, min {:?}, max {:?}",
        firsts[RESTARTS / 2],
        firsts[0],
        firsts[RESTARTS - 1]
    );
}
