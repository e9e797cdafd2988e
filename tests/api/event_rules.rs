//! Rules on events: JavaScript rules and uploaded plugins of contract
//! 0.3.0 run once per event with the event's document, their actions
//! apply in their name, a rule that fails says why, and rules that answer
//! each other stop at the documented depth.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, TestTenant, on_both_databases};

use crate::automations::rule;

on_both_databases!(
    javascript_rules_act_on_events_once_in_their_name,
    a_rule_that_reassigns_on_ticket_updated_does_not_loop,
    an_uploaded_plugin_with_event_hooks_runs_as_an_automation,
);

async fn js_rule(app: &TestApp, t: &TestTenant, name: &str, event: &str, source: &str) -> String {
    rule(
        app,
        t,
        json!({"name": name, "plugin": "javascript", "event": event, "config": {"source": source}}),
    )
    .await
}

async fn javascript_rules_act_on_events_once_in_their_name(app: TestApp) {
    let t = app.tenant("Acme").await;
    // Refused: a syntax error (with where), a missing function, a plugin
    // that runs no events, an unknown event.
    let r = app
        .post(
            "/api/v1/automations",
            &t.admin.token,
            json!({"name": "x", "plugin": "javascript", "event": "ticket_created",
                   "config": {"source": "function ticket_created(e) {\n  return [;\n}"}}),
        )
        .await;
    r.assert_invalid("config.source");
    assert!(r.error_message().contains("line 2"), "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/automations",
            &t.admin.token,
            json!({"name": "x", "plugin": "javascript", "event": "ticket_created",
                   "config": {"source": "function ticket_updated(e) { return [] }"}}),
        )
        .await;
    r.assert_invalid("config.source");
    assert!(r.error_message().contains("ticket_created"), "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/automations",
            &t.admin.token,
            json!({"name": "x", "plugin": "subject-default", "event": "ticket_created", "config": {}}),
        )
        .await;
    r.assert_invalid("plugin");
    let r = app
        .post(
            "/api/v1/automations",
            &t.admin.token,
            json!({"name": "x", "plugin": "javascript", "event": "ticket_deleted",
                   "config": {"source": "function ticket_deleted() {}"}}),
        )
        .await;
    r.assert_invalid("event");

    js_rule(
        &app,
        &t,
        "Tag new",
        "ticket_created",
        "function ticket_created(event, context) {
           return [{type: 'add_tags', tags: ['new']},
                   {type: 'note', body: 'From ' + event.ticket.requester.email + ' in ' + context.time_zone}];
         }",
    )
    .await;
    js_rule(
        &app,
        &t,
        "Urgent words",
        "comment_added",
        "function comment_added(event) {
           return event.comment.body.includes('urgent') ? [{type: 'set_priority', priority: 'urgent'}] : [];
         }",
    )
    .await;
    js_rule(
        &app,
        &t,
        "Greet",
        "chat_started",
        "const chat_started = (event) => [{type: 'reply', body: 'Hello ' + event.chat.visitor.name + ', we are here.'}];",
    )
    .await;
    js_rule(
        &app,
        &t,
        "Broken",
        "ticket_updated",
        "function ticket_updated(event) { return event.nothing.here; }",
    )
    .await;

    // The chat is greeted before it is converted (a reply to a chat
    // closed meanwhile is refused, as an agent's would be).
    let (chat, _) = app.simple_chat(&t).await;
    app.events_handled().await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    app.events_handled().await;
    let ticket = app.ticket(&t.admin.token, &number).await;
    assert_eq!(ticket["tags"], json!(["new"]), "{ticket:?}");
    let notes: Vec<&Value> = ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["author"]["name"] == "Rule: Tag new")
        .collect();
    assert_eq!(notes.len(), 1, "once: {:?}", ticket["comments"]);
    assert_eq!(notes[0]["body"], "From grace@example.com in UTC");
    assert_eq!(notes[0]["internal"], true);
    let tagged = ticket["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "tags")
        .cloned()
        .expect("the tags change is in the activity");
    assert_eq!(tagged["by"]["name"], "Rule: Tag new");

    // The chat the conversion came from was greeted when it started.
    let chat_id = ticket["origin"]["chat_id"].as_str().unwrap().to_owned();
    let chat = app.chat(&t.admin.token, &chat_id).await;
    let greetings: Vec<&Value> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author_name"] == "Rule: Greet")
        .collect();
    assert_eq!(greetings.len(), 1, "{:?}", chat["messages"]);
    assert_eq!(greetings[0]["body"], "Hello Grace Hopper, we are here.");

    // Each run is in the workspace's plugin log, under its event.
    let log = app
        .get("/api/v1/plugins/logs?hook=ticket_created", &t.admin.token)
        .await;
    let runs = log.body["lines"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{:?}", log.body);
    assert_eq!(runs[0]["plugin_name"], "automation Tag new");
    assert_eq!(runs[0]["outcome"], "ok");
    assert_eq!(runs[0]["message"], "ok: 2 actions");

    // A comment's words decide; a rule that throws changes nothing.
    let c = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &t.admin.token,
            json!({"body": "This is urgent for them", "internal": true}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED);
    app.events_handled().await;
    let ticket = app.ticket(&t.admin.token, &number).await;
    assert_eq!(ticket["priority"], "urgent");
    assert_eq!(ticket["status"], "in_progress");
    // The rule that throws says why, for its admins.
    let rules = app.get("/api/v1/automations", &t.admin.token).await.body;
    let broken = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Broken")
        .cloned()
        .unwrap();
    assert!(
        broken["last_fault"].as_str().unwrap_or_default().contains("TypeError"),
        "{broken:?}"
    );
    assert!(broken["last_fault_at"].is_string());
    let fine = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Tag new")
        .cloned()
        .unwrap();
    assert!(fine["last_fault"].is_null(), "{fine:?}");
}

async fn a_rule_that_reassigns_on_ticket_updated_does_not_loop(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    // Whoever gets the ticket, the rule gives it to the other one.
    let source = format!(
        "function ticket_updated(event) {{
           if (!event.changes.assignee) return [];
           const to = event.ticket.assignee_id === '{bob}' ? '{ada}' : '{bob}';
           return [{{type: 'assign', agent_id: to}}];
         }}",
        bob = bob.id,
        ada = t.admin.id
    );
    js_rule(&app, &t, "Ping-pong", "ticket_updated", &source).await;
    // And one more rule that flips the priority on every change: with the
    // first, a cascade that stops at its documented depth.
    js_rule(
        &app,
        &t,
        "Flip",
        "ticket_updated",
        "function ticket_updated(event) {
           return [{type: 'set_priority', priority: event.ticket.priority === 'high' ? 'low' : 'high'}];
         }",
    )
    .await;
    let number = app.converted(&t, "grace@example.com").await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"assignee_id": bob.id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.events_handled().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.events_handled().await;
    let ticket = app.ticket(&t.admin.token, &number).await;
    let by_rules: Vec<&Value> = ticket["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["by"]["name"].as_str().unwrap_or_default().starts_with("Rule: "))
        .collect();
    // Depth 0 (the agent's change): both rules act; depth 1 and 2: the
    // other rule answers each; depth 3 fires no rule. Bounded, and the
    // queue is empty.
    assert!(!by_rules.is_empty() && by_rules.len() <= 8, "{by_rules:?}");
    let reassigned: Vec<&&Value> = by_rules.iter().filter(|e| e["field"] == "assignee").collect();
    assert!(!reassigned.is_empty());
    // The rule never answered its own reassignment: each of its entries
    // follows another's change.
    let ping: Vec<&&Value> = by_rules
        .iter()
        .filter(|e| e["by"]["name"] == "Rule: Ping-pong")
        .collect();
    assert!(ping.len() <= 2, "{ping:?}");
    assert_eq!(app.store.events_waiting().await.unwrap(), 0);
    // Later changes still fire the rules: it was not switched off.
    let again = app.ticket(&t.admin.token, &number).await;
    assert!(again["priority"] == "high" || again["priority"] == "low");
}

