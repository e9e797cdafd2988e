//! What anyone on the internet can send: ids and cursors with control
//! characters, oversized bodies, odd spellings of the auth scheme, requests
//! refused before their body is read, names that reverse text.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    ids_with_control_characters_are_a_404_on_every_route_and_cursors_a_422,
    a_body_over_the_limit_is_a_413,
    the_bearer_scheme_is_case_insensitive,
    a_request_refused_before_its_body_is_read_closes_its_connection_cleanly,
    names_and_subjects_with_bidirectional_controls_are_refused,
    bursts_over_the_rate_limits_get_a_429_with_retry_after,
    a_visitor_token_stops_working_thirty_days_after_its_chat_closed,
);

async fn ids_with_control_characters_are_a_404_on_every_route_and_cursors_a_422(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let agent = Some(t.admin.token.as_str());
    let bad = ["%00", "abc%00def", "%0A", "%1F", "%7F"];
    for id in bad {
        let requests: Vec<(Method, String, Option<&str>)> = vec![
            (Method::GET, format!("/api/v1/chats/{id}"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/messages"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/close"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/reopen"), agent),
            (Method::GET, format!("/api/v1/chats/{id}/conversion"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/conversion"), agent),
            (Method::POST, format!("/api/v1/chats/{id}/conversion/preview"), agent),
            (Method::GET, format!("/api/v1/tickets/{id}"), agent),
            (Method::DELETE, format!("/api/v1/plugins/{id}"), agent),
            (Method::POST, format!("/api/v1/widget/{id}/chats"), None),
            (
                Method::GET,
                format!("/api/v1/widget/chats/{id}"),
                Some(visitor.as_str()),
            ),
            (
                Method::POST,
                format!("/api/v1/widget/chats/{id}/messages"),
                Some(visitor.as_str()),
            ),
            (
                Method::POST,
                format!("/api/v1/widget/chats/{id}/rating"),
                Some(visitor.as_str()),
            ),
        ];
        for (method, path, token) in requests {
            let r = app.call(method.clone(), &path, token, Some(json!({}))).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {:?}", r.body);
            assert_eq!(r.body["error"]["code"], "not_found", "{method} {path}");
        }
        for path in [
            format!("/api/v1/chats?before={id}"),
            format!("/api/v1/tickets?before={id}"),
            format!("/api/v1/plugins/faults?before={id}"),
            format!("/api/v1/chats?status=open&x{id}=1"),
        ] {
            let r = app.call(Method::GET, &path, agent, None).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {:?}", r.body);
            assert!(r.error_message().contains("control characters"), "{path}: {:?}", r.body);
        }
    }
    // Nothing changed, and the chat is still there under its real id.
    let c = app.chat(&t.admin.token, &chat).await;
    assert_eq!(c["status"], "open");
}

async fn a_body_over_the_limit_is_a_413(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let before = app.chat(&t.admin.token, &chat).await;
    let body = format!("{{\"body\": \"{}\"}}", "x".repeat(3 << 20));
    let r = app
        .client
        .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
        .bearer_auth(&t.admin.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["connection"], "close");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
    assert_eq!(app.chat(&t.admin.token, &chat).await, before, "nothing was posted");
}

async fn the_bearer_scheme_is_case_insensitive(app: TestApp) {
    let t = app.tenant("Acme").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url("/api/v1/chats"))
            .header("authorization", format!("{scheme} {}", t.admin.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    for value in ["Basic abc", "Bearer", "Bearer ", "Token x"] {
        let r = app
            .client
            .get(app.url("/api/v1/chats"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{value:?}");
    }
}

/// A 401 for a POST whose body the server never read says `Connection:
/// close`, so the client does not send its next request down a connection
/// the server is about to drop: the next request on the same client works.
async fn a_request_refused_before_its_body_is_read_closes_its_connection_cleanly(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    for _ in 0..5 {
        let r = client
            .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
            .bearer_auth("not-a-token")
            .json(&json!({"body": "x".repeat(100_000)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["connection"], "close");
        let r = client
            .get(app.url("/api/v1/chats"))
            .bearer_auth(&t.admin.token)
            .send()
            .await
            .expect("the next request on the same client goes through");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A request without a body keeps its connection.
    let r = client.get(app.url("/api/v1/chats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("connection").is_none());
}

async fn names_and_subjects_with_bidirectional_controls_are_refused(app: TestApp) {
    let t = app.tenant("Acme").await;
    let path = format!("/api/v1/widget/{}/chats", t.widget_key);
    for (body, field) in [
        (
            json!({"visitor_name": "Ada\u{202E}fdp.exe", "message": "hi"}),
            "visitor_name",
        ),
        (
            json!({"visitor_name": "Ada", "subject": "Refund \u{2067}now", "message": "hi"}),
            "subject",
        ),
    ] {
        let r = app.post_anonymous(&path, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert_eq!(r.body["error"]["field"], field);
        assert!(r.error_message().contains("bidirectional"));
    }
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(
            &t,
            &chat,
            json!({"visitor_email": "a@example.com", "subject": "Hi \u{202D}there"}),
        )
        .await;
    r.assert_invalid("subject");
    let chats = app.get("/api/v1/chats", &t.admin.token).await.body;
    assert_eq!(chats.as_array().unwrap().len(), 1, "only the plain chat was started");
}

/// The server as its own process, on each database, with the HTTP limits
/// given (the edge's timeouts and caps are the process's, so these tests
/// start one).
async fn servers(
    extra: &[&str],
) -> Vec<(
    threadline_tests::ServerProcess,
    threadline_tests::TestDb,
    tempfile::TempDir,
)> {
    let mut servers = Vec::new();
    for backend in [threadline_tests::Backend::Sqlite, threadline_tests::Backend::Postgres] {
        let Some(db) = threadline_tests::TestDb::create(backend).await else {
            continue;
        };
        let cache = threadline_tests::warm_plugin_cache().await;
        let server = threadline_tests::ServerProcess::start(&db.url, cache.path(), extra);
        servers.push((server, db, cache));
    }
    servers
}

fn connect(base: &str) -> std::net::TcpStream {
    let addr = base.strip_prefix("http://").unwrap();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// A new connection is closed without an answer to its request.
fn assert_turned_away(base: &str, which: &str) {
    let mut stream = connect(base);
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_to_close(&mut stream), "", "{which} is closed unanswered");
}

/// Reads until the server closes the connection; what it sent.
fn read_to_close(stream: &mut std::net::TcpStream) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that sends half a request head and stops must not keep a
/// SIGTERMed server alive: it exits within its shutdown timeout (2 s here),
/// where it used to wait for the client forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_head_does_not_hold_up_shutdown() {
    for (mut server, _db, _cache) in servers(&["--shutdown-timeout-secs", "2"]).await {
        let mut stream = connect(&server.base);
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        server.terminate();
        let took = server.exited_within(Duration::from_secs(15));
        let took = took.expect("the server exits despite the half-sent head");
        assert!(took < Duration::from_secs(6), "exited after {took:?}");
    }
}

/// A half-sent head, or a keep-alive connection left idle, is closed after
/// the idle timeout; a request in time is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_after_the_idle_timeout() {
    for (server, _db, _cache) in servers(&["--http-idle-timeout-secs", "1"]).await {
        let started = std::time::Instant::now();
        let mut half = connect(&server.base);
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let answer = read_to_close(&mut half);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(!answer.contains("200 OK"), "{answer}");

        let started = std::time::Instant::now();
        let mut idle = connect(&server.base);
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let answer = read_to_close(&mut idle);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}

/// Past the connection cap, new connections are closed at once; the ones
/// open are served, and once they close the server takes new ones again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_the_server_stays_usable() {
    for (server, _db, _cache) in servers(&["--http-max-connections", "3"]).await {
        let held: Vec<_> = (0..3).map(|_| connect(&server.base)).collect();
        std::thread::sleep(Duration::from_millis(200));
        assert_turned_away(&server.base, "the fourth connection");
        let mut first = held.into_iter().next().unwrap();
        first
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert!(read_to_close(&mut first).starts_with("HTTP/1.1 200 OK"));
        drop(first);
        // The other two close too (dropped with `held`'s remainder above);
        // give the server a moment to see it.
        std::thread::sleep(Duration::from_millis(300));
        let r = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// A body that arrives too slowly is a 408 after the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_a_408() {
    for (server, _db, _cache) in servers(&["--http-body-timeout-secs", "1"]).await {
        let mut stream = connect(&server.base);
        let head = "POST /api/v1/widget/wk_x/chats HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"visitor";
        stream.write_all(head.as_bytes()).unwrap();
        let started = std::time::Instant::now();
        let answer = read_to_close(&mut stream);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
}

/// With the default limits: the 101st chat from one address in a burst is
/// a 429 with `Retry-After` and writes nothing; another address, and
/// another workspace, are not held back. The 31st message of a visitor in a
/// burst likewise.
async fn bursts_over_the_rate_limits_get_a_429_with_retry_after(app: TestApp) {
    let app = TestApp::builder(app.db.clone())
        .plugins(threadline_tests::plugin_settings())
        .rates(Default::default())
        .spawn()
        .await;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let path = format!("/api/v1/widget/{}/chats", t.widget_key);
    let body = json!({"visitor_name": "Ada", "message": "hi"});
    for i in 0..100 {
        let r = app.post_anonymous(&path, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "chat {i}: {:?}", r.body);
    }
    let r = app.post_anonymous(&path, body.clone()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let chats = app.get("/api/v1/chats?limit=200", &t.admin.token).await.body;
    assert_eq!(chats.as_array().unwrap().len(), 100, "the refused chat was not made");

    // Another workspace's widget from the same address is its own bucket.
    let r = app
        .post_anonymous(&format!("/api/v1/widget/{}/chats", other.widget_key), body.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let (chat, visitor) = app.start_chat(&other, body.clone()).await;
    for i in 0..30 {
        let r = app.visitor_says(&visitor, &chat, &format!("message {i}")).await;
        assert_eq!(r.status, StatusCode::CREATED, "message {i}");
    }
    let r = app.visitor_says(&visitor, &chat, "one too many").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
}

async fn a_visitor_token_stops_working_thirty_days_after_its_chat_closed(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let path = format!("/api/v1/widget/chats/{chat}");
    let view = || app.get(&path, &visitor);
    let r = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        view().await.status,
        StatusCode::OK,
        "just closed: the visitor can still rate it"
    );

    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let closed_at = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
    let set = "UPDATE chats SET closed_at = $1 WHERE id = $2";
    threadline_tests::sql::exec(&db, set, vec![closed_at(29).into(), chat.as_str().into()]).await;
    assert_eq!(view().await.status, StatusCode::OK, "29 days after");
    threadline_tests::sql::exec(&db, set, vec![closed_at(31).into(), chat.as_str().into()]).await;
    assert_eq!(view().await.status, StatusCode::UNAUTHORIZED, "31 days after");
    let r = app.visitor_says(&visitor, &chat, "hello?").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = app
        .post(&format!("/api/v1/chats/{chat}/reopen"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(view().await.status, StatusCode::OK, "a reopened chat's visitor is back");
}

/// One address cannot hold more than its share of connections: the third
/// from the same address is closed at once, and a freed place is usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_connections() {
    for (server, _db, _cache) in servers(&["--http-max-connections-per-address", "2"]).await {
        let held: Vec<_> = (0..2).map(|_| connect(&server.base)).collect();
        std::thread::sleep(Duration::from_millis(200));
        assert_turned_away(&server.base, "the third connection");
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        let mut again = connect(&server.base);
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert!(read_to_close(&mut again).starts_with("HTTP/1.1 200 OK"));
    }
}

/// A websocket keeps its connection's place under the caps for as long as
/// it is open (an upgraded connection used to leave the count), and a
/// stopping server closes its sockets with 1001 instead of waiting for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_hold_their_place_under_the_cap_and_close_on_shutdown() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let extra = ["--http-max-connections", "2", "--shutdown-timeout-secs", "10"];
    for (mut server, db, _cache) in servers(&extra).await {
        let store = threadline::store::Store::connect(&db.url).await.unwrap();
        let email = threadline::domain::EmailAddress::parse("email", "ada@acme.test").unwrap();
        let created = store.create_tenant("Acme", "Ada", &email).await.unwrap();
        let url = format!("{}/api/v1/events", server.base.replace("http://", "ws://"));
        let mut sockets = Vec::new();
        for _ in 0..2 {
            let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
            let frame = serde_json::json!({ "token": created.admin.token }).to_string();
            socket.send(Message::Text(frame.into())).await.unwrap();
            let ready = socket.next().await.unwrap().unwrap();
            assert_eq!(ready.into_text().unwrap().as_str(), r#"{"kind":"ready"}"#);
            sockets.push(socket);
        }
        assert_turned_away(&server.base, "a third connection beside two websockets");

        server.terminate();
        for mut socket in sockets {
            let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("closed within 5 s");
            match closed {
                Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
        let took = server.exited_within(Duration::from_secs(15)).expect("the server exits");
        assert!(took < Duration::from_secs(5), "exited after {took:?}");
    }
}
