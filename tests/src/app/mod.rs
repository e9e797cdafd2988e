//! [`TestApp`]: the real server on port 0 over a test's own database, and
//! an HTTP client for it with a helper per endpoint the tests use often.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use threadline::domain::EmailAddress;
use threadline::plugins::PluginHost;
use threadline::store::Store;
use tokio::sync::oneshot;

use super::TestDb;
use super::events::Events;

mod start;

pub use start::{TestAppBuilder, builtins_ready, plugin_settings, test_automation, warm_plugin_cache};

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub plugins: PluginHost,
    /// The automation tasks' handle: the scheduler's clock.
    pub automations: threadline::automation::Automations,
    /// This server's scheduler, run by hand with [`TestApp::run_schedule`].
    pub scheduler: std::sync::Arc<threadline::automation::scheduler::Scheduler>,
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

impl Reply {
    /// `key` of every item of a list body, as text (ticket numbers, ids).
    pub fn each(&self, key: &str) -> Vec<String> {
        let items = self.body.as_array().map(Vec::as_slice).unwrap_or_default();
        items
            .iter()
            .map(|item| item[key].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A 422 naming `field`, as every refusal of invalid input is.
    #[track_caller]
    pub fn assert_invalid(&self, field: &str) {
        assert_eq!(self.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", self.body);
        assert_eq!(self.body["error"]["field"], field, "{:?}", self.body);
    }

    /// The error's message (`""` when the body is no error).
    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_on(std::sync::Arc::new(db)).await
    }

    /// Another server node over the same database (multi-node tests).
    pub async fn spawn_on(db: std::sync::Arc<TestDb>) -> Self {
        Self::builder(db).spawn().await
    }

    /// Uploaded plugins this node keeps loaded, and their compiled code's
    /// bytes.
    pub fn plugins_in_memory(&self) -> (usize, usize) {
        self.plugins.memory_cache_size()
    }

    /// A new operator token, as `threadline operator-token create` makes one.
    pub async fn operator_token(&self, name: &str) -> String {
        self.store
            .create_operator_token(name)
            .await
            .expect("an operator token")
            .1
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

    /// A POST without a token (sign-in, the widget, a refused request).
    pub async fn post_anonymous(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// A POST without a body (an action: close, reopen, resend).
    pub async fn post_empty(&self, path: &str, token: &str) -> Reply {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    /// `PUT /api/v1/settings` as `tenant`'s admin.
    pub async fn settings(&self, tenant: &TestTenant, body: Value) -> Reply {
        self.put("/api/v1/settings", &tenant.admin.token, body).await
    }

    /// `tenant`'s admin converts `chat` with `body` (`{"visitor_email", …}`).
    pub async fn admin_converts(&self, tenant: &TestTenant, chat: &str, body: Value) -> Reply {
        self.convert(&tenant.admin.token, chat, body).await
    }

    /// A chat of `tenant` converted by its admin with `email`: the new
    /// ticket's number.
    pub async fn converted(&self, tenant: &TestTenant, email: &str) -> String {
        let (chat, _) = self.simple_chat(tenant).await;
        let r = self
            .convert(&tenant.admin.token, &chat, json!({"visitor_email": email}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["number"].as_str().unwrap().to_owned()
    }

    /// A ticket as `token` reads it (it must be there).
    pub async fn ticket(&self, token: &str, number: &str) -> Value {
        let r = self.get(&format!("/api/v1/tickets/{number}"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
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

    /// An agent of `tenant` with `skills` (what skills-based assignment
    /// matches on).
    pub async fn skilled_agent(&self, tenant: &TestTenant, name: &str, skills: &[&str]) -> TestAgent {
        let agent = self.agent(tenant, name).await;
        let skills: Vec<String> = skills.iter().map(|s| (*s).to_owned()).collect();
        self.store
            .set_agent_skills(&tenant.id, &agent.id, &skills)
            .await
            .expect("skills set");
        agent
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
        Events::open(&format!("ws://{}{path}", self.addr), token).await
    }

    /// A chat from Grace (no email captured, no subject) with one message.
    /// Posts `raw` mail to the workspace's inbound URL, as a relay does,
    /// and expects it accepted.
    pub async fn receive_mail(&self, tenant: &TestTenant, raw: String) {
        let key = self.get("/api/v1/settings", &tenant.admin.token).await.body["inbound_key"]
            .as_str()
            .expect("the settings show the inbound key")
            .to_owned();
        let r = self
            .post_bytes(
                &format!("/api/v1/inbound/{key}"),
                "",
                "message/rfc822",
                raw.into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    }

    /// Moves the scheduler's clock forward by `by` and runs the schedule
    /// once; returns what it did.
    pub async fn run_schedule_after(&self, by: std::time::Duration) -> threadline::automation::scheduler::ScheduleRun {
        self.automations.advance(by);
        self.scheduler
            .run_once()
            .await
            .expect("the schedule runs")
            .expect("this node holds the schedule's lease")
    }

    /// Waits (5 s at most) until every queued event has been handled.
    pub async fn events_handled(&self) {
        for _ in 0..100 {
            if self.store.events_waiting().await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("events still wait after 5 s");
    }

    pub async fn simple_chat(&self, tenant: &TestTenant) -> (String, String) {
        self.start_chat(tenant, json!({"visitor_name": "Grace Hopper", "message": "Hello?"}))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
