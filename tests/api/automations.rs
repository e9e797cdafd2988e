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
);

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

pub(crate) async fn rule(app: &TestApp, t: &TestTenant, body: Value) -> String {
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
