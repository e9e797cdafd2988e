//! Retention beside conversions: a workspace converts chats one after
//! another, alone and then while the retention job deletes a year of its
//! closed chats (20 messages each) and tickets in batches (the server's
//! defaults). Reports the
//! conversions' latency in both phases, from the same run, and how much
//! the job deleted meanwhile. Prints numbers; asserts nothing about time.
//!
//! cargo bench -p threadline-tests --bench retention

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use threadline::retention::RetentionSettings;
use threadline::store::RetentionRun;
use threadline_tests::bench::{convert, latencies, make_chats, ms, pct};
use threadline_tests::{Backend, TestApp, TestDb, seed, sql};

/// Conversions per phase.
const RUNS: usize = 300;
/// Closed chats (with messages) and tickets past their age.
const OLD_CHATS: usize = 10_000;
const OLD_HISTORY: usize = 10_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "conversions alone, then while the retention job deletes {OLD_CHATS} closed chats of 20 messages \
         and {OLD_HISTORY} chats and tickets of a year (the server's batches and pauses)"
    );
    println!(
        "{:<10} {:>11} {:>11} {:>13} {:>13} {:>10} {:>22}",
        "backend", "alone p50", "alone p99", "beside p50", "beside p99", "p99 ratio", "deleted (job's time)"
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else {
            println!("{backend:?}: SKIPPED (database not reachable)");
            continue;
        };
        let app = Arc::new(TestApp::spawn(db).await);
        let t = app.tenant("Acme").await;
        let conn = sea_orm::Database::connect(&app.db.url).await.unwrap();
        let ids = seed::chats(&conn, &t.id, (&t.admin.id, "Ada"), OLD_CHATS, 20, 60).await;
        let long_ago = Utc::now() - chrono::Duration::days(400);
        for chunk in ids.chunks(500) {
            let list = chunk.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
            sql::exec(
                &conn,
                &format!("UPDATE chats SET status = 'closed', closed_at = $1 WHERE id IN ({list})"),
                vec![long_ago.into()],
            )
            .await;
        }
        seed::history(&conn, &t.id, std::slice::from_ref(&t.admin.id), OLD_HISTORY, 365).await;

        let chats = make_chats(&app, &t, 2 * RUNS + 20, 20).await;
        let (warm, rest) = chats.split_at(20);
        for chat in warm {
            convert(&app, &t, chat).await;
        }
        let (alone_chats, beside_chats) = rest.split_at(RUNS);
        let alone = latencies(&app, &t, alone_chats).await;

        let r = app
            .settings(
                &t,
                json!({"retention": {"closed_chats_days": 30, "closed_tickets_days": 30}}),
            )
            .await;
        assert!(r.status.is_success(), "{:?}", r.body);
        let store = app.store.clone();
        let job = tokio::spawn(async move {
            let started = Instant::now();
            let defaults = RetentionSettings::default();
            let run = RetentionRun {
                batch: defaults.batch,
                pause: defaults.pause,
                audit_days: None,
            };
            let done = store.run_retention(run).await.expect("retention runs");
            (done, started.elapsed())
        });
        let beside = latencies(&app, &t, beside_chats).await;
        let (done, took) = job.await.unwrap();
        println!(
            "{:<10} {:>11} {:>11} {:>13} {:>13} {:>9.1}x {:>22}",
            format!("{backend:?}"),
            ms(pct(&alone, 50)),
            ms(pct(&alone, 99)),
            ms(pct(&beside, 50)),
            ms(pct(&beside, 99)),
            pct(&beside, 99).as_secs_f64() / pct(&alone, 99).as_secs_f64(),
            format!("{}+{} ({:.1} s)", done.chats, done.tickets, took.as_secs_f64()),
        );
    }
}
