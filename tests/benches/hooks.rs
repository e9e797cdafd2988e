//! What a hook costs, native against WebAssembly against JavaScript: each
//! built-in rule run natively, as its default plugin (Rust compiled to
//! WebAssembly), and as the same rule written in JavaScript for the
//! built-in `javascript` plugin (fresh store, fuel, deadline and memory cap
//! per call, run on the plugin runtime, as in production), on chats of 0,
//! 20 and 1,000 messages. Prints medians and p99s, and what loading the
//! JavaScript plugin costs cold and from a warm cache; asserts nothing
//! about time.
//!
//! cargo bench -p threadline-tests --bench hooks
//!
//! `THREADLINE_BENCH_ONLY=transcript:1000` runs one hook at one size, ten
//! times as often (for a profiler).
//!
//! Last, an automation: a JavaScript rule on `ticket_updated` run on an
//! event's document as the dispatcher runs it, beside the JavaScript
//! conversion hooks on a chat of 20 messages.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use threadline::conversion::hooks::{AssignmentHook, Hooks, SubjectHook, SummaryHook, TranscriptHook};
use threadline::domain::MessageKind;
use threadline::domain::hooks::HookKind;
use threadline::domain::hooks::{HookAgent, HookCandidate, HookChat};
use threadline::domain::transcript::PublicMessage;
use threadline::plugins::{BUILTIN, Limits, javascript, local};

fn chat(messages: usize) -> HookChat {
    let start = DateTime::<Utc>::from_timestamp(1_795_600_000, 0).unwrap();
    let messages = (0..messages)
        .map(|i| {
            let (kind, who) = if i % 2 == 0 {
                (MessageKind::Visitor, "Ada Lovelace")
            } else {
                (MessageKind::Agent, "Bob Agent")
            };
            let body = format!("Message {i}: my order 4521 arrived damaged and I would like a refund, please.");
            PublicMessage::new(kind, who.into(), body, start + chrono::Duration::seconds(i as i64 * 20)).unwrap()
        })
        .collect();
    HookChat {
        chat_id: "bench".into(),
        subject: None,
        visitor_name: "Ada Lovelace".into(),
        visitor_email: Some("ada@example.com".into()),
        started_at: start,
        messages,
        time_zone: "UTC".into(),
        utc_offset_minutes: 0,
    }
}

/// Median and p99 of `runs` calls of `f`, after a warm-up.
fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..runs / 10 + 1 {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[runs / 2], times[runs * 99 / 100])
}

/// A hook's name, its native rule, its plugin and its JavaScript rule,
/// each as one call.
type Row<'a> = (
    &'static str,
    Box<dyn FnMut() + 'a>,
    Box<dyn FnMut() + 'a>,
    Box<dyn FnMut() + 'a>,
    &'a threadline::plugins::PluginHook,
);

// The built-in rules, written in JavaScript as an operator would.
const JS_SUBJECT: &str = "function subject(chat) {
  return chat.subject || 'Chat with ' + chat.visitor.name;
}";
const JS_TRANSCRIPT: &str = "function transcript(chat, context) {
  return chat.messages.map((m) => {
    const t = context.local_time(m.sent_at);
    const hh = String(t.hour).padStart(2, '0'), mm = String(t.minute).padStart(2, '0');
    return `[${hh}:${mm}] ${m.author_name}: ${m.body}`;
  }).join('\\n');
}";
const JS_ASSIGN: &str = "function assign(chat, agent, candidates) {
  return candidates.some((c) => c.id === agent.id) ? agent.id : candidates[0].id;
}";
const JS_EVENT: &str = "function ticket_updated(event, context) {
  if (event.changes.status && event.changes.status.to === 'pending') {
    return [{type: 'add_tags', tags: ['waiting']}, {type: 'note', body: 'Waiting on ' + event.ticket.requester.name}];
  }
  return [];
}";
const JS_SUMMARY: &str = "function summary(chat) {
  const first = chat.first_visitor_message;
  return first ? first.body.slice(0, 280) : null;
}";

