//! Purpose-built bad plugins (loop, allocate, overflow, trap, answer
//! 10 MB, name another workspace's agent), each under both failure
//! policies: a fault an operator can read, and then either the native rule
//! (`fallback`) or a 502 that changes nothing (`reject`).

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases, wasm};

use super::plugins::native;

on_both_databases!(
    loop_forever_under_reject,
    loop_forever_under_fallback,
    loop_past_the_deadline_under_reject,
    loop_past_the_deadline_under_fallback,
    alloc_unbounded_under_reject,
    alloc_unbounded_under_fallback,
    stack_overflow_under_reject,
    stack_overflow_under_fallback,
    trap_under_reject,
    trap_under_fallback,
    huge_output_under_reject,
    huge_output_under_fallback,
    foreign_agent_under_reject,
    foreign_agent_under_fallback,
    a_shadow_run_stops_at_its_overall_deadline,
);

/// One bad plugin on one hook under one policy: what every such test checks.
struct Misbehaviour {
    wasm: &'static [u8],
    name: &'static str,
    hook: &'static str,
    /// Words the recorded reason must contain (any of them).
    reason: &'static [&'static str],
    /// Limits other than the defaults.
    limits: Option<&'static str>,
}

const LOOP: Misbehaviour = Misbehaviour {
    wasm: wasm::LOOP_FOREVER,
    name: "loop-forever",
    hook: "transcript",
    reason: &["fuel"],
    limits: None,
};
/// With all the fuel a workspace may give, the wall-clock deadline stops it.
const LOOP_PAST_DEADLINE: Misbehaviour = Misbehaviour {
    wasm: wasm::LOOP_FOREVER,
    name: "loop-forever",
    hook: "transcript",
    reason: &["time limit of 100 ms"],
    limits: Some(r#"{"fuel": 20000000000, "timeout_ms": 100}"#),
};
const ALLOC: Misbehaviour = Misbehaviour {
    wasm: wasm::ALLOC_UNBOUNDED,
    name: "alloc-unbounded",
    hook: "transcript",
    reason: &["memory limit"],
    // Time enough that the memory limit always comes first: growing to
    // the cap can outlast the default 100 ms on a loaded machine, and what
    // this case tests is the memory limit.
    limits: Some(r#"{"timeout_ms": 2000}"#),
};
const STACK: Misbehaviour = Misbehaviour {
    wasm: wasm::STACK_OVERFLOW,
    name: "stack-overflow",
    hook: "subject",
    reason: &["stack overflow", "overflowed its stack"],
    limits: None,
};
const TRAP: Misbehaviour = Misbehaviour {
    wasm: wasm::TRAP,
    name: "trap",
    hook: "subject",
    // The panic's own message, from the guest's standard error.
    reason: &["it panicked: this plugin always traps"],
    limits: None,
};
const HUGE: Misbehaviour = Misbehaviour {
    wasm: wasm::HUGE_OUTPUT,
    name: "huge-output",
    hook: "transcript",
    reason: &["10485760 bytes"],
    // As for ALLOC: what is tested is the output cap, not the clock.
    limits: Some(r#"{"timeout_ms": 2000}"#),
};
const FOREIGN: Misbehaviour = Misbehaviour {
    wasm: wasm::FOREIGN_AGENT,
    name: "foreign-agent",
    hook: "assignment",
    reason: &["not an agent of this workspace"],
    limits: None,
};

async fn misbehaves(app: TestApp, bad: Misbehaviour, policy: &str) {
    let t = app.tenant("Acme").await;
    // The foreign-agent plugin names whoever its settings say: here, the
    // admin of another workspace.
    let other = app.tenant("Elsewhere").await;
    let id = app.install_plugin(&t.admin.token, bad.name, bad.wasm).await;
    app.set_pipeline(
        &t.admin.token,
        json!({ bad.hook: {"plugin": id, "policy": policy, "config": {"agent_id": other.admin.id},
                           "limits": bad.limits.map(|l| serde_json::from_str::<Value>(l).unwrap())} }),
    )
    .await;
    let (chat, _) = app.simple_chat(&t).await;
    let expected = native(&app, &t, &chat).await;

    let started = Instant::now();
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    let took = started.elapsed();
    eprintln!("{} under {policy}: answered in {took:?}", bad.name);

    let faults = app.faults(&t.admin.token).await;
    assert_eq!(faults.len(), 1, "{faults:?}");
    let fault = &faults[0];
    assert_eq!(fault["hook"], bad.hook);
    assert_eq!(fault["plugin"], id.as_str());
    assert_eq!(fault["plugin_name"], bad.name);
    assert_eq!(fault["chat_id"], chat.as_str());
    let reason = fault["reason"].as_str().unwrap();
    eprintln!("{} under {policy}: {reason}", bad.name);
    assert!(bad.reason.iter().any(|w| reason.contains(w)), "{}: {reason}", bad.name);

    match policy {
        "reject" => {
            assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
            assert_eq!(r.body["error"]["code"], "plugin_failed");
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(bad.name) && message.contains(reason), "{message}");
            assert_eq!(fault["outcome"], "rejected");
            // Nothing changed: the chat is open and unlinked, no ticket.
            let view = app.chat(&t.admin.token, &chat).await;
            assert_eq!(view["status"], "open");
            assert!(view["ticket"].is_null());
            let tickets = app.get("/api/v1/tickets", &t.admin.token).await;
            assert_eq!(tickets.body, json!([]));
        }
        "fallback" => {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            assert_eq!(fault["outcome"], "fell_back");
            assert_eq!(r.body["subject"], expected.subject.as_str());
            assert_eq!(r.body["description"], expected.transcript.as_str());
            assert_eq!(r.body["assignee"]["id"], t.admin.id.as_str());
        }
        other => unreachable!("{other}"),
    }
    // The other workspace saw none of it.
    assert!(app.faults(&other.admin.token).await.is_empty());
}

async fn loop_forever_under_reject(app: TestApp) {
    misbehaves(app, LOOP, "reject").await;
}
async fn loop_forever_under_fallback(app: TestApp) {
    misbehaves(app, LOOP, "fallback").await;
}
async fn loop_past_the_deadline_under_reject(app: TestApp) {
    misbehaves(app, LOOP_PAST_DEADLINE, "reject").await;
}
async fn loop_past_the_deadline_under_fallback(app: TestApp) {
    misbehaves(app, LOOP_PAST_DEADLINE, "fallback").await;
}
async fn alloc_unbounded_under_reject(app: TestApp) {
    misbehaves(app, ALLOC, "reject").await;
}
async fn alloc_unbounded_under_fallback(app: TestApp) {
    misbehaves(app, ALLOC, "fallback").await;
}
async fn stack_overflow_under_reject(app: TestApp) {
    misbehaves(app, STACK, "reject").await;
}
async fn stack_overflow_under_fallback(app: TestApp) {
    misbehaves(app, STACK, "fallback").await;
}
async fn trap_under_reject(app: TestApp) {
    misbehaves(app, TRAP, "reject").await;
}
async fn trap_under_fallback(app: TestApp) {
    misbehaves(app, TRAP, "fallback").await;
}
async fn huge_output_under_reject(app: TestApp) {
    misbehaves(app, HUGE, "reject").await;
}
async fn huge_output_under_fallback(app: TestApp) {
    misbehaves(app, HUGE, "fallback").await;
}
async fn foreign_agent_under_reject(app: TestApp) {
    misbehaves(app, FOREIGN, "reject").await;
}
async fn foreign_agent_under_fallback(app: TestApp) {
    misbehaves(app, FOREIGN, "fallback").await;
}

/// A shadow run over 200 chats whose candidate sleeps to its deadline on
/// every one would hold the workspace's plugin slots for minutes: it stops
/// at its overall deadline and answers with the chats it finished.
async fn a_shadow_run_stops_at_its_overall_deadline(app: TestApp) {
    let t = app.tenant("Acme").await;
    for _ in 0..200 {
        let (chat, _) = app.simple_chat(&t).await;
        let r = app
            .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let sleeper = app.install_plugin(&t.admin.token, "sleep", wasm::SLEEP).await;
    let started = Instant::now();
    let r = app
        .post(
            "/api/v1/pipeline/shadow",
            &t.admin.token,
            json!({"hooks": {"subject": {"plugin": sleeper, "limits": {"timeout_ms": 2000}}},
                   "last": 200, "hook": "subject"}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let chats = r.body["chats"].as_array().unwrap();
    // 2 s a chat: about ten fit in the run's 20 s.
    assert!(!chats.is_empty() && chats.len() < 20, "{} chats", chats.len());
    let stopped = r.body["stopped"].as_str().unwrap();
    assert_eq!(
        stopped,
        format!(
            "stopped after {} of 200 chats: a shadow run takes at most 20 s",
            chats.len()
        )
    );
    for c in chats {
        assert_eq!(c["hooks"][0]["candidate"]["fault"]["kind"], "deadline", "{c}");
    }
    // Within its deadline, not the 400 s the chats would take (the margin
    // is for the request's own work on a busy machine).
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}
