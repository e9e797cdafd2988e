//! A conversion costs what its chat costs, not what the workspace holds:
//! agents' open tickets are counters the database keeps in the same
//! transaction as every ticket change, and a conversion sends a fixed,
//! small number of statements whatever the number of tickets.
//! (How fast, and how flat, is measured by `cargo bench --bench conversion`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use threadline_migrations::Migrator;
use threadline_migrations::sea_orm_migration::MigratorTrait;
use threadline_tests::sql::exec;
use threadline_tests::{Backend, TestApp, TestDb, TestTenant, on_both_databases, seed, sql};

on_both_databases!(
    open_ticket_counts_stay_exact_under_concurrent_conversions_and_changes,
    upgrading_a_database_counts_the_open_tickets_it_already_has,
    a_conversion_sends_the_same_few_statements_however_many_tickets_exist,
    only_an_assignment_rule_that_reads_the_team_costs_a_read_of_it,
);

/// 36 conversions by three agents race a second connection that keeps
/// solving, reopening, reassigning and unassigning the tickets they create.
/// Afterwards every agent's counter equals a count of the tickets, and the
/// assignment hooks' candidates carry the same numbers.
async fn open_ticket_counts_stay_exact_under_concurrent_conversions_and_changes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let carol = app.agent(&t, "Carol").await;
    let agents = [t.admin.clone(), bob, carol];
    let mut chats = Vec::new();
    for _ in 0..36 {
        chats.push(app.simple_chat(&t).await.0);
    }
    let db = connect(&app).await;

    let done = Arc::new(AtomicBool::new(false));
    let conversions = {
        let done = done.clone();
        let (app, agents) = (&app, &agents);
        async move {
            let replies = join_all(chats.iter().enumerate().map(|(i, chat)| {
                let token = &agents[i % 3].token;
                app.convert(token, chat, json!({"visitor_email": format!("v{i}@example.com")}))
            }))
            .await;
            done.store(true, Ordering::SeqCst);
            replies
        }
    };
    let changes = async {
        let mut changed = 0;
        for round in 0usize.. {
            let finished = done.load(Ordering::SeqCst);
            for (j, id) in ticket_ids(&db, &t).await.iter().enumerate() {
                let sql = match (round + j) % 4 {
                    0 => "UPDATE tickets SET status = 'solved' WHERE id = $1".to_owned(),
                    1 => format!(
                        "UPDATE tickets SET assignee_id = '{}' WHERE id = $1",
                        agents[(round + j) % 3].id
                    ),
                    2 => "UPDATE tickets SET status = 'pending' WHERE id = $1".to_owned(),
                    _ => "UPDATE tickets SET assignee_id = NULL WHERE id = $1".to_owned(),
                };
                exec(&db, &sql, vec![id.as_str().into()]).await;
                changed += 1;
            }
            // One more round after the last conversion, so its tickets
            // change too.
            if finished {
                break;
            }
        }
        changed
    };
    let (replies, changed) = tokio::join!(conversions, changes);
    for r in &replies {
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    assert!(
        changed >= 36,
        "the tickets were changed while being created ({changed} changes)"
    );

    let counted = open_tickets_counted(&db, &t).await;
    let kept = open_tickets_kept(&db, &t).await;
    assert_eq!(kept, counted, "counters against a count of the tickets");
    assert!(counted.values().any(|&n| n > 0) || changed > 0);
    // What the next conversion's assignment hook would be given.
    let candidates = app.store.assignment_candidates(&t.id).await.unwrap();
    assert_eq!(candidates.len(), 3);
    for c in candidates {
        assert_eq!(i64::from(c.open_tickets), counted[&c.id], "candidate {}", c.name);
    }

    // And the plain case, with nothing racing: two more conversions by Bob.
    let before = open_tickets_kept(&db, &t).await[&agents[1].id];
    for _ in 0..2 {
        let (chat, _) = app.simple_chat(&t).await;
        let r = app
            .convert(&agents[1].token, &chat, json!({"visitor_email": "x@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    assert_eq!(open_tickets_kept(&db, &t).await[&agents[1].id], before + 2);
}

/// A database from before the counters (the migration undone), with tickets
/// in several states, gets exact counters when it is upgraded.
async fn upgrading_a_database_counts_the_open_tickets_it_already_has(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    for i in 0..6 {
        let (chat, _) = app.simple_chat(&t).await;
        let token = if i % 2 == 0 { &t.admin.token } else { &bob.token };
        let r = app
            .convert(token, &chat, json!({"visitor_email": "v@example.com"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let db = connect(&app).await;
    Migrator::down(&db, Some(1)).await.unwrap();
    let ids = ticket_ids(&db, &t).await;
    exec(
        &db,
        "UPDATE tickets SET status = 'solved' WHERE id = $1",
        vec![ids[0].as_str().into()],
    )
    .await;
    exec(
        &db,
        "UPDATE tickets SET status = 'closed' WHERE id = $1",
        vec![ids[1].as_str().into()],
    )
    .await;
    let sql = format!("UPDATE tickets SET assignee_id = '{}' WHERE id = $1", bob.id);
    exec(&db, &sql, vec![ids[2].as_str().into()]).await;

    Migrator::up(&db, None).await.unwrap();
    let counted = open_tickets_counted(&db, &t).await;
    assert_eq!(counted[&t.admin.id], 1, "3 converted, 2 finished, 1 handed to Bob");
    assert_eq!(counted[&bob.id], 3);
    assert_eq!(open_tickets_kept(&db, &t).await, counted);
}

/// The statements one conversion sends are counted on the server's own
/// connections: the same number with 0 and with 3,000 tickets in the
/// workspace: the agent's token with the snapshot (one query), and the
/// commit. On SQLite the commit is one script, its `BEGIN` and `COMMIT` in
/// it (2 hand-offs in all); on PostgreSQL one statement, which sends the
/// live event too (2 round trips in all).
async fn a_conversion_sends_the_same_few_statements_however_many_tickets_exist(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let db = connect(&app).await;
    // The first conversion also reads the pipeline, which this node then
    // keeps until it changes.
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(convert(&app, &t, &chat).await, StatusCode::CREATED);

    let mut counts = Vec::new();
    for tickets in [0, 3_000] {
        if tickets > 0 {
            seed::tickets(&db, &t.id, &[t.admin.id.clone(), bob.id.clone()], tickets, 2_000).await;
        }
        let (chat, _) = app.simple_chat(&t).await;
        // Any request first: the agent's once-a-minute presence write is
        // not the conversion's.
        app.get("/api/v1/settings", &t.admin.token).await;
        let before = app.store.statements();
        assert_eq!(convert(&app, &t, &chat).await, StatusCode::CREATED);
        counts.push(app.store.statements() - before);
    }
    eprintln!("statements per conversion: {counts:?}");
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[0], 2, "{counts:?}");
    let open = open_tickets_kept(&db, &t).await;
    assert_eq!(open[&bob.id], 500, "a third of the seeded tickets, half of them Bob's");

    // A pipeline change is seen by the next conversion (and costs it one
    // read).
    app.set_pipeline(
        &t.admin.token,
        json!({"subject": {"plugin": "subject-default", "policy": "reject"}}),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    app.get("/api/v1/settings", &t.admin.token).await;
    let before = app.store.statements();
    assert_eq!(convert(&app, &t, &chat).await, StatusCode::CREATED);
    assert_eq!(app.store.statements() - before, counts[0] + 1);
}

/// On PostgreSQL a connection opened while the pool grows runs a
/// conversion's statements before it serves anyone, so that another
/// workspace's next conversions, which the pool hands the new connections
/// first in first out, find them prepared (`store/warm.rs`). The pool is
/// grown to its maximum by holding that many transactions; every
/// connection then holds the statements, and conversions afterwards
/// prepare none on any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_postgres_connection_comes_with_a_conversions_statements() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    let t = app.tenant("Acme").await;
    let mut chats = Vec::new();
    for _ in 0..12 {
        chats.push(app.simple_chat(&t).await.0);
    }
    // The agent's presence write and the pipeline's first read are not a
    // conversion's every time.
    assert_eq!(convert(&app, &t, &chats.pop().unwrap()).await, StatusCode::CREATED);
    app.get("/api/v1/settings", &t.admin.token).await;

    let before = prepared_on_each_connection(&app).await;
    assert_eq!(before.len(), 16, "the pool grew to its 16 connections");
    for (pid, statements) in &before {
        for part in ["t_status", "m_json", "h_id", "pg_notify", "INSERT INTO events"] {
            assert!(
                statements.iter().any(|s| s.contains(part)),
                "connection {pid} lacks the statement with {part:?}: {statements:#?}"
            );
        }
    }
    for chat in &chats {
        assert_eq!(convert(&app, &t, chat).await, StatusCode::CREATED);
    }
    let after = prepared_on_each_connection(&app).await;
    assert_eq!(after, before, "a conversion prepared a statement of its own");
}

/// The usage meter's flush (`Store::add_usage`: `usage_days` and the
/// workspaces' `stored_bytes`), which runs every `FLUSH_EVERY` from a task of
/// its own on whichever connection the pool gives it, so it may first run
/// on a connection while the conversions do: not a conversion's.
const METER_FLUSH: [&str; 2] = ["usage_days", r#""stored_bytes" = "stored_bytes" +"#];

/// Holds every connection of the server's pool at once and lists, by
/// backend, the statements prepared on each (the meter's flush left out).
async fn prepared_on_each_connection(app: &TestApp) -> BTreeMap<i32, Vec<String>> {
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(app.store.pool().begin().await.unwrap());
    }
    let mut each = BTreeMap::new();
    for txn in &held {
        let list = "SELECT pg_backend_pid() AS pid, statement FROM pg_prepared_statements ORDER BY statement";
        let rows = txn
            .query_all_raw(Statement::from_string(DbBackend::Postgres, list))
            .await
            .unwrap();
        let pid: i32 = rows[0].try_get("", "pid").unwrap();
        let statements = rows
            .iter()
            .map(|r| r.try_get::<String>("", "statement").unwrap())
            .filter(|s| !METER_FLUSH.iter().any(|part| s.contains(part)))
            .collect();
        each.insert(pid, statements);
    }
    each
}

/// The default rule gives the ticket to the converting agent, so its
/// conversion reads no other agent: 40 more agents change nothing. A
/// strategy that looks at the team reads it, in one more statement, and
/// picks from all of it.
async fn only_an_assignment_rule_that_reads_the_team_costs_a_read_of_it(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(convert(&app, &t, &chat).await, StatusCode::CREATED);
    let (alone, assignee) = converted(&app, &t).await;
    assert_eq!(assignee, "Ada Admin");
    for i in 0..40 {
        app.agent(&t, &format!("Agent {i:02}")).await;
    }
    let (with_team, assignee) = converted(&app, &t).await;
    assert_eq!(with_team, alone, "the default rule read the team");
    assert_eq!(assignee, "Ada Admin");

    // Least loaded, offline agents included: Ada holds three open tickets,
    // the first agent added after her none. The pipeline changed, which
    // costs the next conversion one read; the team is the other.
    let least_loaded = json!({"assignment": {"plugin": "assign-converting-agent",
        "config": {"strategy": "least_loaded", "include_offline": "true"}}});
    assert_eq!(
        app.put_pipeline(&t.admin.token, least_loaded).await.status,
        StatusCode::OK
    );
    let (reading, assignee) = converted(&app, &t).await;
    assert_eq!(reading, alone + 2);
    assert_eq!(assignee, "Agent 00");
    let (reading, assignee) = converted(&app, &t).await;
    assert_eq!(reading, alone + 1);
    assert_eq!(assignee, "Agent 01", "Agent 00 holds one open ticket now");
}

/// The statements a conversion of a new chat sent, and its assignee.
async fn converted(app: &TestApp, t: &TestTenant) -> (u64, String) {
    let (chat, _) = app.simple_chat(t).await;
    app.get("/api/v1/settings", &t.admin.token).await;
    let before = app.store.statements();
    let r = app
        .admin_converts(t, &chat, json!({"visitor_email": "v@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let assignee = r.body["assignee"]["name"].as_str().unwrap().to_owned();
    (app.store.statements() - before, assignee)
}

async fn convert(app: &TestApp, t: &TestTenant, chat: &str) -> StatusCode {
    app.admin_converts(t, chat, json!({"visitor_email": "v@example.com"}))
        .await
        .status
}

/// A connection of the test's own to the server's database.
async fn connect(app: &TestApp) -> DatabaseConnection {
    Database::connect(&app.db.url).await.unwrap()
}

async fn query(db: &DatabaseConnection, sql: &str, tenant: &TestTenant) -> Vec<sea_orm::QueryResult> {
    sql::query(db, sql, vec![tenant.id.as_str().into()]).await
}

async fn ticket_ids(db: &DatabaseConnection, t: &TestTenant) -> Vec<String> {
    query(db, "SELECT id FROM tickets WHERE tenant_id = $1 ORDER BY number", t)
        .await
        .iter()
        .map(|r| r.try_get("", "id").unwrap())
        .collect()
}

/// Each agent's open tickets, counted from the tickets themselves.
async fn open_tickets_counted(db: &DatabaseConnection, t: &TestTenant) -> BTreeMap<String, i64> {
    let sql = "SELECT a.id, (SELECT COUNT(*) FROM tickets k WHERE k.assignee_id = a.id
                 AND k.status NOT IN ('solved', 'closed')) AS n
               FROM agents a WHERE a.tenant_id = $1";
    pairs(query(db, sql, t).await)
}

/// Each agent's open tickets, as the counter has them.
async fn open_tickets_kept(db: &DatabaseConnection, t: &TestTenant) -> BTreeMap<String, i64> {
    pairs(query(db, "SELECT id, open_tickets AS n FROM agents WHERE tenant_id = $1", t).await)
}

fn pairs(rows: Vec<sea_orm::QueryResult>) -> BTreeMap<String, i64> {
    rows.iter()
        .map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "n").unwrap()))
        .collect()
}