fn main() {
    // Plugin calls run on the plugin runtime, as in the server: the figures
    // include the hand-over to it and back.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rt = &rt;
    let plugin = |name: &str| {
        let (_, wasm) = BUILTIN.iter().find(|(n, _)| *n == name).unwrap();
        let started = Instant::now();
        let p = local::load(wasm, name, Vec::new(), Limits::DEFAULT).unwrap();
        println!(
            "{name:<26} {:>6} KB, compiled in {:?}",
            wasm.len() / 1024,
            started.elapsed()
        );
        p
    };
    // The JavaScript plugin: pre-initialised and compiled once (cold), then
    // loaded again from the cache as a restarted server loads it.
    let cache = std::env::temp_dir().join(format!("threadline-bench-cache-{}", std::process::id()));
    let js = |hook: HookKind, source: &str| {
        rt.block_on(local::load_javascript(
            source.to_owned(),
            hook,
            javascript::LIMITS,
            Some(cache.clone()),
        ))
        .unwrap()
    };
    let started = Instant::now();
    let js_subject = js(HookKind::Subject, JS_SUBJECT);
    println!(
        "{:<26} {:>6} KB, pre-initialised and compiled in {:?} (a cold cache)",
        javascript::NAME,
        BUILTIN[4].1.len() / 1024,
        started.elapsed()
    );
    let started = Instant::now();
    let js_transcript = js(HookKind::Transcript, JS_TRANSCRIPT);
    let loaded = started.elapsed();
    let tiny = chat(3);
    let started = Instant::now();
    rt.block_on(js_transcript.transcript(&tiny)).unwrap();
    println!(
        "{:<26} loaded from the warm cache in {loaded:?}, then its first call in {:?}",
        "",
        started.elapsed()
    );
    let js_assignment = js(HookKind::Assignment, JS_ASSIGN);
    let js_summary = js(HookKind::Summary, JS_SUMMARY);
    let event_rule = rt
        .block_on(threadline::plugins::EventRule::load(
            JS_EVENT,
            threadline::domain::automation::EventKind::TicketUpdated,
            javascript::LIMITS,
            Some(cache.clone()),
        ))
        .unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    let subject = plugin("subject-default");
    let transcript = plugin("transcript-plain");
    let assignment = plugin("assign-converting-agent");
    let summary = plugin("summary-extractive");
    let native = Hooks::builtin();
    let agent = HookAgent {
        id: "a1".into(),
        name: "Bob Agent".into(),
    };
    let candidates: Vec<HookCandidate> = (0..20)
        .map(|i| HookCandidate {
            id: if i == 0 { "a1".into() } else { format!("a{}", i + 1) },
            name: format!("Agent {i}"),
            online: i % 3 != 0,
            open_tickets: i,
            skills: vec!["billing".into()],
            last_assigned_at: None,
        })
        .collect();

    println!();
    println!(
        "{:<12} {:>9} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "hook", "messages", "native p50", "wasm p50", "wasm p99", "js p50", "js p99", "js fuel"
    );
    let only = std::env::var("THREADLINE_BENCH_ONLY").ok();
    let only = only.as_deref().and_then(|o| o.split_once(':'));
    for size in [0, 20, 1000] {
        if only.is_some_and(|(_, n)| n != size.to_string()) {
            continue;
        }
        let chat = chat(size);
        let runs = if size == 1000 { 200 } else { 2000 } * if only.is_some() { 10 } else { 1 };
        let rows: [Row; 4] = [
            (
                "subject",
                Box::new(|| {
                    rt.block_on(native.subject.subject(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(subject.subject(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(js_subject.subject(&chat)).unwrap();
                }),
                &js_subject,
            ),
            (
                "transcript",
                Box::new(|| {
                    rt.block_on(native.transcript.transcript(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(transcript.transcript(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(js_transcript.transcript(&chat)).unwrap();
                }),
                &js_transcript,
            ),
            (
                "assignment",
                Box::new(|| {
                    rt.block_on(native.assignment.assignee(&chat, &agent, &candidates))
                        .unwrap();
                }),
                Box::new(|| {
                    rt.block_on(assignment.assignee(&chat, &agent, &candidates)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(js_assignment.assignee(&chat, &agent, &candidates)).unwrap();
                }),
                &js_assignment,
            ),
            (
                "summary",
                Box::new(|| {
                    rt.block_on(native.summary.summary(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(summary.summary(&chat)).unwrap();
                }),
                Box::new(|| {
                    rt.block_on(js_summary.summary(&chat)).unwrap();
                }),
                &js_summary,
            ),
        ];
        for (hook, mut n, mut w, mut j, js) in rows {
            if only.is_some_and(|(h, _)| h != hook) {
                continue;
            }
            let (native_p50, _) = measure(runs, &mut n);
            let (wasm_p50, wasm_p99) = measure(runs, &mut w);
            let (js_p50, js_p99) = measure(runs, &mut j);
            let fuel = js.take_last_cost().and_then(|c| c.fuel).unwrap_or(0);
            println!(
                "{hook:<12} {size:>9} {:>12?} {:>12?} {:>12?} {:>12?} {:>12?} {:>11.1}M",
                native_p50,
                wasm_p50,
                wasm_p99,
                js_p50,
                js_p99,
                fuel as f64 / 1e6
            );
        }
    }

    if only.is_none() {
        // An event as the dispatcher hands it to a rule.
        let document = serde_json::json!({
            "id": "0193", "event": "ticket_updated", "occurred_at": "2026-12-06T10:00:00.000Z", "actor": "agent:a1",
            "ticket": {"id": "t1", "number": "TK-1001", "subject": "Refund for order 4521", "status": "pending",
                       "priority": "normal", "assignee_id": "a1", "channel": "chat", "tags": ["refund"],
                       "custom_fields": {"plan": "pro"}, "origin_chat_id": "c1", "created_at": "2026-12-06T09:00:00.000Z",
                       "updated_at": "2026-12-06T10:00:00.000Z", "due_at": null, "first_response_at": "2026-12-06T09:01:00.000Z",
                       "requester": {"id": "r1", "name": "Ada Lovelace", "email": "ada@example.com"}},
            "changes": {"status": {"from": "in_progress", "to": "pending"}}
        });
        let twenty = chat(20);
        let (event_p50, event_p99) = measure(2000, || {
            assert_eq!(rt.block_on(event_rule.run(&document)).unwrap().len(), 2);
        });
        let (subject_p50, subject_p99) = measure(2000, || {
            rt.block_on(js_subject.subject(&twenty)).unwrap();
        });
        let (summary_p50, summary_p99) = measure(2000, || {
            rt.block_on(js_summary.summary(&twenty)).unwrap();
        });
        println!("\nJavaScript, one call (p50 / p99):");
        println!("  event rule ticket_updated      {event_p50:>10?} / {event_p99:>10?}");
        println!("  conversion hook subject, 20    {subject_p50:>10?} / {subject_p99:>10?}");
        println!("  conversion hook summary, 20    {summary_p50:>10?} / {summary_p99:>10?}");
    }
}
