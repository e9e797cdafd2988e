//! Convert-chat-to-ticket over HTTP, measured against a server process of
//! its own (so its CPU time is only its own), on SQLite and PostgreSQL, with
//! 0, 10,000 and 100,000 tickets already in the workspace. Prints numbers;
//! asserts nothing about time (a busy machine would make that flaky).
//!
//! cargo bench -p threadline-tests --bench conversion
//!
//! For each backend and ticket count: server CPU per conversion (user +
//! system time of the server process, every hook running as its
//! WebAssembly plugin; on PostgreSQL also the CPU of the database backends
//! serving it), p50 and p99 latency one conversion at a time and with 8
//! clients, and conversions per second with 8 clients. Then a 1,000-message
//! chat, one at a time.
//!
//! Chats and tickets are written straight into the database
//! (`threadline_tests::seed`): 20 public messages of 235 bytes (about a
//! 5 KB transcript) and an internal note per chat; seeded tickets have 5 KB
//! descriptions, a third of them open.
//!
//! After the last ticket count, the workspace gets 200 more agents and is
//! measured once more: the default assignment rule reads none of them, so
//! a conversion should cost the same.
//!
//! `THREADLINE_BENCH_TICKETS=0,10000` picks other ticket counts,
//! `THREADLINE_BENCH_AGENTS=0` (or another number) the agents added last,
//! `THREADLINE_BENCH_BACKEND=sqlite` (or `postgres`) one backend.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use threadline_tests::bench::{Api, Workspace, ms, pct};
use threadline_tests::{Backend, ServerProcess, TestDb, cpu_time, seed};

const WARM_UP: usize = 64;
const SEQUENTIAL: usize = 300;
const CONCURRENT: usize = 1_000;
const CLIENTS: usize = 8;
const MESSAGES: usize = 20;
const MESSAGE_BYTES: usize = 235;
const BIG_CHAT: usize = 1_000;
const BIG_CHATS: usize = 40;
const SEEDED_DESCRIPTION_BYTES: usize = 5_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let levels: Vec<u64> = std::env::var("THREADLINE_BENCH_TICKETS")
        .ok()
        .map(|v| v.split(',').map(|n| n.trim().parse().expect("ticket counts")).collect())
        .unwrap_or_else(|| vec![0, 10_000, 100_000]);
    let more_agents: usize = std::env::var("THREADLINE_BENCH_AGENTS")
        .ok()
        .map(|v| v.trim().parse().expect("an agent count"))
        .unwrap_or(200);
    // Each level: tickets in the workspace, agents added to it.
    let mut levels: Vec<(u64, usize)> = levels.into_iter().map(|t| (t, 0)).collect();
    if let Some(&(last, _)) = levels.last()
        && more_agents > 0
    {
        levels.push((last, more_agents));
    }
    println!(
        "convert chat to ticket over HTTP (loopback), {MESSAGES} messages of {MESSAGE_BYTES} bytes a chat; \
         CPU/conv = the server process's user + system time (+ PostgreSQL's backends')"
    );
    println!(
        "{:<10} {:>8} {:>6} | {:>17} {:>9} {:>9} | {:>17} {:>9} {:>9} {:>8}",
        "backend", "tickets", "agents", "seq CPU/conv", "p50", "p99", "x8 CPU/conv", "p50", "p99", "conv/s"
    );
    let only = std::env::var("THREADLINE_BENCH_BACKEND").ok();
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
        run(backend, &db, &levels).await;
    }
}

