//! What usage metering costs a conversion, measured directly rather than
//! as the difference of two noisy conversion runs: the counting a
//! conversion does on its request path, and the flush every node runs
//! every 2 s, shared by the conversions of those 2 s. Prints numbers;
//! asserts nothing about time.
//!
//! cargo bench -p threadline-tests --bench metering
//!
//! A conversion counts 5 times (the conversion, and a plugin call for
//! each of its 4 hooks); a chat's messages count once each when they are
//! written, not at conversion. `THREADLINE_BENCH_CONVERSION_US` is the CPU
//! of one conversion to compare with (default 1,700 µs: the conversion
//! bench's SQLite figure, README "Measuring").

use std::time::{Duration, Instant};

use threadline::store::{Meter, Store};
use threadline_tests::{Backend, TestDb};

/// Counts one conversion makes on its request path.
const COUNTS_PER_CONVERSION: f64 = 5.0;
/// Workspaces counting at once (each its own map entry).
const WORKSPACES: usize = 1_000;
const CALLS: usize = 2_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let conversion_us: f64 = std::env::var("THREADLINE_BENCH_CONVERSION_US")
        .ok()
        .map(|v| v.parse().expect("microseconds"))
        .unwrap_or(1_700.0);
    let tenants: Vec<String> = (0..WORKSPACES).map(|i| format!("{:036}", i)).collect();

    // Counting: one thread, then two at once on one meter (contention on
    // its lock, as a node's request threads have).
    let meter = Meter::default();
    let one = count_for(&meter, &tenants, CALLS);
    let per_count_ns = one.as_nanos() as f64 / CALLS as f64;
    let two = {
        let (a, b) = (meter.clone(), meter.clone());
        let (ta, tb) = (tenants.clone(), tenants.clone());
        let start = Instant::now();
        let h1 = std::thread::spawn(move || count_for(&a, &ta, CALLS));
        let h2 = std::thread::spawn(move || count_for(&b, &tb, CALLS));
        h1.join().unwrap();
        h2.join().unwrap();
        start.elapsed()
    };
    let contended_ns = two.as_nanos() as f64 / CALLS as f64;
    println!(
        "counting: {per_count_ns:.0} ns a count on one thread, {contended_ns:.0} ns with two threads counting at once"
    );

    // Flushing: the counts of 2 s of conversions over many workspaces, in
    // one transaction, on each database.
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else {
            continue;
        };
        let store = Store::connect(&db.url).await.expect("database");
        let mut flushes = Vec::new();
        for round in 0..20 {
            for (i, t) in tenants
                .iter()
                .enumerate()
                .take(if round % 2 == 0 { WORKSPACES } else { 100 })
            {
                store.meter().count(t, |u| {
                    u.conversions += 1;
                    u.plugin_calls += 4;
                    u.plugin_fuel += 40_000;
                    u.stored_bytes += i as i64;
                });
            }
            let start = Instant::now();
            store.flush_usage().await.expect("flush");
            flushes.push((round % 2 == 0, start.elapsed()));
        }
        let mean = |big: bool| {
            let picked: Vec<Duration> = flushes.iter().filter(|(b, _)| *b == big).map(|(_, d)| *d).collect();
            picked.iter().sum::<Duration>() / picked.len() as u32
        };
        let (big, small) = (mean(true), mean(false));
        println!(
            "flush on {backend:?}: {:.1} ms for {WORKSPACES} workspaces, {:.1} ms for 100 (wall time, one transaction)",
            big.as_secs_f64() * 1e3,
            small.as_secs_f64() * 1e3
        );
        // At 500 conversions/s (about the conversion bench's 8-client rate)
        // a flush serves 1,000 conversions; fewer conversions, fewer
        // workspaces in it.
        let per_conversion_us = big.as_secs_f64() * 1e6 / 1_000.0;
        let counting_us = COUNTS_PER_CONVERSION * contended_ns / 1_000.0;
        let total = counting_us + per_conversion_us;
        println!(
            "  per conversion: counting {counting_us:.2} µs + its share of the flush {per_conversion_us:.2} µs \
             = {total:.2} µs, {:.2}% of a {conversion_us:.0} µs conversion",
            total / conversion_us * 100.0
        );
    }
}

fn count_for(meter: &Meter, tenants: &[String], calls: usize) -> Duration {
    let start = Instant::now();
    for i in 0..calls {
        meter.count(&tenants[i % tenants.len()], |u| {
            u.plugin_calls += 1;
            u.plugin_fuel += 10_000;
        });
    }
    start.elapsed()
}
