//! Test harness: spawns the real server on port 0 over a fresh database and
//! talks HTTP to it.
//!
//! Every test runs twice, on SQLite (a new file in a temp folder) and on
//! PostgreSQL (a new database, dropped afterwards). PostgreSQL is found at
//! `THREADLINE_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/postgres`).
//! If it cannot be reached the PostgreSQL half is skipped with a loud notice,
//! unless `CI` or `THREADLINE_REQUIRE_POSTGRES` is set: then it fails.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::{Value, json};
use threadline::domain::EmailAddress;
use threadline::http::rate::RateSettings;
use threadline::mail::MailSettings;
use threadline::plugins::{HostSettings, PluginHost, WorkerCommand};
use threadline::server::{Config, Server};
use threadline::store::Store;
use tokio::sync::oneshot;

pub use serde_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// WebAssembly components for the plugin tests, built by `build.rs`: the
/// purpose-built bad plugins of `tests/plugins/` and the examples of
/// `plugins/`.
pub mod smtp;

pub mod wasm {
    macro_rules! component {
        ($name:ident, $file:literal) => {
            pub const $name: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/", $file));
        };
    }
    component!(LOOP_FOREVER, "loop_forever.wasm");
    component!(ALLOC_UNBOUNDED, "alloc_unbounded.wasm");
    component!(STACK_OVERFLOW, "stack_overflow.wasm");
    component!(TRAP, "trap.wasm");
    component!(HUGE_OUTPUT, "huge_output.wasm");
    component!(FOREIGN_AGENT, "foreign_agent.wasm");
    component!(LOG_FLOOD, "log_flood.wasm");
    component!(ECHO_CONTEXT, "echo_context.wasm");
    component!(PROBE_V2, "probe_v2.wasm");
    component!(SLEEP, "sleep.wasm");
    component!(ASSIGN_LEAST_LOADED, "assign_least_loaded.wasm");
    component!(SUBJECT_DEFAULT, "subject_default.wasm");
}

/// Components made by the tests themselves.
pub mod make {
    use wasm_encoder::{CodeSection, Component, Function, FunctionSection, Module, ModuleSection, TypeSection};

    /// A valid component holding one core module with one function of about
    /// `body_bytes` bytes that pushes a third as many constants and then adds
    /// them up: every one is live at once, which takes Cranelift about a
    /// gigabyte and tens of seconds for a 7 MB function (300 MB, 4 s for
    /// 1.2 MB). It exports no hook, so even a compile that succeeds ends in
    /// a refusal.
    pub fn compile_heavy(body_bytes: usize) -> Vec<u8> {
        let values = (body_bytes / 3).max(2) as u32;
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut f = Function::new([]);
        let mut sink = f.instructions();
        for _ in 0..values {
            sink.i64_const(1);
        }
        for _ in 1..values {
            sink.i64_add();
        }
        sink.drop().end();
        let mut code = CodeSection::new();
        code.function(&f);
        let mut module = Module::new();
        module.section(&types).section(&functions).section(&code);
        let mut component = Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }

    /// `wasm` with a custom section appended that makes its bytes (and so
    /// its SHA-256) unique to `tag`, changing nothing it does.
    pub fn distinct(wasm: &[u8], tag: &str) -> Vec<u8> {
        let name = b"threadline-test";
        let mut payload = Vec::new();
        leb(&mut payload, name.len() as u64);
        payload.extend_from_slice(name);
        payload.extend_from_slice(tag.as_bytes());
        let mut out = wasm.to_vec();
        out.push(0); // custom section
        leb(&mut out, payload.len() as u64);
        out.extend_from_slice(&payload);
        out
    }

    fn leb(out: &mut Vec<u8>, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
}

/// What the benchmarks share: chats to convert, and percentiles.
pub mod bench {
    use std::time::Duration;

    use reqwest::StatusCode;
    use serde_json::json;

    use super::{TestApp, TestTenant};

