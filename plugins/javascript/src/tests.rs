//! The rule runner natively (the component's own behaviour is tested by
//! the server's tests, through wasmtime).

use threadline_plugin_sdk::testing::{agent, candidate, chat, context};
use threadline_plugin_sdk::{Author, Error, assignment, fields, subject, summary, transcript};

use super::*;

fn hello() -> Chat<'static> {
    chat(
        "Ada",
        None,
        &[
            (Author::Visitor, "Ada", "My order #42 is late"),
            (Author::Agent, "Bob", "Sorry! Looking now."),
        ],
    )
}

fn reason(e: Error) -> String {
    match e {
        Error::Setting(s) => format!("setting {}: {}", s.key, s.reason),
        Error::Failed(m) | Error::Unsupported(m) => m,
    }
}

#[test]
fn a_subject_rule_reads_the_chat() {
    let ctx = context(&[(SOURCE, "function subject(chat) { return 'Case: ' + chat.visitor.name }")]);
    assert_eq!(
        <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap(),
        "Case: Ada"
    );
}

#[test]
fn a_transcript_rule_reads_every_message_and_the_context() {
    let source = "const transcript = (chat, context) => chat.messages
        .map((m) => `${m.author}/${m.author_name}: ${m.body}`).join('\\n') + ' ' + context.time_zone
        + ' ' + context.local_time(chat.started_at).hour + ' ' + context.local_time(chat.started_at).weekday;";
    let ctx = context(&[(SOURCE, source)]);
    // STARTED_AT_MS is a Wednesday, 10:00 UTC.
    assert_eq!(
        <JavaScript as transcript::Hook>::format(&ctx, &hello()).unwrap(),
        "visitor/Ada: My order #42 is late\nagent/Bob: Sorry! Looking now. UTC 10 3"
    );
}

#[test]
fn an_assignment_rule_picks_a_candidate_by_skill() {
    let source = "function assign(chat, agent, candidates) {
        const billing = candidates.find((c) => c.skills.includes('billing') && c.online);
        return billing || agent.id;
    }";
    let ctx = context(&[(SOURCE, source)]);
    let candidates = [
        candidate("a1", "Bob", true, 3, &["sales"]),
        candidate("a2", "Cy", true, 9, &["billing"]),
    ];
    let picked = <JavaScript as assignment::Hook>::assign(&ctx, &hello(), &agent("a1", "Bob"), &candidates).unwrap();
    assert_eq!(picked, "a2");
}

#[test]
fn summary_and_fields_rules_answer_in_their_shapes() {
    let ctx = context(&[(
        SOURCE,
        "function summary(chat) { return chat.message_count > 5 ? 'long' : null }",
    )]);
    assert_eq!(<JavaScript as summary::Hook>::summarize(&ctx, &hello()).unwrap(), None);
    let ctx = context(&[(
        SOURCE,
        "function fields(chat) { return {priority: 'high', tags: ['late'], custom: {order: 42}} }",
    )]);
    let f = <JavaScript as fields::Hook>::fields(&ctx, &hello()).unwrap();
    assert_eq!(f.priority, Some(Priority::High));
    assert_eq!(f.tags, vec!["late".to_owned()]);
    assert_eq!(f.custom, vec![("order".to_owned(), "42".to_owned())]);
    let ctx = context(&[(SOURCE, "function fields() { return {priority: 'asap'} }")]);
    let e = reason(<JavaScript as fields::Hook>::fields(&ctx, &hello()).unwrap_err());
    assert!(e.contains("priority \"asap\""), "{e}");
}

#[test]
fn a_syntax_error_is_found_at_its_line_and_column() {
    let source = "function subject(chat) {\n  return 'x' +;\n}";
    let f = check(source, "subject").unwrap_err();
    assert_eq!((f.line, f.column), (Some(2), Some(15)), "{f:?}");
    assert!(f.message.starts_with("SyntaxError"), "{f:?}");
    assert!(f.in_source);

    let f = check("function subject(chat) {\n  return 'x'\n", "subject").unwrap_err();
    assert_eq!(f.line, Some(3), "an unclosed brace points at the end: {f:?}");

    let f = check("function subjet(chat) { return 'x' }", "subject").unwrap_err();
    assert!(f.message.contains("no function named subject"), "{f:?}");
    assert!(check("let subject = function () { return 'x' }", "subject").is_ok());
}

