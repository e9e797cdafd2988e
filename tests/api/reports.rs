//! Reports: each figure checked against values worked out by hand from a
//! few conversations placed at known instants of a workspace in Paris
//! (UTC+1 in November), so a chat at 23:30 UTC counts on the next day.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::{TestApp, on_both_databases, sql};

on_both_databases!(
    every_report_matches_the_figures_worked_out_by_hand,
    reports_are_for_admins_and_check_their_input,
);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn set(app: &TestApp, sql_text: &str, values: Vec<sea_orm::Value>) {
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    sql::exec(&db, sql_text, values).await;
}

/// The rows' figures of `report` from 2026-11-02 to 2026-11-04, without
/// the key, then the total.
async fn report(app: &TestApp, token: &str, name: &str) -> (Vec<Value>, Value) {
    let r = app
        .get(&format!("/api/v1/reports/{name}?from=2026-11-02&to=2026-11-04"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{name}: {:?}", r.body);
    assert_eq!(r.body["time_zone"], "Europe/Paris");
    (r.body["rows"].as_array().unwrap().clone(), r.body["total"].clone())
}

async fn every_report_matches_the_figures_worked_out_by_hand(app: TestApp) {
    let t = app.tenant("Acme").await;
    let token = &t.admin.token;
    let r = app.settings(&t, json!({"time_zone": "Europe/Paris"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let bob = app.agent(&t, "Bob").await;
    let carol = app.agent(&t, "Carol").await;
    // Noise in another workspace, at the same instants.
    let other = app.tenant("Other").await;
    let (noise, _) = app.simple_chat(&other).await;
    app.agent_says(&other.admin.token, &noise, "Hi", false).await;

    let (a, a_visitor) = app.simple_chat(&t).await;
    let (b, b_visitor) = app.simple_chat(&t).await;
    let (c, _) = app.simple_chat(&t).await;
    let (d, _) = app.simple_chat(&t).await;
    let (e, e_visitor) = app.simple_chat(&t).await;
    for (chat, agent) in [(&a, &bob), (&b, &bob), (&d, &bob), (&e, &carol)] {
        assert_eq!(
            app.agent_says(&agent.token, chat, "Hello!", false).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.post(&format!("/api/v1/chats/{c}/spam"), token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let t2 = app
        .convert(&bob.token, &a, json!({"visitor_email": "a@example.com"}))
        .await;
    assert_eq!(t2.status, StatusCode::CREATED, "{:?}", t2.body);
    for chat in [&b, &e] {
        app.post(&format!("/api/v1/chats/{chat}/close"), token, json!({})).await;
    }
    for (chat, visitor, score) in [(&a, &a_visitor, 5), (&b, &b_visitor, 3), (&e, &e_visitor, 4)] {
        let r = app
            .post(
                &format!("/api/v1/widget/chats/{chat}/rating"),
                visitor,
                json!({"score": score}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let t1 = app
        .post(
            "/api/v1/tickets",
            token,
            json!({"requester_email": "t1@example.com", "subject": "By hand", "body": "Hi", "notify": true}),
        )
        .await;
    assert_eq!(t1.status, StatusCode::CREATED, "{:?}", t1.body);
    for n in ["TK-1001", "TK-1002"] {
        let r = app
            .patch(&format!("/api/v1/tickets/{n}"), token, json!({"status": "solved"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }

    // The instants, by hand.
    for (chat, created, first) in [
        (&a, "2026-11-02T09:00:00Z", "2026-11-02T09:02:00Z"), // Paris 11-02, 120 s
        (&b, "2026-11-02T23:30:00Z", "2026-11-02T23:40:00Z"), // Paris 11-03, 600 s
        (&c, "2026-11-03T10:00:00Z", "2026-11-03T10:01:00Z"), // spam: never counted
        (&d, "2026-11-01T22:59:00Z", "2026-11-01T22:59:30Z"), // Paris 11-01: before the range
        (&e, "2026-11-05T09:00:00Z", "2026-11-05T09:01:00Z"), // after the range
    ] {
        set(
            &app,
            "UPDATE chats SET created_at = $1, first_response_at = $2 WHERE id = $3",
            vec![at(created).into(), at(first).into(), chat.as_str().into()],
        )
        .await;
    }
    set(
        &app,
        "UPDATE chats SET created_at = $1, first_response_at = $1 WHERE id = $2",
        vec![at("2026-11-03T12:00:00Z").into(), noise.as_str().into()],
    )
    .await;
    // TK-1001 (from chat a): first response met, resolution missed, a day.
    // TK-1002 (by hand): first response missed (an hour), resolution met (4 h).
    for (number, created, first, first_due, solved, solved_due) in [
        (
            1001,
            "2026-11-02T09:10:00Z",
            "2026-11-02T09:02:00Z",
            "2026-11-02T09:05:00Z",
            "2026-11-03T09:10:00Z",
            "2026-11-03T00:00:00Z",
        ),
        (
            1002,
            "2026-11-04T08:00:00Z",
            "2026-11-04T09:00:00Z",
            "2026-11-04T08:30:00Z",
            "2026-11-04T12:00:00Z",
            "2026-11-05T00:00:00Z",
        ),
    ] {
        set(
            &app,
            "UPDATE tickets SET created_at = $1, first_response_at = $2, first_response_due_at = $3,
                                solved_at = $4, resolution_due_at = $5
             WHERE tenant_id = $6 AND number = $7",
            vec![
                at(created).into(),
                at(first).into(),
                at(first_due).into(),
                at(solved).into(),
                at(solved_due).into(),
                t.id.as_str().into(),
                (number as i64).into(),
            ],
        )
        .await;
    }
    for (chat, rated) in [
        (&a, "2026-11-02T10:00:00Z"),
        (&b, "2026-11-03T08:00:00Z"),
        (&e, "2026-11-04T09:00:00Z"),
    ] {
        set(
            &app,
            "UPDATE ratings SET created_at = $1 WHERE chat_id = $2",
            vec![at(rated).into(), chat.as_str().into()],
        )
        .await;
    }

    let (rows, total) = report(&app, token, "conversations").await;
    assert_eq!(
        rows,
        [
            json!({"day": "2026-11-02", "chat": 1, "agent": 0, "total": 1}),
            json!({"day": "2026-11-03", "chat": 1, "agent": 0, "total": 1}),
            json!({"day": "2026-11-04", "chat": 0, "agent": 1, "total": 1}),
        ]
    );
    assert_eq!(total, json!({"chat": 2, "agent": 1, "total": 3}));

    let (rows, total) = report(&app, token, "first-response").await;
    assert_eq!(
        rows,
        [
            json!({"day": "2026-11-02", "count": 1, "average_seconds": 120}),
            json!({"day": "2026-11-03", "count": 1, "average_seconds": 600}),
            json!({"day": "2026-11-04", "count": 1, "average_seconds": 3600}),
        ]
    );
    assert_eq!(total, json!({"count": 3, "average_seconds": 1440}));

    let (rows, total) = report(&app, token, "resolution").await;
    assert_eq!(
        rows,
        [
            json!({"day": "2026-11-02", "count": 0, "average_seconds": null}),
            json!({"day": "2026-11-03", "count": 1, "average_seconds": 86400}),
            json!({"day": "2026-11-04", "count": 1, "average_seconds": 14400}),
        ]
    );
    assert_eq!(total, json!({"count": 2, "average_seconds": 50400}));

    let (rows, total) = report(&app, token, "sla").await;
    let sla = |fm: i64, fx: i64, rm: i64, rx: i64, p: Value| {
        json!({"first_response_met": fm, "first_response_missed": fx, "resolution_met": rm,
               "resolution_missed": rx, "met_percent": p})
    };
    let with_day = |day: &str, mut v: Value| {
        v["day"] = json!(day);
        v
    };
    assert_eq!(
        rows,
        [
            with_day("2026-11-02", sla(1, 0, 0, 0, json!(100.0))),
            with_day("2026-11-03", sla(0, 0, 0, 1, json!(0.0))),
            with_day("2026-11-04", sla(0, 1, 1, 0, json!(50.0))),
        ]
    );
    assert_eq!(total, sla(1, 1, 1, 1, json!(50.0)));

    let (rows, total) = report(&app, token, "ratings").await;
    assert_eq!(
        rows,
        [
            json!({"agent": "Bob", "agent_id": bob.id, "count": 2, "average": 4.0,
                   "score_1": 0, "score_2": 0, "score_3": 1, "score_4": 0, "score_5": 1}),
            json!({"agent": "Carol", "agent_id": carol.id, "count": 1, "average": 4.0,
                   "score_1": 0, "score_2": 0, "score_3": 0, "score_4": 1, "score_5": 0}),
        ]
    );
    assert_eq!(total["count"], 3);
    assert_eq!(total["average"], 4.0);

    // The same as CSV, for a spreadsheet.
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/reports/conversations?from=2026-11-02&to=2026-11-04&format=csv"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("text/csv"));
    assert!(header("content-disposition").contains("threadline-conversations-2026-11-02-2026-11-04.csv"));
    assert_eq!(
        r.text().await.unwrap(),
        "day,chat,agent,total\r\n2026-11-02,1,0,1\r\n2026-11-03,1,0,1\r\n2026-11-04,0,1,1\r\ntotal,2,1,3\r\n"
    );

    // The other workspace counts only its own.
    let r = app
        .get(
            "/api/v1/reports/conversations?from=2026-11-03&to=2026-11-03",
            &other.admin.token,
        )
        .await;
    assert_eq!(
        r.body["total"],
        json!({"chat": 1, "agent": 0, "total": 1}),
        "{:?}",
        r.body
    );
}

async fn reports_are_for_admins_and_check_their_input(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let token = &t.admin.token;
    let r = app.get("/api/v1/reports/conversations", &bob.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get("/api/v1/reports/everything", token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-11-05&to=2026-11-04", "to"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("format=xlsx", "format"),
    ] {
        let r = app.get(&format!("/api/v1/reports/sla?{query}"), token).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{query}");
    }
    // By default the last 30 days, every day present.
    let r = app.get("/api/v1/reports/resolution", token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 30);
    assert_eq!(r.body["total"], json!({"count": 0, "average_seconds": null}));
}
