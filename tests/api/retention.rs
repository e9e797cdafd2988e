//! Retention: a workspace's closed chats, closed tickets and mail go when
//! they pass the age its settings give, exactly those, in batches, while
//! conversions go on beside the job; other workspaces keep everything.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{Database, DatabaseConnection};
use serde_json::{Value, json};
use threadline::retention::RetentionSettings;
use threadline_tests::{TestApp, TestTenant, on_both_databases, seed, sql};

on_both_databases!(retention_deletes_exactly_what_is_past_its_age_while_conversions_go_on);

async fn count(db: &DatabaseConnection, q: &str, tenant: &str) -> i64 {
    sql::query(db, q, vec![tenant.into()]).await[0]
        .try_get_by_index(0)
        .unwrap()
}

/// Waits for the retention job's next run of `t` after `since`.
async fn next_run(app: &TestApp, t: &TestTenant, since: Option<Value>) -> Value {
    for _ in 0..200 {
        let s = app.get("/api/v1/settings", &t.admin.token).await.body;
        let r = s["retention"].clone();
        if !r["last_run_at"].is_null() && Some(&r["last_run_at"]) != since.as_ref() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the retention job did not run");
}

async fn retention_deletes_exactly_what_is_past_its_age_while_conversions_go_on(app: TestApp) {
    // Batches of 7, so a run takes many.
    let app = TestApp::builder(app.db.clone())
        .retention(RetentionSettings {
            interval: Duration::from_secs(1),
            audit_days: None,
            batch: 7,
            pause: Duration::from_millis(1),
        })
        .spawn()
        .await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    for w in [&t, &other] {
        seed::history(&db, &w.id, std::slice::from_ref(&w.admin.id), 120, 60).await;
    }
    // A mail received 40 days ago, one today.
    for n in 1..=2 {
        let mail = format!("From: ann{n}@example.com\nSubject: Hi\nMessage-ID: <r{n}@example.com>\n\nHello {n}\n");
        app.receive_mail(&t, mail).await;
    }
    sql::exec(
        &db,
        "UPDATE inbound_mails SET received_at = $1 WHERE message_id = $2",
        vec![
            (Utc::now() - chrono::Duration::days(40)).into(),
            "<r1@example.com>".into(),
        ],
    )
    .await;
    let cutoff = Utc::now() - chrono::Duration::days(30);
    let old_chats = "SELECT COUNT(*) FROM chats WHERE tenant_id = $1 AND status = 'closed' AND closed_at < $2";
    let old_tickets =
        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND status IN ('solved', 'closed') AND updated_at < $2";
    let q = |sql: &str, tenant: &str| {
        let (db, sql, tenant) = (db.clone(), sql.to_owned(), tenant.to_owned());
        async move {
            let n: i64 = sql::query(&db, &sql, vec![tenant.into(), cutoff.into()]).await[0]
                .try_get_by_index(0)
                .unwrap();
            n
        }
    };
    let (chats_before, tickets_before) = (
        count(&db, "SELECT COUNT(*) FROM chats WHERE tenant_id = $1", &t.id).await,
        count(&db, "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1", &t.id).await,
    );
    let old_tickets_n = q(old_tickets, &t.id).await;
    // Chats converted to the old tickets go with them; the rest by age.
    let old_chats_alone = q(
        "SELECT COUNT(*) FROM chats c WHERE c.tenant_id = $1 AND c.status = 'closed' AND c.closed_at < $2 \
         AND NOT EXISTS (SELECT 1 FROM tickets k WHERE k.origin_chat_id = c.id AND k.status IN ('solved', 'closed') AND k.updated_at < $2)",
        &t.id,
    )
    .await;
    let chats_of_old_tickets = q(
        "SELECT COUNT(*) FROM chats c JOIN tickets k ON k.origin_chat_id = c.id WHERE c.tenant_id = $1 \
         AND k.status IN ('solved', 'closed') AND k.updated_at < $2",
        &t.id,
    )
    .await;
    assert!(
        old_tickets_n > 20 && old_chats_alone > 5,
        "{old_tickets_n} {old_chats_alone}"
    );
    let other_before = (
        count(&db, "SELECT COUNT(*) FROM chats WHERE tenant_id = $1", &other.id).await,
        count(&db, "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1", &other.id).await,
    );

    // Bad input changes nothing.
    let r = app.settings(&t, json!({"retention": {"closed_chats_days": -1}})).await;
    r.assert_invalid("retention.closed_chats_days");
    let r = app.settings(&t, json!({"retention": {"forever": 1}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let s = app.get("/api/v1/settings", &t.admin.token).await.body;
    assert_eq!(
        s["retention"]["closed_chats_days"],
        Value::Null,
        "kept for ever by default"
    );

    // Conversions go on while the job runs.
    let converting = {
        let mut chats = Vec::new();
        for _ in 0..30 {
            chats.push(app.simple_chat(&t).await.0);
        }
        chats
    };
    let r = app
        .settings(
            &t,
            json!({"retention": {"closed_chats_days": 30, "closed_tickets_days": 30, "mail_days": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["retention"]["closed_tickets_days"], 30);
    let conversions = async {
        for (i, chat) in converting.iter().enumerate() {
            let r = app
                .convert(
                    &t.admin.token,
                    chat,
                    json!({"visitor_email": format!("c{i}@example.com")}),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "a conversion beside the job: {:?}",
                r.body
            );
        }
    };
    // The first run for the workspace is the one with the old rows to
    // delete (what the conversions make is new).
    let (_, run) = tokio::join!(conversions, next_run(&app, &t, None));
    let deleted = &run["last_run"];
    assert_eq!(deleted["tickets"], old_tickets_n, "{deleted}");
    assert_eq!(deleted["chats"], old_chats_alone, "{deleted}");
    assert_eq!(deleted["mails"], 1, "{deleted}");

    assert_eq!(q(old_chats, &t.id).await, 0);
    assert_eq!(q(old_tickets, &t.id).await, 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1", &t.id).await,
        tickets_before + 30 - old_tickets_n,
        "exactly the old tickets went"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM chats WHERE tenant_id = $1", &t.id).await,
        chats_before + 30 - old_chats_alone - chats_of_old_tickets,
        "exactly the old chats went"
    );
    for orphan in [
        "SELECT COUNT(*) FROM messages m WHERE m.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.id = m.chat_id)",
        "SELECT COUNT(*) FROM ticket_comments m WHERE m.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM tickets c WHERE c.id = m.ticket_id)",
        "SELECT COUNT(*) FROM ticket_terms m WHERE m.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM tickets c WHERE c.id = m.ticket_id)",
        "SELECT COUNT(*) FROM chat_terms m WHERE m.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.id = m.chat_id)",
        "SELECT COUNT(*) FROM visitors v WHERE v.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.visitor_id = v.id)",
    ] {
        assert_eq!(count(&db, orphan, &t.id).await, 0, "{orphan}");
    }
    let mails: Vec<String> = sql::query(
        &db,
        "SELECT message_id FROM inbound_mails WHERE tenant_id = $1",
        vec![t.id.clone().into()],
    )
    .await
    .iter()
    .map(|r| r.try_get_by_index(0).unwrap())
    .collect();
    assert_eq!(mails, ["<r2@example.com>"], "only the old mail went");
    let other_after = (
        count(&db, "SELECT COUNT(*) FROM chats WHERE tenant_id = $1", &other.id).await,
        count(&db, "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1", &other.id).await,
    );
    assert_eq!(other_before, other_after, "another workspace keeps everything");

    // 0 days: everything already closed goes at the next run (the seed
    // solves a few of its newest tickets a little in the future: those
    // stay until their time).
    let now = Utc::now();
    let r = app.settings(&t, json!({"retention": {"closed_tickets_days": 0}})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["retention"]["closed_chats_days"], 30, "the others stay");
    // The run under way may have read the settings before: the one after.
    let since = r.body["retention"]["last_run_at"].clone();
    let first = next_run(&app, &t, Some(since)).await;
    next_run(&app, &t, Some(first["last_run_at"].clone())).await;
    let left: i64 = sql::query(
        &db,
        "SELECT COUNT(*) FROM tickets WHERE tenant_id = $1 AND status IN ('solved', 'closed') AND updated_at < $2",
        vec![t.id.clone().into(), now.into()],
    )
    .await[0]
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(left, 0);
    let log = app.get("/api/v1/audit?action=settings.changed", &t.admin.token).await;
    assert_eq!(log.body.as_array().unwrap().len(), 2, "{:?}", log.body);
    assert_eq!(
        log.body[0]["detail"]["fields"],
        json!(["retention.closed_tickets_days"])
    );
}
