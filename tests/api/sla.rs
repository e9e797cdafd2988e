//! Service level targets: due times count from the chat's start and carry
//! the chat's first response over, so converting never resets them; the
//! ticket says when a target was missed; the list sorts and filters by due.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use sea_orm::Database;
use serde_json::{Value, json};
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    due_times_count_from_the_chat_and_follow_the_ticket_through_its_work,
    the_ticket_list_sorts_and_filters_by_due,
    bad_targets_are_refused_and_new_ones_leave_existing_tickets_alone,
);

/// A chat that started `minutes_ago`, converted; its ticket's number.
async fn converted_started(app: &TestApp, t: &TestTenant, minutes_ago: i64, answered: bool) -> String {
    let (chat, _) = app.simple_chat(t).await;
    if answered {
        app.agent_says(&t.admin.token, &chat, "Hello!", false).await;
    }
    let db = Database::connect(&app.db.url).await.unwrap();
    let started = Utc::now() - Duration::minutes(minutes_ago);
    sql::exec(
        &db,
        "UPDATE chats SET created_at = $1 WHERE id = $2",
        vec![started.into(), chat.clone().into()],
    )
    .await;
    let r = app
        .admin_converts(t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["number"].as_str().unwrap().to_owned()
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a time: {v}")).parse().unwrap()
}

async fn patch(app: &TestApp, t: &TestTenant, number: &str, body: Value) {
    let r = app
        .patch(&format!("/api/v1/tickets/{number}"), &t.admin.token, body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn due_times_count_from_the_chat_and_follow_the_ticket_through_its_work(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .settings(
            &t,
            json!({"sla_first_response_minutes": 60, "sla_resolution_minutes": 480}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["sla_first_response_minutes"], 60);
    assert_eq!(r.body["sla_resolution_minutes"], 480);

    // The chat began two hours ago and nobody answered: the ticket, made
    // now, is already late on its first response.
    let number = converted_started(&app, &t, 120, false).await;
    let tk = app.ticket(&t.admin.token, &number).await;
    let sla = &tk["sla"];
    let fr_due = at(&sla["first_response_due_at"]);
    let res_due = at(&sla["resolution_due_at"]);
    let expected_fr = Utc::now() - Duration::minutes(60);
    assert!((fr_due - expected_fr).num_seconds().abs() < 30, "{sla}");
    assert_eq!(res_due - fr_due, Duration::minutes(420), "{sla}");
    assert_eq!(sla["first_response_breached_at"], sla["first_response_due_at"]);
    assert!(sla["resolution_breached_at"].is_null(), "{sla}");
    assert_eq!(sla["next_due_at"], sla["first_response_due_at"]);

    // The first reply comes late: still breached; the resolution is next.
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &t.admin.token,
            json!({"body": "Sorry for the wait"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let sla = &r.body["sla"];
    assert_eq!(sla["first_response_breached_at"], sla["first_response_due_at"]);
    assert_eq!(sla["next_due_at"], sla["resolution_due_at"]);

    // Solved in time: nothing is due, nothing breached; worked again, the
    // resolution target is back.
    patch(&app, &t, &number, json!({"status": "solved"})).await;
    let sla = app.ticket(&t.admin.token, &number).await["sla"].clone();
    assert!(sla["next_due_at"].is_null(), "{sla}");
    assert!(sla["solved_at"].is_string(), "{sla}");
    assert!(sla["resolution_breached_at"].is_null(), "{sla}");
    patch(&app, &t, &number, json!({"status": "open"})).await;
    let sla = app.ticket(&t.admin.token, &number).await["sla"].clone();
    assert!(sla["solved_at"].is_null(), "{sla}");
    assert_eq!(sla["next_due_at"], sla["resolution_due_at"]);

    // A chat answered in time carries its first response over: converting
    // does not make the ticket wait for another.
    let number = converted_started(&app, &t, 10, true).await;
    let sla = app.ticket(&t.admin.token, &number).await["sla"].clone();
    assert!(sla["first_response_breached_at"].is_null(), "{sla}");
    assert_eq!(sla["next_due_at"], sla["resolution_due_at"], "{sla}");
}

async fn list(app: &TestApp, t: &TestTenant, query: &str) -> (Vec<String>, Option<String>) {
    let r = app.get(&format!("/api/v1/tickets?{query}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
    let numbers = r.each("number");
    let next = r.headers.get("link").map(|l| {
        l.to_str()
            .unwrap()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned()
    });
    (numbers, next)
}

async fn the_ticket_list_sorts_and_filters_by_due(app: TestApp) {
    let t = app.tenant("Acme").await;
    // Without targets nothing is due.
    let untimed = converted_started(&app, &t, 0, false).await;
    assert_eq!(list(&app, &t, "sort=due").await.0, Vec::<String>::new());
    app.settings(&t, json!({"sla_first_response_minutes": 30})).await;
    let fresh = converted_started(&app, &t, 5, false).await; // due in 25 min
    let late = converted_started(&app, &t, 90, false).await; // 60 min overdue
    let later = converted_started(&app, &t, 40, false).await; // 10 min overdue
    let answered = converted_started(&app, &t, 90, true).await; // met: nothing due
    let (all, _) = list(&app, &t, "sort=due").await;
    assert_eq!(all, vec![late.clone(), later.clone(), fresh.clone()]);
    assert!(!all.contains(&untimed) && !all.contains(&answered));
    let (overdue, _) = list(&app, &t, "breached=true").await;
    assert_eq!(overdue, vec![late.clone(), later.clone()]);
    // A page at a time, following the Link header.
    let (page, mut next) = list(&app, &t, "sort=due&limit=1").await;
    let mut seen = page;
    while let Some(url) = next {
        assert!(seen.len() <= all.len(), "the pages repeat: {seen:?}");
        let query = url.split_once('?').unwrap().1.to_owned();
        let (page, more) = list(&app, &t, &query).await;
        seen.extend(page);
        next = more;
    }
    assert_eq!(seen, all);
    // Solving takes a ticket off the due list.
    patch(&app, &t, &late, json!({"status": "solved"})).await;
    assert_eq!(list(&app, &t, "breached=true").await.0, vec![later]);
    for bad in ["sort=soon", "breached=yes", "sort=due&before=TK-1001"] {
        let r = app.get(&format!("/api/v1/tickets?{bad}"), &t.admin.token).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", r.body);
    }
}

async fn bad_targets_are_refused_and_new_ones_leave_existing_tickets_alone(app: TestApp) {
    let t = app.tenant("Acme").await;
    app.settings(&t, json!({"sla_resolution_minutes": 60})).await;
    let number = converted_started(&app, &t, 0, false).await;
    let before = app.ticket(&t.admin.token, &number).await["sla"].clone();
    for (body, field) in [
        (json!({"sla_first_response_minutes": 0}), "sla_first_response_minutes"),
        (json!({"sla_resolution_minutes": 525_601}), "sla_resolution_minutes"),
        (
            json!({"sla_first_response_minutes": 30, "sla_resolution_minutes": -5}),
            "sla_resolution_minutes",
        ),
    ] {
        let r = app.settings(&t, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}");
    }
    let r = app.settings(&t, json!({"sla_first_response_minutes": "soon"})).await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    let now = app.get("/api/v1/settings", &t.admin.token).await.body;
    assert!(now["sla_first_response_minutes"].is_null(), "nothing changed: {now}");
    assert_eq!(now["sla_resolution_minutes"], 60);
    // New targets are for new tickets; null removes one.
    let r = app
        .settings(
            &t,
            json!({"sla_resolution_minutes": null, "sla_first_response_minutes": 15}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["sla_resolution_minutes"].is_null());
    assert_eq!(app.ticket(&t.admin.token, &number).await["sla"], before);
    // Agents who are not admins cannot change them.
    let bob = app.agent(&t, "Bob").await;
    let r = app
        .put("/api/v1/settings", &bob.token, json!({"sla_resolution_minutes": 5}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
