//! One workspace's plugins against another's latency. Workspace A keeps 16
//! conversions in flight whose subject plugin spins forever at the largest
//! limits an admin may set (2 s, 20 billion fuel; `fallback`), while
//! workspace B converts 20-message chats one after another with the default
//! pipeline. Reports B's latency alone and beside A, from the same run,
//! and the database connections open after each phase (A's burst grows
//! the pool; see `core/src/store/warm.rs`). Prints numbers; asserts
//! nothing about time.
//!
//! cargo bench -p threadline-tests --bench isolation

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use threadline_tests::bench::{convert, latencies, make_chats, ms, pct};
use threadline_tests::{Backend, TestApp, TestDb, wasm};

/// B's conversions per phase.
const B_RUNS: usize = 300;
const A_IN_FLIGHT: usize = 16;
const MESSAGES: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let slots = threadline_tests::plugin_settings().slots;
    println!(
        "B converts alone, then while A keeps {A_IN_FLIGHT} spinning conversions in flight \
         (plugin slots: {} per workspace, {} in all, queue timeout {:?})",
        slots.per_workspace, slots.total, slots.queue_timeout
    );
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>14} {:>10} {:>12} {:>12}",
        "backend", "alone p50", "alone p99", "beside A p50", "beside A p99", "p99 ratio", "A done", "connections"
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else {
            println!("{backend:?}: SKIPPED (database not reachable)");
            continue;
        };
        let app = Arc::new(TestApp::spawn(db).await);
        let a = app.tenant("Hostile").await;
        let b = app.tenant("Bystander").await;
        let id = app.install_plugin(&a.admin.token, "spin", wasm::LOOP_FOREVER).await;
        app.set_pipeline(
            &a.admin.token,
            json!({"subject": {"plugin": id, "policy": "fallback",
                               "limits": {"fuel": 20_000_000_000u64, "timeout_ms": 2000}}}),
        )
        .await;

        let b_chats = make_chats(&app, &b, 2 * B_RUNS + 20, MESSAGES).await;
        let a_chats = Arc::new(make_chats(&app, &a, 400, MESSAGES).await);
        let (warm, rest) = b_chats.split_at(20);
        for chat in warm {
            convert(&app, &b, chat).await;
        }
        let (alone_chats, beside_chats) = rest.split_at(B_RUNS);
        let alone = latencies(&app, &b, alone_chats).await;
        let open_alone = app.store.pool_use()[0].1;

        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let flood: Vec<_> = (0..A_IN_FLIGHT)
            .map(|_| {
                let (app, a, chats) = (app.clone(), a.clone(), a_chats.clone());
                let (stop, next, done) = (stop.clone(), next.clone(), done.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let Some(chat) = chats.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return;
                        };
                        convert(&app, &a, chat).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Let A's calls take their slot and queue.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let beside = latencies(&app, &b, beside_chats).await;
        let open_beside = app.store.pool_use()[0].1;
        stop.store(true, Ordering::Relaxed);
        for f in flood {
            f.await.unwrap();
        }
        println!(
            "{:<10} {:>12} {:>12} {:>14} {:>14} {:>9.1}x {:>12} {:>12}",
            format!("{backend:?}"),
            ms(pct(&alone, 50)),
            ms(pct(&alone, 99)),
            ms(pct(&beside, 50)),
            ms(pct(&beside, 99)),
            pct(&beside, 99).as_secs_f64() / pct(&alone, 99).as_secs_f64(),
            done.load(Ordering::Relaxed),
            format!("{open_alone} → {open_beside}"),
        );
    }
}
