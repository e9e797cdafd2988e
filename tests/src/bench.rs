//! What the benchmarks share: chats to convert, and percentiles.

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
