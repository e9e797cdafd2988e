//! Automations: the built-in timed rules act at their time, on a clock the
//! tests move (never by sleeping), once, in the rule's name in the
//! activity; `sla_breached` events fire once per target; bad settings are
//! refused with the field named.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::webhooks::Receiver;
use threadline_tests::{TestApp, TestTenant, on_both_databases};

on_both_databases!(
    close_pending_closes_tickets_left_pending_at_its_time,
    escalate_before_breach_acts_before_the_target_and_breaches_fire_once,
    chat_wait_reply_answers_a_waiting_chat_once,
    rules_are_checked_and_kept_per_workspace,
    javascript_rules_act_on_events_once_in_their_name,
    a_rule_that_reassigns_on_ticket_updated_does_not_loop,
    an_uploaded_plugin_with_event_hooks_runs_as_an_automation,
);

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn rule(app: &TestApp, t: &TestTenant, body: Value) -> String {
    let r = app.post("/api/v1/automations", &t.admin.token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn set_status(app: &TestApp, t: &TestTenant, number: &str, status: &str) {
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"status": status}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn close_pending_closes_tickets_left_pending_at_its_time(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let id = rule(
        &app,
        &t,
        json!({"name": "Close stale", "plugin": "close-pending", "config": {"days": 2}}),
    )
    .await;
    let pending = app.converted(&t, "p@example.com").await;
    let working = app.converted(&t, "w@example.com").await;
    let theirs = app.converted(&other, "o@example.com").await;
    set_status(&app, &t, &pending, "pending").await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{theirs}"),
            &other.admin.token,
            json!({"status": "pending"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // A day on: not yet.
    assert_eq!(app.run_schedule_after(DAY).await.acted, 0);
    assert_eq!(app.ticket(&t.admin.token, &pending).await["status"], "pending");
    // Two days and more since it went pending: closed, in the rule's name.
    assert_eq!(app.run_schedule_after(DAY + HOUR).await.acted, 1);
    let ticket = app.ticket(&t.admin.token, &pending).await;
    assert_eq!(ticket["status"], "closed");
    let change = ticket["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "status" && e["to"] == "closed")
        .cloned()
        .expect("the close is in the activity");
    assert_eq!(change["by"]["name"], "Rule: Close stale");
    assert_eq!(change["by"]["id"], format!("rule:{id}"));
    // The others stay: not pending, or another workspace's.
    assert_eq!(app.ticket(&t.admin.token, &working).await["status"], "in_progress");
    assert_eq!(app.ticket(&other.admin.token, &theirs).await["status"], "pending");
    // Once: the next run finds nothing.
    assert_eq!(app.run_schedule_after(HOUR).await.acted, 0);

    // days: 0 closes at the next run; a disabled rule does nothing.
    let now = app.converted(&t, "n@example.com").await;
    set_status(&app, &t, &now, "pending").await;
    let r = app
        .patch(
            &format!("/api/v1/automations/{id}"),
            &t.admin.token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.run_schedule_after(3 * DAY).await.acted, 0);
    let r = app
        .patch(
            &format!("/api/v1/automations/{id}"),
            &t.admin.token,
            json!({"enabled": true, "config": {"days": 0}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["config"], json!({"days": 0}));
    assert_eq!(app.run_schedule_after(Duration::from_secs(1)).await.acted, 1);
    assert_eq!(app.ticket(&t.admin.token, &now).await["status"], "closed");
}

async fn escalate_before_breach_acts_before_the_target_and_breaches_fire_once(app: TestApp) {
    let t = app.tenant("Acme").await;
    let lead = app.agent(&t, "Lead").await;
    let s = app
        .settings(
            &t,
            json!({"sla_first_response_minutes": 60, "sla_resolution_minutes": 240}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let receiver = Receiver::start().await;
    let w = app
        .post(
            "/api/v1/webhooks",
            &t.admin.token,
            json!({"url": receiver.url, "events": ["sla_breached"]}),
        )
        .await;
    assert_eq!(w.status, StatusCode::CREATED);
    rule(
        &app,
        &t,
        json!({"name": "Escalate", "plugin": "escalate-before-breach",
               "config": {"minutes": 30, "assignee_id": lead.id, "priority": "urgent", "note": "About to breach"}}),
    )
    .await;
    // A ticket made by hand: its first response is due in an hour.
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            json!({"requester_email": "r@example.com", "requester_name": "Rae", "subject": "Help", "body": "Please"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();

    // 20 minutes in, 40 before the target: nothing.
    assert_eq!(app.run_schedule_after(Duration::from_secs(20 * 60)).await.acted, 0);
    assert_eq!(app.ticket(&t.admin.token, &number).await["priority"], "normal");
    // 35 minutes in, 25 before: escalated, once.
    let run = app.run_schedule_after(Duration::from_secs(15 * 60)).await;
    assert_eq!((run.acted, run.breaches), (1, 0));
    let ticket = app.ticket(&t.admin.token, &number).await;
    assert_eq!(ticket["priority"], "urgent");
    assert_eq!(ticket["assignee"]["id"], lead.id.as_str());
    let note = ticket["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["body"] == "About to breach")
        .cloned()
        .expect("the note is there");
    assert_eq!(note["internal"], true);
    let by_rule: Vec<&Value> = ticket["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["by"]["name"] == "Rule: Escalate")
        .collect();
    assert_eq!(by_rule.len(), 2, "{:?}", ticket["activity"]);
    assert_eq!(app.run_schedule_after(Duration::from_secs(60)).await.acted, 0);

    // Past the target: one sla_breached event, whatever the runs.
    let run = app.run_schedule_after(HOUR).await;
    assert_eq!(run.breaches, 1);
    assert_eq!(app.run_schedule_after(HOUR).await.breaches, 0);
    let got = receiver.wait_for(1, Some("sla_breached")).await;
    assert_eq!(got[0].body["ticket"]["number"], number.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.accepted().await.len(), 1);
}

async fn chat_wait_reply_answers_a_waiting_chat_once(app: TestApp) {
    let t = app.tenant("Acme").await;
    rule(
        &app,
        &t,
        json!({"name": "Hold on", "plugin": "chat-wait-reply",
               "config": {"minutes": 5, "message": "Thanks for waiting: someone will be with you shortly."}}),
    )
    .await;
    let (waiting, _) = app.simple_chat(&t).await;
    let (answered, _) = app.simple_chat(&t).await;
    let r = app
        .agent_says(&t.admin.token, &answered, "Hi, how can I help?", false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    assert_eq!(app.run_schedule_after(Duration::from_secs(4 * 60)).await.acted, 0);
    assert_eq!(app.run_schedule_after(Duration::from_secs(2 * 60)).await.acted, 1);
    let chat = app.chat(&t.admin.token, &waiting).await;
    let messages = chat["messages"].as_array().unwrap();
    let reply = messages.last().unwrap();
    assert_eq!(reply["author_name"], "Rule: Hold on");
    assert_eq!(reply["kind"], "agent");
    assert!(reply["body"].as_str().unwrap().starts_with("Thanks for waiting"));
    // A rule's answer is not a person's first response.
    assert!(chat["first_response_at"].is_null(), "{chat:?}");
    // Once per chat.
    assert_eq!(app.run_schedule_after(HOUR).await.acted, 0);
    let again = app.chat(&t.admin.token, &waiting).await;
    assert_eq!(again["messages"].as_array().unwrap().len(), messages.len());
}

async fn rules_are_checked_and_kept_per_workspace(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let bad = [
        (
            json!({"name": "x", "plugin": "close-pending", "config": {"days": -1}}),
            "config.days",
        ),
        (
            json!({"name": "x", "plugin": "close-pending", "config": {}}),
            "config.days",
        ),
        (
            json!({"name": "x", "plugin": "close-pending", "config": {"days": 1, "when": 2}}),
            "config.when",
        ),
        (
            json!({"name": "x", "plugin": "escalate-before-breach", "config": {"minutes": 5}}),
            "config",
        ),
        (
            json!({"name": "x", "plugin": "escalate-before-breach", "config": {"minutes": 5, "assignee_id": other.admin.id}}),
            "config.assignee_id",
        ),
        (
            json!({"name": "x", "plugin": "chat-wait-reply", "config": {"minutes": 5}}),
            "config.message",
        ),
        (
            json!({"name": "", "plugin": "close-pending", "config": {"days": 1}}),
            "name",
        ),
        (
            json!({"name": "x", "plugin": "close-pending", "event": "ticket_created", "config": {"days": 1}}),
            "event",
        ),
        (
            json!({"name": "x", "plugin": "no-such-plugin", "event": "ticket_created", "config": {}}),
            "plugin",
        ),
    ];
    for (body, field) in bad {
        let r = app.post("/api/v1/automations", &t.admin.token, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        r.assert_invalid(field);
    }
    assert_eq!(app.get("/api/v1/automations", &t.admin.token).await.body, json!([]));
    let id = rule(
        &app,
        &t,
        json!({"name": "Close stale", "plugin": "close-pending", "config": {"days": 3}}),
    )
    .await;
    let got = app.get(&format!("/api/v1/automations/{id}"), &t.admin.token).await;
    assert_eq!(got.body["event"], "schedule");
    assert_eq!(got.body["enabled"], true);
    // Another workspace neither sees nor changes it; agents see nothing.
    for (method, path) in [
        ("GET", format!("/api/v1/automations/{id}")),
        ("DELETE", format!("/api/v1/automations/{id}")),
    ] {
        let r = if method == "GET" {
            app.get(&path, &other.admin.token).await
        } else {
            app.delete(&path, &other.admin.token).await
        };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let agent = app.agent(&t, "Bob").await;
    assert_eq!(
        app.get("/api/v1/automations", &agent.token).await.status,
        StatusCode::FORBIDDEN
    );
    // A bad change changes nothing.
    let r = app
        .patch(
            &format!("/api/v1/automations/{id}"),
            &t.admin.token,
            json!({"config": {"days": "soon"}}),
        )
        .await;
    r.assert_invalid("config.days");
    assert_eq!(
        app.get(&format!("/api/v1/automations/{id}"), &t.admin.token).await.body["config"],
        json!({"days": 3})
    );
    assert_eq!(
        app.delete(&format!("/api/v1/automations/{id}"), &t.admin.token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/api/v1/automations", &t.admin.token).await.body, json!([]));
}

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
