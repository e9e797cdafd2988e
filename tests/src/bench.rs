//! What the benchmarks share: a workspace made straight in the database,
//! a client of a server process's API, chats to convert, and percentiles.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use serde_json::{Value, json};
use threadline::domain::EmailAddress;
use threadline::store::{CreatedAgent, Store};

use super::{TestApp, TestTenant};

/// A workspace "Bench" and its admin, made through the store, and a
/// one-connection pool for seeding rows in bulk.
pub struct Workspace {
    pub store: Store,
    pub tenant_id: String,
    pub admin: CreatedAgent,
    pub conn: DatabaseConnection,
}

impl Workspace {
    pub async fn create(database_url: &str) -> Self {
        let store = Store::connect(database_url).await.unwrap();
        let email = EmailAddress::parse("email", "admin@bench.test").unwrap();
        let created = store.create_tenant("Bench", "Ada Admin", &email).await.unwrap();
        let mut opts = ConnectOptions::new(database_url.to_owned());
        opts.max_connections(1).sqlx_logging(false);
        let conn = Database::connect(opts).await.unwrap();
        Self {
            store,
            tenant_id: created.tenant.id,
            admin: created.admin,
            conn,
        }
    }

    /// Another agent of the workspace, `agentN@bench.test`.
    pub async fn agent(&self, n: usize) -> CreatedAgent {
        let email = EmailAddress::parse("email", &format!("agent{n}@bench.test")).unwrap();
        let name = format!("Agent {n}");
        self.store
            .create_agent(&self.tenant_id, &name, &email, false)
            .await
            .unwrap()
    }

    /// The admin as seeded chats' agent: (id, name).
    pub fn agent_ref(&self) -> (&str, &str) {
        (self.admin.agent.id.as_str(), self.admin.agent.name.as_str())
    }
}

/// A server process's API as one agent calls it.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// `method path` with a JSON body: the status and the answer's JSON.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Converts `chat` (or panics); how long it took. The answer is read,
    /// not parsed: the client shares the server's cores.
    pub async fn convert(&self, chat: &str) -> Duration {
        let started = Instant::now();
        let email = format!("{}@example.com", &chat[chat.len() - 8..]);
        let r = self
            .request(reqwest::Method::POST, &format!("/api/v1/chats/{chat}/conversion"))
            .json(&json!({"visitor_email": email}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.bytes().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
        started.elapsed()
    }

    /// Sets the workspace's pipeline (`{"hooks": …}`), or panics.
    pub async fn set_pipeline(&self, pipeline: Value) {
        let (status, body) = self
            .send(reqwest::Method::PUT, "/api/v1/pipeline", Some(pipeline))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

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

/// Converts `chats` one after another; each one's latency, sorted.
pub async fn latencies(app: &TestApp, t: &TestTenant, chats: &[String]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(chats.len());
    for chat in chats {
        let started = std::time::Instant::now();
        convert(app, t, chat).await;
        times.push(started.elapsed());
    }
    times.sort();
    times
}
