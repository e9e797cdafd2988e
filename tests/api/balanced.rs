//! Three server processes over one PostgreSQL behind a real load balancer
//! (HAProxy, Debian's package, started by the test on loopback): one node
//! is killed with SIGKILL while agents write and chats are converted
//! through the balancer. Nothing acknowledged is lost, clients' sockets
//! come back through the balancer within 5 s and miss nothing once they
//! resync, and the node, started again, takes requests only once its
//! `/readyz` says so. Without HAProxy the test says SKIPPED; under CI it
//! fails instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use sea_orm::{ConnectOptions, Database};
use serde_json::{Value, json};
use threadline_tests::{Backend, ServerProcess, TestDb, seed};
use tokio_tungstenite::tungstenite::Message;

const HAPROXY: &str = "/usr/sbin/haproxy";
/// Chats with a visitor's socket open on them, where agents write.
const WATCHED: usize = 6;
const CONVERTED: usize = 24;
const MESSAGES: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_behind_the_balancer_loses_nothing_and_its_clients_come_back() {
    if !std::path::Path::new(HAPROXY).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "HAProxy is missing ({HAPROXY}); .ci/run installs it"
        );
        eprintln!("SKIPPED: HAProxy is not installed ({HAPROXY}): apt-get install haproxy");
        return;
    }
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let store = threadline::store::Store::connect(&db.url).await.unwrap();
    let email = threadline::domain::EmailAddress::parse("email", "ada@acme.test").unwrap();
    let t = store.create_tenant("Acme", "Ada", &email).await.unwrap();
    let admin = t.admin.token.clone();
    let mut opts = ConnectOptions::new(db.url.clone());
    opts.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(opts).await.unwrap();
    let agent = (t.admin.agent.id.as_str(), t.admin.agent.name.as_str());
    let watched = seed::chats_with_visitors(&conn, &t.tenant.id, agent, WATCHED, 2, 50).await;
    let converted = seed::chats(&conn, &t.tenant.id, agent, CONVERTED, 4, 100).await;

    // Every connection comes from the balancer's address.
    let flags = ["--http-max-connections-per-address", "0"];
    let cache = threadline_tests::warm_plugin_cache().await;
    let mut nodes: Vec<ServerProcess> = (0..3)
        .map(|_| ServerProcess::start(&db.url, cache.path(), &flags))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let balancer = Balancer::start(dir.path(), &nodes.iter().map(|n| n.base.clone()).collect::<Vec<_>>()).await;
    let base = balancer.base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Visitors' and agents' sockets through the balancer: round robin puts
    // some on every node.
    let clients: Vec<Arc<Client>> = watched
        .iter()
        .map(|(chat, token)| Client::visitor(chat, token))
        .chain((0..3).map(|_| Client::agent(&admin)))
        .map(Arc::new)
        .collect();
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| tokio::spawn(c.clone().run(base.clone(), http.clone())))
        .collect();
    for c in &clients {
        c.wait_connected(Duration::from_secs(10)).await;
    }

    // Agents write in the watched chats and convert the others, each
    // request retried through the balancer until it is acknowledged.
    let acknowledged: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let writing = {
        let (http, base, admin, acknowledged) = (http.clone(), base.clone(), admin.clone(), acknowledged.clone());
        let chats: Vec<String> = watched.iter().map(|(c, _)| c.clone()).collect();
        async move {
            for i in 0..MESSAGES {
                let chat = &chats[i % chats.len()];
                let body = json!({"body": format!("Answer {i}"), "internal": false});
                let path = format!("/api/v1/chats/{chat}/messages");
                let reply = until_answered(&http, &base, &path, &admin, &body, &[StatusCode::CREATED]).await;
                acknowledged
                    .lock()
                    .unwrap()
                    .push((chat.clone(), reply["id"].as_i64().unwrap()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let converting = {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        let chats = converted.clone();
        async move {
            let mut tickets = HashMap::new();
            for chat in &chats {
                let body = json!({"visitor_email": format!("{}@example.com", &chat[chat.len() - 8..])});
                let path = format!("/api/v1/chats/{chat}/conversion");
                let ok = [StatusCode::CREATED, StatusCode::OK];
                let reply = until_answered(&http, &base, &path, &admin, &body, &ok).await;
                tickets.insert(chat.clone(), reply["id"].as_str().unwrap().to_owned());
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
            tickets
        }
    };
    let killing = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe {
            libc::kill(nodes[1].pid() as libc::pid_t, libc::SIGKILL);
        }
        Instant::now()
    };
    let ((), tickets, killed_at) = tokio::join!(writing, converting, killing);

    // Nothing acknowledged was lost: every message is in its chat.
    let mut in_chats: HashMap<String, BTreeSet<i64>> = HashMap::new();
    for (chat, token) in &watched {
        let r = http
            .get(format!("{base}/api/v1/widget/chats/{chat}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let view: Value = r.json().await.unwrap();
        let ids = view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap());
        in_chats.insert(chat.clone(), ids.collect());
    }
    for (chat, id) in acknowledged.lock().unwrap().iter() {
        assert!(
            in_chats[chat].contains(id),
            "message {id} of chat {chat} was acknowledged and lost"
        );
    }
    // Every conversion holds, one ticket a chat however often it was asked.
    for chat in &converted {
        let r = http
            .get(format!("{base}/api/v1/chats/{chat}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let view: Value = r.json().await.unwrap();
        assert_eq!(view["status"], "closed", "{view}");
        assert_eq!(view["ticket"]["id"].as_str(), Some(tickets[chat].as_str()), "{view}");
    }

    // The clients on the killed node came back through the balancer within
    // 5 s, and a visitor missed no message of their chat: what came as
    // events and what it fetched when it came back cover the chat.
    let (mut came_back, mut longest) = (0, Duration::ZERO);
    for c in &clients {
        let state = c.state.lock().unwrap();
        for gap in &state.gaps {
            assert!(*gap < Duration::from_secs(5), "a client took {gap:?} to come back");
            came_back += 1;
            longest = longest.max(*gap);
        }
        if let Kind::Visitor { chat, .. } = &c.kind {
            let missed: Vec<&i64> = in_chats[chat].difference(&state.seen).collect();
            assert!(missed.is_empty(), "the visitor of {chat} never saw {missed:?}");
        }
    }
    assert!(
        came_back > 0,
        "no socket was on the killed node (round robin over 9 sockets)"
    );
    eprintln!(
        "{came_back} sockets came back after the kill ({:?} ago), the slowest in {longest:?}",
        killed_at.elapsed()
    );

    // The node starts again where the balancer expects it, and is sent
    // requests only once it says it is ready.
    assert_eq!(
        balancer.status("n2").await.as_deref(),
        Some("DOWN"),
        "the dead node is out"
    );
    let bind = nodes[1].base.trim_start_matches("http://").to_owned();
    nodes[1] = ServerProcess::start_on(&bind, &db.url, cache.path(), &flags, &[]);
    let up = balancer.wait_up("n2", Duration::from_secs(15)).await;
    assert!(up, "the restarted node never came back into the balancer");
    let ready = http.get(format!("{}/readyz", nodes[1].base)).send().await.unwrap();
    assert_eq!(ready.text().await.unwrap(), "ready");

    for task in tasks {
        task.abort();
    }
}

/// Posts `body` to `path` through the balancer until it answers one of
/// `ok` (a node killed mid-request answers nothing, or the balancer a 502
/// or 503); the answer's JSON.
async fn until_answered(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: &Value,
    ok: &[StatusCode],
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await;
        if let Ok(r) = r {
            let status = r.status();
            if ok.contains(&status) {
                return r.json().await.unwrap();
            }
            assert!(
                status.is_server_error(),
                "{path}: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{path} was never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// HAProxy in front of the nodes, health-checking `/readyz`.
struct Balancer {
    child: std::process::Child,
    base: String,
    stats: std::path::PathBuf,
}

impl Balancer {
    async fn start(dir: &std::path::Path, nodes: &[String]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stats = dir.join("haproxy.sock");
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, base)| format!("    server n{} {} check\n", i + 1, base.trim_start_matches("http://")))
            .collect();
        let config = format!(
            "global\n    stats socket {stats} level admin\n\n{defaults}\nfrontend web\n    bind 127.0.0.1:{port}\n    \
             default_backend nodes\n\nbackend nodes\n{backend}{servers}",
            stats = stats.display(),
            defaults = DEFAULTS,
            backend = BACKEND,
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new(HAPROXY)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("HAProxy starts");
        // Owned at once, so that a panic below stops it (Drop).
        let balancer = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stats,
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{}/readyz", balancer.base)).send().await
                && r.status() == StatusCode::OK
            {
                return balancer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("HAProxy never answered on {}", balancer.base);
    }

    /// Waits until the balancer has `server` up; whether it did.
    async fn wait_up(&self, server: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.status(server).await.as_deref() == Some("UP") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// `server`'s status in the balancer's statistics (`UP`, `DOWN`, …).
    async fn status(&self, server: &str) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = tokio::net::UnixStream::connect(&self.stats).await.ok()?;
        socket.write_all(b"show stat\n").await.ok()?;
        let mut out = String::new();
        socket.read_to_string(&mut out).await.ok()?;
        // CSV: pxname, svname, …, status is the 18th column.
        out.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == "nodes" && f[1] == server)
            .map(|f| f[17].to_owned())
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the README's deployment example holds too: requests and sockets
/// over HTTP/1.1, a dead node's connection retried on another, sockets
/// kept open for an hour of quiet (the server pings every 25 s).
const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    \
                        timeout server 60s\n    timeout tunnel 1h\n    retries 3\n    option redispatch\n";
/// A node is in the rotation while `/readyz` says `ready`: checked every
/// 250 ms, out after 2 failures, back after 2 successes.
const BACKEND: &str = "    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect string ready\n    \
                       default-server inter 250ms fall 2 rise 2\n";

enum Kind {
    Visitor { chat: String, token: String },
    Agent { token: String },
}

#[derive(Default)]
struct State {
    connected: bool,
    /// Message ids seen, as events or fetched after coming back.
    seen: BTreeSet<i64>,
    /// How long each reconnection took.
    gaps: Vec<Duration>,
}

/// A console or widget's live connection as a browser keeps it: it comes
/// back when dropped and, once back, fetches what it may have missed.
struct Client {
    kind: Kind,
    state: Mutex<State>,
}

impl Client {
    fn visitor(chat: &str, token: &str) -> Self {
        Self {
            kind: Kind::Visitor {
                chat: chat.to_owned(),
                token: token.to_owned(),
            },
            state: Mutex::default(),
        }
    }

    fn agent(token: &str) -> Self {
        Self {
            kind: Kind::Agent {
                token: token.to_owned(),
            },
            state: Mutex::default(),
        }
    }

    async fn wait_connected(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.state.lock().unwrap().connected {
            assert!(
                Instant::now() < deadline,
                "a socket never connected through the balancer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn run(self: Arc<Self>, base: String, http: reqwest::Client) {
        let ws_base = base.replace("http://", "ws://");
        let (path, token) = match &self.kind {
            Kind::Visitor { chat, token } => (format!("/api/v1/widget/chats/{chat}/events"), token.clone()),
            Kind::Agent { token } => ("/api/v1/events".to_owned(), token.clone()),
        };
        let mut dropped_at: Option<Instant> = None;
        loop {
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("{ws_base}{path}")).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let token_frame = json!({ "token": token }).to_string();
            if ws.send(Message::Text(token_frame.into())).await.is_err() {
                continue;
            }
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.contains("ready") => {}
                _ => continue,
            }
            if let Some(at) = dropped_at.take() {
                self.state.lock().unwrap().gaps.push(at.elapsed());
            }
            // Subscribed first, then fetched: nothing falls between.
            self.resync(&base, &http).await;
            self.state.lock().unwrap().connected = true;
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let event: Value = serde_json::from_str(&text).unwrap_or_default();
                if event["kind"] == "resync" {
                    self.resync(&base, &http).await;
                }
                if let Some(id) = event["message_id"].as_i64() {
                    self.state.lock().unwrap().seen.insert(id);
                }
            }
            self.state.lock().unwrap().connected = false;
            dropped_at = Some(Instant::now());
        }
    }

    /// A visitor's widget fetches its chat (an agent's console would
    /// fetch its lists; this test checks visitors).
    async fn resync(&self, base: &str, http: &reqwest::Client) {
        let Kind::Visitor { chat, token } = &self.kind else {
            return;
        };
        for _ in 0..50 {
            if let Ok(r) = http
                .get(format!("{base}/api/v1/widget/chats/{chat}"))
                .bearer_auth(token)
                .send()
                .await
                && r.status() == StatusCode::OK
                && let Ok(view) = r.json::<Value>().await
            {
                let ids = view["messages"].as_array().into_iter().flatten();
                let mut state = self.state.lock().unwrap();
                state.seen.extend(ids.filter_map(|m| m["id"].as_i64()));
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