    /// `count` chats of `messages` public messages (visitor and agent in
    /// turn) plus one internal note.
    pub async fn make_chats(app: &TestApp, t: &TestTenant, count: usize, messages: usize) -> Vec<String> {
        let mut chats = Vec::with_capacity(count);
        for i in 0..count {
            let (chat, visitor) = app
                .start_chat(
                    t,
                    json!({"visitor_name": format!("Visitor {i}"), "message": "Hello, I need help."}),
                )
                .await;
            for m in 1..messages {
                let r = if m % 2 == 1 {
                    app.agent_says(&t.admin.token, &chat, &format!("Agent answer number {m}."), false)
                        .await
                } else {
                    app.visitor_says(&visitor, &chat, &format!("Visitor follow-up number {m}."))
                        .await
                };
                assert_eq!(r.status, StatusCode::CREATED);
            }
            app.agent_says(&t.admin.token, &chat, "internal: check billing", true)
                .await;
            chats.push(chat);
        }
        chats
    }

    /// Converts `chat`, or panics.
    pub async fn convert(app: &TestApp, t: &TestTenant, chat: &str) {
        let email = format!("{}@example.com", &chat[chat.len() - 6..]);
        let r = app.convert(&t.admin.token, chat, json!({"visitor_email": email})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }

    /// The `p`th percentile of sorted durations.
    pub fn pct(sorted: &[Duration], p: usize) -> Duration {
        sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
    }

    pub fn ms(d: Duration) -> String {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

/// Bulk rows for benchmarks: many tickets or chats written straight into
/// the database (the same rows the API writes, far faster than making them
/// one request at a time).
pub mod seed {
    use chrono::Utc;
    use sea_orm::ActiveValue::Set;
    use sea_orm::{DatabaseConnection, DbBackend, EntityTrait};
    use threadline::store::entities::{chat, message, visitor};

    use super::sql::{exec, query};

    /// Adds `count` tickets to the workspace, numbered on from its counter:
    /// a third still open (in progress), spread over `assignees`, the rest
    /// solved, each with a `description_bytes` description. One statement,
    /// as a bulk import would be; the open-ticket triggers count them.
    pub async fn tickets(
        db: &DatabaseConnection,
        tenant_id: &str,
        assignees: &[String],
        count: u64,
        description_bytes: usize,
    ) {
        assert!(!assignees.is_empty());
        let backend = db.get_database_backend();
        let now = Utc::now();
        let requester = format!("seed-requester-{}", uuid::Uuid::new_v4().simple());
        exec(
            db,
            "INSERT INTO requesters (id, tenant_id, email, email_normalized, name, created_at)
             VALUES ($1, $2, $3, $3, 'Seeded requester', $4)",
            vec![
                requester.clone().into(),
                tenant_id.into(),
                format!("{requester}@seed.test").into(),
                now.into(),
            ],
        )
        .await;
        let first: i64 = query(
            db,
            "SELECT next_ticket_number FROM tenants WHERE id = $1",
            vec![tenant_id.into()],
        )
        .await[0]
            .try_get("", "next_ticket_number")
            .unwrap();
        let assignee = assignees
            .iter()
            .enumerate()
            .map(|(k, _)| format!("WHEN {k} THEN ${}", 7 + k))
            .collect::<Vec<_>>()
            .join(" ");
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {count})
             INSERT INTO tickets (id, tenant_id, number, subject, description, status, assignee_id,
                                  requester_id, first_response_at, origin_chat_id, summary, created_at, updated_at)
             SELECT $6 || i, $1, $2 + i, 'Seeded ticket', $3,
                    CASE WHEN i % 3 = 0 THEN 'in_progress' ELSE 'solved' END,
                    CASE i % {n} {assignee} END, $4, NULL, NULL, NULL, $5, $5
             FROM n",
            n = assignees.len()
        );
        let mut values: Vec<sea_orm::Value> = vec![
            tenant_id.into(),
            first.into(),
            "x".repeat(description_bytes).into(),
            requester.into(),
            now.into(),
            format!("seed-{}-", uuid::Uuid::new_v4().simple()).into(),
        ];
        values.extend(assignees.iter().map(|a| a.as_str().into()));
        exec(db, &sql, values).await;
        exec(
            db,
            "UPDATE tenants SET next_ticket_number = $1 WHERE id = $2",
            vec![(first + count as i64).into(), tenant_id.into()],
        )
        .await;
        if backend == DbBackend::Postgres {
            // What autovacuum would do soon after such a load, done now so
            // that it does not run during the measurements.
            exec(db, "VACUUM ANALYZE", vec![]).await;
        }
    }

    /// `count` open chats of `messages` public messages of `body_bytes`
    /// each (visitor and agent in turn, the agent's answered first) plus one
    /// internal note, as if made through the widget and the console.
    pub async fn chats(
        db: &DatabaseConnection,
        tenant_id: &str,
        agent: (&str, &str),
        count: usize,
        messages: usize,
        body_bytes: usize,
    ) -> Vec<String> {
        let now = Utc::now();
        let mut chat_ids = Vec::with_capacity(count);
        let mut visitors = Vec::new();
        let mut chats = Vec::new();
        let mut rows = Vec::new();
        for i in 0..count {
            let (visitor_id, chat_id) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
            visitors.push(visitor::ActiveModel {
                id: Set(visitor_id.clone()),
                tenant_id: Set(tenant_id.to_owned()),
                name: Set(format!("Visitor {i}")),
                email: Set(None),
                token_hash: Set(uuid::Uuid::new_v4().simple().to_string()),
                created_at: Set(now),
            });
            chats.push(chat::ActiveModel {
                id: Set(chat_id.clone()),
                tenant_id: Set(tenant_id.to_owned()),
                visitor_id: Set(visitor_id),
                subject: Set(None),
                status: Set("open".into()),
                assignee_id: Set(Some(agent.0.to_owned())),
                first_response_at: Set(Some(now)),
                summary: Set(None),
                ticket_id: Set(None),
                version: Set(messages as i64 + 1),
                created_at: Set(now),
                updated_at: Set(now),
                closed_at: Set(None),
                last_message_preview: Set(None),
                last_message_kind: Set(None),
            });
            for m in 0..=messages {
                let (kind, author) = match m {
                    m if m == messages => ("internal_note", agent.1.to_owned()),
                    m if m % 2 == 0 => ("visitor", format!("Visitor {i}")),
                    _ => ("agent", agent.1.to_owned()),
                };
                let mut body = format!("Message {m} of chat {i}. ");
                while body.len() < body_bytes {
                    body.push_str("Some words of the conversation. ");
                }
                body.truncate(body_bytes.max(1));
                rows.push(message::ActiveModel {
                    tenant_id: Set(tenant_id.to_owned()),
                    chat_id: Set(chat_id.clone()),
                    kind: Set(kind.to_owned()),
                    author_name: Set(author),
                    agent_id: Set((kind != "visitor").then(|| agent.0.to_owned())),
                    body: Set(body),
                    created_at: Set(now),
                    ..Default::default()
                });
            }
            chat_ids.push(chat_id);
        }
        for part in visitors.chunks(500) {
            visitor::Entity::insert_many(part.to_vec())
                .exec_without_returning(db)
                .await
                .unwrap();
        }
        for part in chats.chunks(500) {
            chat::Entity::insert_many(part.to_vec())
                .exec_without_returning(db)
                .await
                .unwrap();
        }
        for part in rows.chunks(500) {
            message::Entity::insert_many(part.to_vec())
                .exec_without_returning(db)
                .await
                .unwrap();
        }
        chat_ids
    }
}

/// Raw SQL for tests and benchmarks that look at the database directly,
/// written with PostgreSQL's `$1` placeholders and run on either backend.
pub mod sql {
    use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};

