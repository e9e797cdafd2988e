//! Live connections at hosted scale on one node: a `threadline serve`
//! process (SQLite) holds 10,000 visitors' sockets and 200 agents' while
//! agents write in random chats and 8 clients convert other chats. The
//! sockets come from ten loopback addresses (127.0.0.1 to .10), 1,020 each,
//! with the per-address cap raised to 1,100 (`--http-max-connections-per-address`).
//! Prints the server's RSS, how long an event takes from the request that
//! caused it to each socket it is for (the visitor's and every agent's),
//! and the conversions' latency with and without the sockets. Asserts
//! that every event arrived; nothing about time.
//!
//! cargo bench -p threadline-tests --bench sockets
//! (`THREADLINE_BENCH_VISITORS` sets the number of visitors' sockets.)

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::bench::{Api, Workspace, ms, pct};
use threadline_tests::{Backend, ServerProcess, TestDb, seed};
use tokio_tungstenite::tungstenite::Message;

const AGENTS: usize = 200;
const ADDRESSES: usize = 10;
/// Agents' messages written while the sockets are open, and how many a second.
const MESSAGES: usize = 1_000;
const MESSAGES_PER_SECOND: u64 = 50;
const CONVERSIONS: usize = 300;
const CLIENTS: usize = 8;
const MIB: u64 = 1 << 20;

/// A message: its chat and id.
type Key = (String, i64);
/// When each socket got each event: message → receipt times.
type Receipts = Arc<Mutex<HashMap<Key, Vec<Instant>>>>;
/// When each message's request was sent.
type Sent = Arc<Mutex<Vec<(Key, Instant)>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let visitors: usize = std::env::var("THREADLINE_BENCH_VISITORS")
        .ok()
        .map(|v| v.parse().expect("a number of visitors"))
        .unwrap_or(10_000);
    raise_open_file_limit();
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let cache = threadline_tests::warm_plugin_cache().await;
    let per_address = (visitors + AGENTS).div_ceil(ADDRESSES) + 80;
    let server = ServerProcess::start(
        &db.url,
        cache.path(),
        &[
            "--http-max-connections",
            &(visitors + AGENTS + 1_000).to_string(),
            "--http-max-connections-per-address",
            &per_address.to_string(),
        ],
    );
    let ws = Workspace::create(&db.url).await;
    let mut tokens = vec![ws.admin.token.clone()];
    for i in 1..AGENTS {
        tokens.push(ws.agent(i).await.token);
    }
    let live = seed::chats_with_visitors(&ws.conn, &ws.tenant_id, ws.agent_ref(), visitors, 4, 100).await;
    let to_convert = seed::chats(&ws.conn, &ws.tenant_id, ws.agent_ref(), 2 * CONVERSIONS + 64, 20, 235).await;
    let api = Api::new(&server.base, &ws.admin.token);
    let (warm, rest) = to_convert.split_at(64);
    let (alone, beside) = rest.split_at(CONVERSIONS);
    convert_all(&api, warm).await;
    let idle = server.rss() / MIB;
    let alone = convert_all(&api, alone).await;

    let port = server.base.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let receipts: Receipts = Arc::default();
    let started = Instant::now();
    let mut readers = Vec::new();
    for (i, (chat, token)) in live.iter().enumerate() {
        let path = format!("/api/v1/widget/chats/{chat}/events");
        readers.push(open(i, port, path, token.clone(), receipts.clone()).await);
    }
    for (i, token) in tokens.iter().enumerate() {
        readers.push(
            open(
                visitors + i,
                port,
                "/api/v1/events".into(),
                token.clone(),
                receipts.clone(),
            )
            .await,
        );
    }
    let opening = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_rss = server.rss() / MIB;
    println!(
        "{} sockets ({visitors} visitors', {AGENTS} agents') opened in {opening:.1?} from {ADDRESSES} addresses; \
         server RSS {idle} MiB before, {open_rss} MiB with them open (target <= 400 MB)",
        visitors + AGENTS
    );

    // Agents write in random chats at a steady rate while 8 clients convert.
    let sent: Sent = Arc::default();
    let writing = async {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / MESSAGES_PER_SECOND));
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut pending = futures::stream::FuturesUnordered::new();
        for n in 0..MESSAGES {
            tick.tick().await;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let chat = live[(rng % live.len() as u64) as usize].0.clone();
            let sent = sent.clone();
            let api = &api;
            pending.push(async move {
                let at = Instant::now();
                let id = say(api, &chat, &format!("Answer {n}")).await;
                sent.lock().unwrap().push(((chat, id), at));
            });
            while futures::FutureExt::now_or_never(pending.next()).flatten().is_some() {}
        }
        while pending.next().await.is_some() {}
    };
    let (_, beside) = tokio::join!(writing, convert_all(&api, beside));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded_rss = server.rss() / MIB;

    let receipts = receipts.lock().unwrap();
    let mut to_visitors = Vec::new();
    let mut to_agents = Vec::new();
    let mut missing = 0;
    for (key, at) in sent.lock().unwrap().iter() {
        let got = receipts.get(key).map(Vec::as_slice).unwrap_or_default();
        // The first receipt is the visitor's or an agent's: which is
        // which does not matter for the figures, only that all came.
        missing += (AGENTS + 1).saturating_sub(got.len());
        let mut times: Vec<Duration> = got.iter().map(|t| t.saturating_duration_since(*at)).collect();
        times.sort();
        if let Some(first) = times.first() {
            to_visitors.push(*first);
        }
        to_agents.extend(times);
    }
    to_visitors.sort();
    to_agents.sort();
    println!(
        "{MESSAGES} agents' messages at {MESSAGES_PER_SECOND}/s, each to its visitor and {AGENTS} agents \
         ({} deliveries, {missing} missing): from the request to its first socket p50 {} p99 {}; \
         to every socket p50 {} p99 {} (target p99 <= 50 ms)",
        to_agents.len(),
        ms(pct(&to_visitors, 50)),
        ms(pct(&to_visitors, 99)),
        ms(pct(&to_agents, 50)),
        ms(pct(&to_agents, 99)),
    );
    println!(
        "conversions, {CLIENTS} clients: without the sockets p50 {} p99 {}; beside them and the messages p50 {} p99 {}",
        ms(pct(&alone, 50)),
        ms(pct(&alone, 99)),
        ms(pct(&beside, 50)),
        ms(pct(&beside, 99)),
    );
    println!(
        "server RSS after the load: {loaded_rss} MiB (peak {} MiB)",
        threadline_tests::peak_rss_bytes(server.pid()) / MIB
    );
    assert_eq!(missing, 0, "every event reaches every socket it is for");
    for reader in readers {
        reader.abort();
    }
}

