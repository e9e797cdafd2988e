//! Convert-chat-to-ticket over HTTP, measured: the real server on loopback,
//! a fresh database per backend. Prints numbers; asserts nothing about time
//! (a busy machine would make such a test flaky).
//!
//! cargo bench -p threadline-tests --bench conversion

use std::time::Instant;

use futures::StreamExt;
use threadline_tests::bench::{convert, make_chats, ms, pct};
use threadline_tests::{Backend, TestApp, TestDb};

const SEQUENTIAL: usize = 200;
const CONCURRENT: usize = 400;
const IN_FLIGHT: usize = 16;
/// Public messages per ordinary chat (plus one internal note).
const MESSAGES: usize = 20;
const BIG_CHAT: usize = 1000;
/// Big chats converted, one at a time: the median is reported.
const BIG_CHATS: usize = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("convert chat to ticket over HTTP (loopback), {MESSAGES} messages a chat");
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>14} {:>28}",
        "backend", "p50", "p95", "p99", "max", "conv/s (x16)", "1000-msg chat, p50 (max)"
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else {
            println!("{backend:?}: SKIPPED (database not reachable)");
            continue;
        };
        let app = TestApp::spawn(db).await;
        let t = app.tenant("Bench").await;

        let chats = make_chats(&app, &t, SEQUENTIAL + CONCURRENT, MESSAGES).await;
        let (sequential, concurrent) = chats.split_at(SEQUENTIAL);

        let mut latencies = Vec::with_capacity(SEQUENTIAL);
        for chat in sequential {
            let started = Instant::now();
            convert(&app, &t, chat).await;
            latencies.push(started.elapsed());
        }
        latencies.sort();

        let started = Instant::now();
        futures::stream::iter(concurrent)
            .map(|chat| convert(&app, &t, chat))
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        let throughput = CONCURRENT as f64 / started.elapsed().as_secs_f64();

        let big = make_chats(&app, &t, BIG_CHATS, BIG_CHAT).await;
        let mut big_latencies = Vec::with_capacity(BIG_CHATS);
        for chat in &big {
            let started = Instant::now();
            convert(&app, &t, chat).await;
            big_latencies.push(started.elapsed());
        }
        big_latencies.sort();

        println!(
            "{:<10} {:>9} {:>9} {:>9} {:>9} {:>14.0} {:>28}",
            format!("{backend:?}"),
            ms(pct(&latencies, 50)),
            ms(pct(&latencies, 95)),
            ms(pct(&latencies, 99)),
            ms(*latencies.last().unwrap()),
            throughput,
            format!(
                "{} (max {})",
                ms(pct(&big_latencies, 50)),
                ms(*big_latencies.last().unwrap())
            ),
        );
    }
    println!("peak RSS of this process (server + client): {}", peak_rss());
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