    pub async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
        db.execute_raw(statement(db, sql, values))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn query(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Vec<QueryResult> {
        db.query_all_raw(statement(db, sql, values))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn statement(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> Statement {
        let backend = db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => sql.to_owned(),
            // `?1` is SQLite's numbered placeholder.
            _ => sql.replace('$', "?"),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// This process's resident memory, from `/proc` (Linux).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a Linux /proc");
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib << 10
}

/// A server process of its own (so that its memory and CPU time are only
/// its own), stopped when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    pub fn start(db_url: &str, cache: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_with_env(db_url, cache, extra, &[])
    }

    /// With environment variables of the test's choosing (`RUST_LOG` is
    /// `warn` unless given).
    pub fn start_with_env(db_url: &str, cache: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = std::process::Command::new(threadline_cli());
        command
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--database-url",
                db_url,
                "--plugin-cache",
            ])
            .arg(cache)
            .args(extra)
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("the server says where it listens").unwrap();
            if let Some(rest) = line.strip_prefix("Threadline is listening on ") {
                break rest.split(' ').next().unwrap().to_owned();
            }
        };
        // Keep reading its log so it never blocks on a full pipe; keep the
        // lines for tests that read them.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Self { child, base, log }
    }

    /// What the server has written to its log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Built-in plugins this server compiled (made, not read from its
    /// cache), from its log; it must log at `threadline=info`.
    pub fn builtins_compiled(&self) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains("compiled a built-in plugin"))
            .count()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as an orchestrator stopping a node does.
    pub fn terminate(&self) {
        // SAFETY: kill(2) with our own child's pid and a valid signal.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Waits up to `limit` for the process to exit; how long it took, or
    /// `None` if it is still running.
    pub fn exited_within(&mut self, limit: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if self.child.try_wait().ok().flatten().is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn rss(&self) -> u64 {
        rss_bytes(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system, all threads) a process has used so far, from
/// `/proc/PID/stat` (Linux; clock ticks of 10 ms).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields that follow it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system; it has no
    // preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// Runs each named `async fn(TestApp)` of the calling module on both
/// databases, as `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::create($crate::Backend::Sqlite).await.expect("SQLite always works");
                    super::$name($crate::TestApp::spawn(db).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::create($crate::Backend::Postgres).await else { return };
                    super::$name($crate::TestApp::spawn(db).await).await;
                }
            )*
        }
    };
}