async fn an_uploaded_plugin_with_event_hooks_runs_as_an_automation(app: TestApp) {
    use threadline_tests::wasm;
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let id = app.install_plugin(&t.admin.token, "tagger", wasm::EVENTS_V3).await;
    let plugins = app.get("/api/v1/plugins", &t.admin.token).await.body;
    let listed = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["hooks"], json!([]), "event hooks only: {listed:?}");
    // A plugin without event hooks, another workspace's, or bad settings.
    let probe = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    let theirs = app.install_plugin(&other.admin.token, "tagger", wasm::EVENTS_V3).await;
    for (plugin, config, field) in [
        (probe.as_str(), json!({}), "plugin"),
        (theirs.as_str(), json!({"tag": "x"}), "plugin"),
        (id.as_str(), json!({"tag": 3}), "config.tag"),
    ] {
        let r = app
            .post(
                "/api/v1/automations",
                &t.admin.token,
                json!({"name": "x", "plugin": plugin, "event": "ticket_created", "config": config}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{plugin}: {:?}", r.body);
        r.assert_invalid(field);
    }
    rule(
        &app,
        &t,
        json!({"name": "Tagger", "plugin": id, "event": "ticket_created", "config": {"tag": "wasm"}}),
    )
    .await;
    // A failing one beside it changes nothing and stops nothing.
    rule(
        &app,
        &t,
        json!({"name": "Failing", "plugin": id, "event": "ticket_created", "config": {"tag": "no", "fail": "on purpose"}}),
    )
    .await;
    let number = app.converted(&t, "grace@example.com").await;
    app.events_handled().await;
    let ticket = app.ticket(&t.admin.token, &number).await;
    assert_eq!(ticket["tags"], json!(["wasm"]), "{ticket:?}");
    let notes: Vec<&Value> = ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["author"]["name"] == "Rule: Tagger")
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", ticket["comments"]);
    let note = notes[0]["body"].as_str().unwrap();
    assert!(
        note.starts_with(&format!("{number} for grace@example.com in UTC (")),
        "{note}"
    );
    assert_eq!(notes[0]["internal"], true);
}