async fn run(backend: Backend, db: &TestDb, levels: &[(u64, usize)]) {
    let cache = threadline_tests::warm_plugin_cache().await;
    let server = ServerProcess::start(&db.url, cache.path(), &[]);
    let ws = Workspace::create(&db.url).await;
    let (tenant, admin, conn) = (&ws.tenant_id, &ws.admin, &ws.conn);
    let bob = ws.agent(1).await;
    let client = Api::new(&server.base, &admin.token);
    let agent = ws.agent_ref();
    let pid = server.pid();

    let mut seeded = 0;
    let mut agents = 2;
    let mut big = None;
    for &(tickets, more_agents) in levels {
        for n in 0..more_agents {
            ws.agent(agents + n).await;
        }
        agents += more_agents;
        if tickets > seeded {
            let started = Instant::now();
            let assignees = [admin.agent.id.clone(), bob.agent.id.clone()];
            seed::tickets(conn, tenant, &assignees, tickets - seeded, SEEDED_DESCRIPTION_BYTES).await;
            eprintln!("seeded {} tickets in {:.1?}", tickets - seeded, started.elapsed());
            seeded = tickets;
        }
        let chats = seed::chats(
            conn,
            tenant,
            agent,
            WARM_UP + SEQUENTIAL + CONCURRENT,
            MESSAGES,
            MESSAGE_BYTES,
        )
        .await;
        let (warm, rest) = chats.split_at(WARM_UP);
        let (sequential, concurrent) = rest.split_at(SEQUENTIAL);
        // With 8 clients, so that the server's pools have grown to what the
        // measured runs use (opening a PostgreSQL connection mid-run costs
        // one request ~100 ms).
        futures::stream::iter(warm)
            .map(|chat| client.convert(chat))
            .buffer_unordered(CLIENTS)
            .collect::<Vec<_>>()
            .await;

        let before = Cpu::read(pid, conn, backend).await;
        let mut one_by_one = Vec::with_capacity(SEQUENTIAL);
        for chat in sequential {
            one_by_one.push(client.convert(chat).await);
        }
        let seq_cpu = Cpu::read(pid, conn, backend).await.since(&before, SEQUENTIAL);
        one_by_one.sort();

        let before = Cpu::read(pid, conn, backend).await;
        let started = Instant::now();
        let mut eight: Vec<Duration> = futures::stream::iter(concurrent)
            .map(|chat| client.convert(chat))
            .buffer_unordered(CLIENTS)
            .collect()
            .await;
        let rate = CONCURRENT as f64 / started.elapsed().as_secs_f64();
        let par_cpu = Cpu::read(pid, conn, backend).await.since(&before, CONCURRENT);
        eight.sort();

        println!(
            "{:<10} {:>8} {:>6} | {:>17} {:>9} {:>9} | {:>17} {:>9} {:>9} {:>8.0}",
            format!("{backend:?}"),
            tickets,
            agents,
            seq_cpu,
            ms(pct(&one_by_one, 50)),
            ms(pct(&one_by_one, 99)),
            par_cpu,
            ms(pct(&eight, 50)),
            ms(pct(&eight, 99)),
            rate
        );

        if big.is_none() {
            let chats = seed::chats(conn, tenant, agent, BIG_CHATS, BIG_CHAT, MESSAGE_BYTES).await;
            let before = Cpu::read(pid, conn, backend).await;
            let mut times = Vec::with_capacity(BIG_CHATS);
            for chat in &chats {
                times.push(client.convert(chat).await);
            }
            let cost = Cpu::read(pid, conn, backend).await.since(&before, BIG_CHATS);
            times.sort();
            big = Some(format!(
                "{backend:?}: {BIG_CHAT}-message chat ({} KB transcript), {BIG_CHATS} one at a time at {tickets} tickets: \
                 p50 {} p99 {}, CPU/conv {cost}",
                BIG_CHAT * MESSAGE_BYTES / 1000,
                ms(pct(&times, 50)),
                ms(pct(&times, 99)),
            ));
        }
    }
    if let Some(line) = big {
        println!("{line}");
    }
    println!("{backend:?}: server peak RSS {} MiB", server.rss() >> 20);
}

/// CPU time used so far by the server process and, on PostgreSQL, by each
/// backend serving its database (the bench's own connection left out).
struct Cpu {
    server: Duration,
    backends: Option<HashMap<u32, Duration>>,
}

impl Cpu {
    async fn read(server: u32, conn: &DatabaseConnection, backend: Backend) -> Self {
        let backends = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let sql =
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
                let rows = conn
                    .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .unwrap();
                Some(
                    rows.iter()
                        .filter_map(|r| {
                            let pid = r.try_get::<i32>("", "pid").ok()? as u32;
                            Some((pid, cpu_time(pid)?))
                        })
                        .collect(),
                )
            }
        };
        Self {
            server: cpu_time(server).expect("the server's /proc entry"),
            backends,
        }
    }

    /// CPU per conversion since `before`, over `n` conversions.
    fn since(&self, before: &Cpu, n: usize) -> String {
        let per = |d: Duration| d / n as u32;
        let server = per(self.server.saturating_sub(before.server));
        match (&self.backends, &before.backends) {
            (Some(now), Some(then)) => {
                let spent: Duration = now
                    .iter()
                    .map(|(pid, t)| t.saturating_sub(then.get(pid).copied().unwrap_or_default()))
                    .sum();
                format!("{} + {}", ms(server), ms(per(spent)))
            }
            _ => ms(server),
        }
    }
}