/// A database of one test's own: a SQLite file in a temp folder, or a new
/// PostgreSQL database that is dropped when this is.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    /// `None` only when PostgreSQL is unreachable and not required.
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/threadline.db?mode=rwc", dir.path().display());
                Some(Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("THREADLINE_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
                let admin = match Database::connect(&admin_url).await {
                    Ok(c) => c,
                    Err(e) => {
                        let required = std::env::var_os("CI").is_some()
                            || std::env::var_os("THREADLINE_REQUIRE_POSTGRES").is_some();
                        let msg = format!("PostgreSQL is not reachable at {admin_url}: {e}");
                        if required {
                            panic!("{msg} (CI requires PostgreSQL: start it, or set THREADLINE_TEST_POSTGRES_URL)");
                        }
                        eprintln!(
                            "\n!!!!!!!!!! SKIPPED: {msg}\n!!!!!!!!!! This PostgreSQL test did NOT run. CI fails instead of skipping.\n"
                        );
                        return None;
                    }
                };
                let name = format!("threadline_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("CREATE DATABASE {name}"),
                    ))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
                Some(Self {
                    url: format!("{base}/{name}"),
                    backend,
                    _dir: None,
                    pg_admin: Some((admin_url.clone(), name)),
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg_admin.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on, so
        // the cleanup gets a small runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin
                    .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// The server's default plugin settings, with this package's
/// `threadline-cli` as the compile worker (the test binary itself cannot be
/// one) and no disk cache.
pub fn plugin_settings() -> HostSettings {
    let mut settings = HostSettings::defaults(None);
    settings.compile.worker = Some(WorkerCommand {
        program: threadline_cli(),
        args: vec!["plugin".into(), "compile-worker".into()],
    });
    settings
}

/// Where the test processes keep the built-in plugins' compiled code
/// between runs (under `target/`): the JavaScript plugin costs seconds of
/// CPU to make, and tests start many servers.
fn builtin_cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache")
}

/// Every built-in plugin loaded into this process, before its first
/// server starts: made at most once per test run (read from
/// `target/test-plugin-cache` after that), and never beside a test that
/// measures time.
pub async fn builtins_ready() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            threadline::plugins::cache_builtins(&builtin_cache_dir())
                .await
                .expect("the built-in plugins load");
        })
        .await;
}