#[test]
fn a_throw_is_a_failure_with_its_message_and_where_it_was_thrown() {
    let source = "function subject(chat) {\n  if (chat) {\n    throw new Error('no VIP list');\n  }\n}";
    let ctx = context(&[(SOURCE, source)]);
    let e = <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap_err();
    let Error::Failed(m) = e else { panic!("{e:?}") };
    assert!(m.contains("Error: no VIP list"), "{m}");
    assert!(m.contains("rule.js:3"), "the stack names the line: {m}");
}

#[test]
fn a_wrong_answer_says_what_was_returned() {
    let ctx = context(&[(SOURCE, "function subject(chat) { chat.visitor.name }")]);
    let e = reason(<JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap_err());
    assert!(
        e.contains("subject() must return a string; it returned undefined"),
        "{e}"
    );
}

#[test]
fn random_is_the_same_for_the_same_chat() {
    let ctx = context(&[(
        SOURCE,
        "function subject() { return Math.random().toFixed(6) + ' ' + Math.random().toFixed(6) }",
    )]);
    let first = <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap();
    let again = <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap();
    assert_eq!(first, again);
    let parts: Vec<&str> = first.split(' ').collect();
    assert_ne!(parts[0], parts[1]);
}

#[test]
fn a_missing_source_is_a_setting_error() {
    let e = <JavaScript as subject::Hook>::default_subject(&context(&[]), &hello()).unwrap_err();
    assert!(matches!(e, Error::Setting(ref s) if s.key == SOURCE), "{e:?}");
}

#[test]
fn a_rule_runs_in_the_context_built_ahead_and_leaves_nothing_for_the_next() {
    engine::initialize();
    let ctx = context(&[(
        SOURCE,
        "globalThis.seen = (globalThis.seen || 0) + 1; function subject() { return 'seen ' + seen }",
    )]);
    assert_eq!(
        <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap(),
        "seen 1"
    );
    // Natively the context is built again per call, as a fresh instance
    // of the snapshot starts from the built one.
    assert_eq!(
        <JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap(),
        "seen 1"
    );
}

#[test]
fn deep_recursion_is_a_clean_failure() {
    let ctx = context(&[(
        SOURCE,
        "function f(n) { return f(n + 1) + 1 }\nfunction subject() { return String(f(0)) }",
    )]);
    let e = reason(<JavaScript as subject::Hook>::default_subject(&ctx, &hello()).unwrap_err());
    assert!(
        e.starts_with("RuntimeLimitError: reached the maximum number of recursive calls"),
        "{e}"
    );
    assert!(e.contains("at f (rule.js:1:25) (×"), "one line for the recursion: {e}");
}

#[test]
fn an_event_rule_reads_the_event_and_answers_actions() {
    let source = "function ticket_updated(event, context) {
        if (event.changes.status && event.changes.status.to === 'pending') {
            return [{type: 'add_tags', tags: ['waiting']}, {type: 'note', body: 'Pending in ' + context.time_zone}];
        }
        return [];
    }";
    let event = r#"{"id": "e1", "event": "ticket_updated", "changes": {"status": {"from": "open", "to": "pending"}}}"#;
    let answer = on_event(source, "ticket_updated", event, r#"{"time_zone": "UTC"}"#).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer[0]["type"], "add_tags");
    assert_eq!(answer[1]["body"], "Pending in UTC");
    let quiet = r#"{"id": "e2", "event": "ticket_updated", "changes": {}}"#;
    assert_eq!(on_event(source, "ticket_updated", quiet, "{}").unwrap(), "[]");
    let e = on_event(
        "function ticket_updated(e) { return e.nope.deeper }",
        "ticket_updated",
        quiet,
        "{}",
    )
    .unwrap_err();
    assert!(e.message.contains("TypeError"), "{}", e.message);
}