/// Opens socket `i` from loopback address `i % ADDRESSES + 1`, sends its
/// token, waits for `ready`, and records the time of each message event.
async fn open(i: usize, port: u16, path: String, token: String, receipts: Receipts) -> tokio::task::JoinHandle<()> {
    let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, (i % ADDRESSES) as u8 + 1));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    let stream = socket
        .connect(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .await
        .unwrap_or_else(|e| panic!("socket {i} from {local}: {e}"));
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    ws.send(Message::Text(json!({ "token": token }).to_string().into()))
        .await
        .unwrap();
    let ready = ws.next().await.unwrap().unwrap();
    assert!(ready.to_text().unwrap().contains("ready"), "socket {i}: {ready:?}");
    tokio::spawn(async move {
        while let Some(Ok(frame)) = ws.next().await {
            let at = Instant::now();
            let Message::Text(text) = frame else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if event["kind"] == "message_created"
                && let (Some(chat), Some(id)) = (event["chat_id"].as_str(), event["message_id"].as_i64())
            {
                receipts
                    .lock()
                    .unwrap()
                    .entry((chat.to_owned(), id))
                    .or_default()
                    .push(at);
            }
        }
    })
}

/// The soft open-file limit raised to the hard one: the bench holds one
/// end of every socket (the server raises its own).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

async fn convert_all(api: &Api, chats: &[String]) -> Vec<Duration> {
    let mut times: Vec<Duration> = futures::stream::iter(chats)
        .map(|chat| api.convert(chat))
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    times.sort();
    times
}

/// An agent's public message in `chat`; its id.
async fn say(api: &Api, chat: &str, body: &str) -> i64 {
    let path = format!("/api/v1/chats/{chat}/messages");
    let body = json!({"body": body, "internal": false});
    let (status, reply) = api.send(reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    reply["id"].as_i64().expect("the message's id")
}