/// A new plugin cache for a server process, holding the built-in plugins
/// already, so the server makes none of them (use a bare temporary folder
/// to test a cold start).
pub async fn warm_plugin_cache() -> tempfile::TempDir {
    builtins_ready().await;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(builtin_cache_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".cwasm") {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// The `threadline` command as this package builds it (`threadline-cli`),
/// beside the test and bench binaries (which live in `deps/` below it).
pub fn threadline_cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().expect("a folder");
    [dir.join("threadline-cli"), dir.join("../threadline-cli")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no threadline-cli binary near {}", exe.display()))
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub plugins: PluginHost,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    // Declared last so the server stops before its database is dropped.
    pub db: std::sync::Arc<TestDb>,
}

/// A workspace made for a test, with its admin's credentials.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub id: String,
    pub slug: String,
    pub widget_key: String,
    pub admin: TestAgent,
}

#[derive(Debug, Clone)]
pub struct TestAgent {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    /// The API token the agent was created with.
    pub token: String,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_on(std::sync::Arc::new(db)).await
    }

    /// Another server node over the same database (multi-node tests).
    pub async fn spawn_on(db: std::sync::Arc<TestDb>) -> Self {
        Self::spawn_with(db, plugin_settings()).await
    }

    /// A server with plugin settings of the test's choosing.
    pub async fn spawn_with(db: std::sync::Arc<TestDb>, plugins: HostSettings) -> Self {
        // Tests make hundreds of chats from one address in a moment; the
        // rate-limit tests ask for the real limits.
        let rates = RateSettings {
            chats_burst: 1_000_000,
            messages_burst: 1_000_000,
            sign_ins_burst: 1_000_000,
            ..RateSettings::default()
        };
        Self::spawn_configured(db, plugins, rates).await
    }

    /// A server with the rate limits of the test's choosing.
    pub async fn spawn_configured(db: std::sync::Arc<TestDb>, plugins: HostSettings, rates: RateSettings) -> Self {
        Self::spawn_full(db, plugins, rates, MailSettings::default()).await
    }

    /// A node over `db` that mails replies through the SMTP server at
    /// `smtp_url`, retrying quickly (from 100 ms, at most 1 s apart).
    pub async fn spawn_mailing(db: std::sync::Arc<TestDb>, smtp_url: &str) -> Self {
        let rates = RateSettings {
            chats_burst: 1_000_000,
            messages_burst: 1_000_000,
            sign_ins_burst: 1_000_000,
            ..RateSettings::default()
        };
        let mail = MailSettings {
            smtp_url: Some(smtp_url.to_owned()),
            from_address: "support@acme.test".into(),
            first_retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(1),
            poll_interval: Duration::from_millis(100),
            ..MailSettings::default()
        };
        Self::spawn_full(db, plugin_settings(), rates, mail).await
    }

    async fn spawn_full(
        db: std::sync::Arc<TestDb>,
        plugins: HostSettings,
        rates: RateSettings,
        mail: MailSettings,
    ) -> Self {
        builtins_ready().await;
        let config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            plugins,
            http: Default::default(),
            rates,
            access: Default::default(),
            mail,
        };
        let server = Server::build(&config)
            .await
            .unwrap_or_else(|e| panic!("the server does not start: {e:#}"));
        let addr = server.local_addr();
        let store = server.store().clone();
        let plugins = server.plugins().clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            store,
            plugins,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            db,
        }
    }

    /// Uploaded plugins this node keeps loaded, and their compiled code's
    /// bytes.
    pub fn plugins_in_memory(&self) -> (usize, usize) {
        self.plugins.memory_cache_size()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request; `token` goes in `Authorization: Bearer`.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("response body");
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Sends a raw body (for malformed JSON).
    pub async fn post_raw(&self, path: &str, token: &str, body: &'static str) -> Reply {
        self.post_bytes(path, token, "application/json", body.as_bytes().to_vec())
            .await
    }

    /// POSTs `body` as it is, with `content_type`.
    pub async fn post_bytes(&self, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json().await.unwrap_or(Value::Null);
        Reply { status, headers, body }
    }

    /// Converts `chat` as the agent with `token`.
    pub async fn convert(&self, token: &str, chat: &str, body: Value) -> Reply {
        self.post(&format!("/api/v1/chats/{chat}/conversion"), token, body)
            .await
    }

    /// The agents' view of a chat.
    pub async fn chat(&self, token: &str, chat: &str) -> Value {
        self.get(&format!("/api/v1/chats/{chat}"), token).await.body
    }

    /// The visitor's view of their chat.
    pub async fn visitor_view(&self, visitor_token: &str, chat: &str) -> Value {
        self.get(&format!("/api/v1/widget/chats/{chat}"), visitor_token)
            .await
            .body
    }

    /// An agent's reply (`internal: false`) or internal note (`internal: true`).
    pub async fn agent_says(&self, token: &str, chat: &str, body: &str, internal: bool) -> Reply {
        self.post(
            &format!("/api/v1/chats/{chat}/messages"),
            token,
            json!({"body": body, "internal": internal}),
        )
        .await
    }

    /// The visitor writes.
    pub async fn visitor_says(&self, visitor_token: &str, chat: &str, body: &str) -> Reply {
        self.post(
            &format!("/api/v1/widget/chats/{chat}/messages"),
            visitor_token,
            json!({"body": body}),
        )
        .await
    }

    /// A new workspace, made the way `threadline tenant create` makes one.
    pub async fn tenant(&self, name: &str) -> TestTenant {
        let email = EmailAddress::parse("email", &format!("admin@{}.test", uuid::Uuid::new_v4().simple())).unwrap();
        let created = self
            .store
            .create_tenant(name, "Ada Admin", &email)
            .await
            .expect("tenant created");
        TestTenant {
            id: created.tenant.id,
            slug: created.tenant.slug,
            widget_key: created.tenant.widget_key,
            admin: TestAgent {
                id: created.admin.agent.id,
                tenant_id: created.admin.agent.tenant_id,
                name: created.admin.agent.name,
                email: created.admin.agent.email,
                token: created.admin.token,
            },
        }
    }

    /// A plain (not admin) agent in `tenant`.
    pub async fn agent(&self, tenant: &TestTenant, name: &str) -> TestAgent {
        let email = EmailAddress::parse("email", &format!("{}@agents.test", uuid::Uuid::new_v4().simple())).unwrap();
        let created = self
            .store
            .create_agent(&tenant.id, name, &email, false)
            .await
            .expect("agent created");
        TestAgent {
            id: created.agent.id,
            tenant_id: created.agent.tenant_id,
            name: created.agent.name,
            email: created.agent.email,
            token: created.token,
        }
    }

    /// Gives `agent` a password, as `threadline agent set-password` does.
    pub async fn set_password(&self, agent: &TestAgent, password: &str) {
        let hash = threadline::domain::password::Password::parse("password", password)
            .expect("a valid password")
            .hash();
        self.store
            .set_password(&agent.tenant_id, &agent.id, &hash)
            .await
            .expect("password set");
    }

    /// `POST /api/v1/auth/sign-in`.
    pub async fn sign_in(&self, workspace: &str, email: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/sign-in",
            None,
            Some(json!({"workspace": workspace, "email": email, "password": password})),
        )
        .await
    }

    /// A session token for `agent` of `tenant` (who gets a password first).
    pub async fn session(&self, tenant: &TestTenant, agent: &TestAgent) -> String {
        self.set_password(agent, "a long enough password").await;
        let r = self.sign_in(&tenant.slug, &agent.email, "a long enough password").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// A visitor starts a chat through the widget API; returns (chat id, visitor token).
    pub async fn start_chat(&self, tenant: &TestTenant, body: Value) -> (String, String) {
        let reply = self
            .call(
                Method::POST,
                &format!("/api/v1/widget/{}/chats", tenant.widget_key),
                None,
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        (
            reply.body["chat_id"].as_str().unwrap().to_owned(),
            reply.body["visitor_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Uploads a plugin component as `token`'s workspace admin.
    pub async fn upload_plugin(&self, token: &str, name: &str, wasm: &[u8]) -> Reply {
        let path = format!("/api/v1/plugins?name={name}");
        self.post_bytes(&path, token, "application/wasm", wasm.to_vec()).await
    }

    /// Uploads a plugin and returns its id, or panics.
    pub async fn install_plugin(&self, token: &str, name: &str, wasm: &[u8]) -> String {
        let r = self.upload_plugin(token, name, wasm).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Sets the workspace's pipeline (`{"hooks": {...}}`), or panics.
    pub async fn set_pipeline(&self, token: &str, hooks: Value) {
        let r = self.put_pipeline(token, hooks).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }

    /// `PUT /api/v1/pipeline` with these hooks, whatever it answers.
    pub async fn put_pipeline(&self, token: &str, hooks: Value) -> Reply {
        self.call(
            Method::PUT,
            "/api/v1/pipeline",
            Some(token),
            Some(json!({ "hooks": hooks })),
        )
        .await
    }

    /// The workspace's plugin faults, newest first.
    pub async fn faults(&self, token: &str) -> Vec<Value> {
        let r = self.get("/api/v1/plugins/faults", token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body.as_array().unwrap().clone()
    }

    /// Opens a websocket on `path`, sends `token` as its first frame (as
    /// browsers do), and waits for its `ready` frame.
    pub async fn events(&self, path: &str, token: &str) -> Events {
        use futures::SinkExt;
        let url = format!("ws://{}{path}", self.addr);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                json!({ "token": token }).to_string().into(),
            ))
            .await
            .expect("token frame sent");
        let ready = next_text(&mut socket).await;
        assert_eq!(ready, json!({"kind": "ready"}));
        Events(socket)
    }

    /// A chat from Grace (no email captured, no subject) with one message.
    pub async fn simple_chat(&self, tenant: &TestTenant) -> (String, String) {
        self.start_chat(tenant, json!({"visitor_name": "Grace Hopper", "message": "Hello?"}))
            .await
    }
}

/// A live-updates websocket.
pub struct Events(tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>);

impl Events {
    /// The next event (pings skipped); fails after ten seconds without one.
    pub async fn next(&mut self) -> Value {
        next_text(&mut self.0).await
    }

    /// Sends a frame, as a client says something (typing).
    pub async fn send(&mut self, frame: Value) {
        use futures::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into()))
            .await
            .expect("frame sent");
    }

    /// Sends raw text, whatever it holds; `false` if the socket is gone.
    pub async fn send_text(&mut self, text: String) -> bool {
        use futures::SinkExt;
        self.0
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .is_ok()
    }

    /// Whether the server ends the socket within ten seconds (closed, or
    /// the connection dropped); events that come first are skipped.
    pub async fn ends(&mut self) -> bool {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.0.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The code the server closes the socket with; fails if an event comes
    /// first, or nothing within ten seconds.
    pub async fn close_code(&mut self) -> u16 {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), self.0.next())
                .await
                .expect("closed within ten seconds")
                .expect("a close frame before the end")
                .expect("a readable frame");
            match frame {
                Message::Close(Some(close)) => return u16::from(close.code),
                Message::Close(None) => return 1005,
                Message::Text(text) => panic!("expected the socket to close, got {text}"),
                _ => continue,
            }
        }
    }
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    use futures::StreamExt;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an event within ten seconds")
            .expect("the socket is open")
            .expect("a readable frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("events are JSON");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
