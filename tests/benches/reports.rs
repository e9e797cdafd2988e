//! Reports over a workspace with a year of history: 100,000 chats and
//! 100,000 tickets (seven in ten converted from a chat), 30,000 ratings,
//! on SQLite and PostgreSQL. Each report is asked for over HTTP (loopback)
//! for the default range (the last 30 days, about 8,200 of each) and for
//! the longest (366 days: all of them). Prints p50 and p99 of 30 requests
//! each; asserts nothing about time.
//!
//! cargo bench -p threadline-tests --bench reports
//!
//! `THREADLINE_BENCH_TICKETS=10000` seeds another count,
//! `THREADLINE_BENCH_BACKEND=sqlite` (or `postgres`) runs one backend.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use threadline_tests::bench::{ms, pct};
use threadline_tests::{Backend, TestApp, TestDb, seed};

const RUNS: usize = 30;
const REPORTS: [&str; 5] = ["conversations", "first-response", "resolution", "sla", "ratings"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = std::env::var("THREADLINE_BENCH_TICKETS")
        .ok()
        .map(|v| v.trim().parse().expect("a ticket count"))
        .unwrap_or(100_000);
    let only = std::env::var("THREADLINE_BENCH_BACKEND").ok();
    println!("reports over HTTP (loopback), {count} chats and {count} tickets over 365 days; {RUNS} requests each");
    println!(
        "{:<10} {:<16} | {:>10} {:>10} | {:>10} {:>10}",
        "backend", "report", "30d p50", "30d p99", "366d p50", "366d p99"
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if only
            .as_deref()
            .is_some_and(|b| !format!("{backend:?}").eq_ignore_ascii_case(b))
        {
            continue;
        }
        let Some(db) = TestDb::create(backend).await else {
            println!("{backend:?}: SKIPPED (database not reachable)");
            continue;
        };
        let app = TestApp::spawn(db).await;
        let t = app.tenant("Acme").await;
        let mut agents = vec![t.admin.id.clone()];
        for i in 0..4 {
            agents.push(app.agent(&t, &format!("Agent {i}")).await.id);
        }
        let conn = sea_orm::Database::connect(&app.db.url).await.unwrap();
        let seeding = Instant::now();
        seed::history(&conn, &t.id, &agents, count, 365).await;
        eprintln!("{backend:?}: seeded in {:.1} s", seeding.elapsed().as_secs_f64());
        let today = chrono::Utc::now().date_naive();
        let year_ago = today - chrono::Duration::days(365);
        for report in REPORTS {
            let mut cells = Vec::new();
            for query in [String::new(), format!("?from={year_ago}&to={today}")] {
                let path = format!("/api/v1/reports/{report}{query}");
                // One warm-up, then the runs.
                let r = app.get(&path, &t.admin.token).await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
                let mut took: Vec<Duration> = Vec::with_capacity(RUNS);
                for _ in 0..RUNS {
                    let started = Instant::now();
                    let r = app.get(&path, &t.admin.token).await;
                    took.push(started.elapsed());
                    assert_eq!(r.status, StatusCode::OK);
                }
                took.sort();
                cells.push((pct(&took, 50), pct(&took, 99)));
            }
            println!(
                "{:<10} {:<16} | {:>10} {:>10} | {:>10} {:>10}",
                format!("{backend:?}"),
                report,
                ms(cells[0].0),
                ms(cells[0].1),
                ms(cells[1].0),
                ms(cells[1].1)
            );
        }
    }
}
