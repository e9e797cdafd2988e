//! Agents work tickets: status along the documented transitions, assignee,
//! priority; every change is kept in the ticket's activity, and the
//! assignees' open-ticket counts follow.

use reqwest::{Method, StatusCode};
use sea_orm::Database;
use serde_json::{Value, json};
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    a_ticket_moves_through_its_statuses_and_keeps_its_activity,
    bad_ticket_changes_are_refused_and_change_nothing,
    the_ticket_list_filters_by_status_assignee_and_requester,
    reopening_the_chat_opens_its_settled_ticket_again,
    an_agent_lists_whom_tickets_can_be_assigned_to,
    a_change_from_a_stale_page_is_refused_and_names_who_changed_what,
    tags_and_custom_fields_are_edited_checked_and_kept_in_the_activity,
);

async fn converted(app: &TestApp, t: &TestTenant) -> String {
    let (chat, _) = app.simple_chat(t).await;
    let r = app
        .admin_converts(t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["number"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, token: &str, number: &str, body: Value) -> threadline_tests::Reply {
    app.patch(&format!("/api/v1/tickets/{number}"), token, body).await
}

async fn open_tickets(app: &TestApp, agent_id: &str) -> i64 {
    let db = Database::connect(&app.db.url).await.unwrap();
    let rows = sql::query(
        &db,
        "SELECT open_tickets FROM agents WHERE id = $1",
        vec![agent_id.into()],
    )
    .await;
    rows[0].try_get("", "open_tickets").unwrap()
}

async fn a_ticket_moves_through_its_statuses_and_keeps_its_activity(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let number = converted(&app, &t).await;
    assert_eq!(open_tickets(&app, &t.admin.id).await, 1);

    // Any agent of the workspace works tickets.
    let r = patch(
        &app,
        &bob.token,
        &number,
        json!({"status": "pending", "priority": "urgent"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["priority"], "urgent");

    let r = patch(&app, &t.admin.token, &number, json!({"assignee_id": bob.id})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["assignee"]["name"], "Bob");
    assert_eq!(
        open_tickets(&app, &t.admin.id).await,
        0,
        "the count moved with the ticket"
    );
    assert_eq!(open_tickets(&app, &bob.id).await, 1);

    let r = patch(&app, &bob.token, &number, json!({"status": "solved"})).await;
    assert_eq!(r.body["status"], "solved");
    assert_eq!(open_tickets(&app, &bob.id).await, 0, "a solved ticket is not open");
    // A solved ticket reopens.
    let r = patch(&app, &bob.token, &number, json!({"status": "open"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(open_tickets(&app, &bob.id).await, 1);

    // Nothing to change: no activity.
    let r = patch(
        &app,
        &bob.token,
        &number,
        json!({"status": "open", "priority": "urgent"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let r = patch(&app, &bob.token, &number, json!({"assignee_id": null})).await;
    assert!(r.body["assignee"].is_null(), "{:?}", r.body);
    assert_eq!(open_tickets(&app, &bob.id).await, 0);

    let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
    let activity: Vec<(String, Value, Value, String)> = r.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["from"].clone(),
                e["to"].clone(),
                e["by"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let s = |v: &str| json!(v);
    assert_eq!(
        activity,
        vec![
            ("status".into(), s("in_progress"), s("pending"), "Bob".into()),
            ("priority".into(), s("normal"), s("urgent"), "Bob".into()),
            ("assignee".into(), s(&t.admin.id), s(&bob.id), "Ada Admin".into()),
            ("status".into(), s("pending"), s("solved"), "Bob".into()),
            ("status".into(), s("solved"), s("open"), "Bob".into()),
            ("assignee".into(), s(&bob.id), Value::Null, "Bob".into()),
        ]
    );
    // The list shows tickets without their activity.
    let r = app.get("/api/v1/tickets", &t.admin.token).await;
    assert!(r.body[0].get("activity").is_none());

    // Closed is final.
    let r = patch(&app, &bob.token, &number, json!({"status": "closed"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for body in [
        json!({"status": "open"}),
        json!({"priority": "low"}),
        json!({"assignee_id": bob.id}),
    ] {
        let r = patch(&app, &bob.token, &number, body.clone()).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{body}: {:?}", r.body);
    }
}

async fn bad_ticket_changes_are_refused_and_change_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let number = converted(&app, &t).await;
    for (body, field) in [
        (json!({"status": "done"}), "status"),
        (json!({"priority": "asap"}), "priority"),
        (
            json!({"assignee_id": other.admin.id, "status": "solved"}),
            "assignee_id",
        ),
    ] {
        let r = patch(&app, &t.admin.token, &number, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}");
    }
    let r = patch(&app, &t.admin.token, &number, json!({"colour": "red"})).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown field: {:?}",
        r.body
    );
    let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
    assert_eq!(
        r.body["status"], "in_progress",
        "the refused change with a valid status changed nothing"
    );
    assert_eq!(r.body["activity"], json!([]));

    let r = patch(&app, &other.admin.token, &number, json!({"status": "solved"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another workspace's ticket");
    let r = patch(&app, &t.admin.token, "TK-999999", json!({"status": "solved"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{number}"),
            None,
            Some(json!({"status": "solved"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn the_ticket_list_filters_by_status_assignee_and_requester(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let mut numbers = Vec::new();
    for _ in 0..5 {
        numbers.push(converted(&app, &t).await);
    }
    for n in &numbers[..3] {
        let r = patch(
            &app,
            &t.admin.token,
            n,
            json!({"assignee_id": bob.id, "status": "pending"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let listed = |query: String| {
        let (app, token) = (&app, t.admin.token.clone());
        async move {
            let r = app.get(&format!("/api/v1/tickets?{query}"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
            let numbers: Vec<String> = r.each("number");
            (numbers, r.headers.get("link").map(|l| l.to_str().unwrap().to_owned()))
        }
    };
    let (pending, _) = listed("status=pending".into()).await;
    assert_eq!(pending, [numbers[2].clone(), numbers[1].clone(), numbers[0].clone()]);
    let (bobs, _) = listed(format!("assignee={}", bob.id)).await;
    assert_eq!(bobs, pending);
    let (in_progress, _) = listed("status=in_progress".into()).await;
    assert_eq!(in_progress, [numbers[4].clone(), numbers[3].clone()]);

    // Pages keep their filter.
    let (first, link) = listed(format!("assignee={}&limit=2", bob.id)).await;
    assert_eq!(first, [numbers[2].clone(), numbers[1].clone()]);
    let link = link.expect("a next link");
    assert!(link.contains(&format!("assignee={}", bob.id)), "{link}");
    let next = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
    let r = app.get(&next, &t.admin.token).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["number"], numbers[0].as_str());

    let ticket = app
        .get(&format!("/api/v1/tickets/{}", numbers[0]), &t.admin.token)
        .await
        .body;
    let requester = ticket["requester"]["id"].as_str().unwrap().to_owned();
    let (theirs, _) = listed(format!("requester={requester}")).await;
    assert_eq!(theirs.len(), 5, "the same visitor e-mail: one requester");

    for (query, field) in [
        ("status=done", "status"),
        ("assignee=bob", "assignee"),
        ("requester=x", "requester"),
    ] {
        let r = app.get(&format!("/api/v1/tickets?{query}"), &t.admin.token).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.body["error"]["field"], field);
    }
}

async fn reopening_the_chat_opens_its_settled_ticket_again(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let reopen = |chat: String| {
        let app = &app;
        let token = bob.token.clone();
        async move {
            let r = app.post_empty(&format!("/api/v1/chats/{chat}/reopen"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
    };
    for (status, after) in [
        ("solved", "open"),
        ("pending", "open"),
        ("in_progress", "in_progress"),
        ("closed", "closed"),
    ] {
        let (chat, _) = app.simple_chat(&t).await;
        let r = app
            .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
            .await;
        let number = r.body["number"].as_str().unwrap().to_owned();
        if status != "in_progress" {
            let r = patch(&app, &t.admin.token, &number, json!({"status": status})).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
        reopen(chat.clone()).await;
        let r = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await;
        assert_eq!(r.body["status"], after, "a {status} ticket whose chat reopens");
        assert_eq!(r.body["origin"]["chat_id"], chat.as_str(), "the link stays");
        if status != after {
            let last = r.body["activity"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["field"], "status");
            assert_eq!(last["from"], status);
            assert_eq!(last["to"], "open");
            assert_eq!(last["by"]["id"], bob.id.as_str(), "{last}");
        }
    }
}

async fn an_agent_lists_whom_tickets_can_be_assigned_to(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let other = app.tenant("Other").await;
    let r = app.get("/api/v1/agents", &bob.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![t.admin.id.as_str(), bob.id.as_str()],
        "this workspace's agents only"
    );
    assert_eq!(r.body[1]["name"], "Bob");
    let r = app.get("/api/v1/agents", &other.admin.token).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
}

async fn a_change_from_a_stale_page_is_refused_and_names_who_changed_what(app: TestApp) {
    let t = app.tenant("Acme").await;
    let ben = app.agent(&t, "Ben").await;
    let number = converted(&app, &t).await;
    let path = format!("/api/v1/tickets/{number}");
    // Ada's page loads the ticket; Ben then solves it, and comments.
    let seen = app.ticket(&t.admin.token, &number).await["updated_at"].clone();
    let r = app.patch(&path, &ben.token, json!({"status": "solved"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.post(
        &format!("{path}/comments"),
        &ben.token,
        json!({"body": "Done", "internal": true}),
    )
    .await;

    // Ada's Save of the status, from her stale page: refused, saying who
    // and what; nothing changes.
    let r = app
        .patch(&path, &t.admin.token, json!({"status": "pending", "seen_at": seen}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let message = r.error_message();
    assert!(
        message.contains("Ben changed status from in progress to solved"),
        "{message}"
    );
    let now = app.ticket(&t.admin.token, &number).await;
    assert_eq!(now["status"], "solved");
    assert_eq!(now["activity"].as_array().unwrap().len(), 1);

    // A field nobody else touched saves (a comment is no conflict), and so
    // does the status from a fresh look, or without `seen_at` (scripts).
    let r = app
        .patch(&path, &t.admin.token, json!({"priority": "high", "seen_at": seen}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let fresh = r.body["updated_at"].clone();
    let r = app
        .patch(&path, &t.admin.token, json!({"status": "pending", "seen_at": fresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.patch(&path, &ben.token, json!({"status": "open"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Ben's page from before is stale too: Ada changed the status since.
    let r = app
        .patch(&path, &ben.token, json!({"status": "solved", "seen_at": seen}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "Ada changed it too: {:?}", r.body);
    assert!(
        r.error_message()
            .contains("Ada Admin changed status from solved to pending")
    );
    let r = app
        .patch(&path, &t.admin.token, json!({"assignee_id": ben.id, "seen_at": fresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn tags_and_custom_fields_are_edited_checked_and_kept_in_the_activity(app: TestApp) {
    let t = app.tenant("Acme").await;
    let number = converted(&app, &t).await;
    let path = format!("/api/v1/tickets/{number}");
    let r = app
        .patch(
            &path,
            &t.admin.token,
            json!({"tags": ["VIP", "billing", "vip"], "custom_fields": {"Order": "4521"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["tags"], json!(["vip", "billing"]));
    assert_eq!(r.body["custom_fields"], json!({"order": "4521"}));
    let fields: Vec<&str> = r.body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tags", "custom_fields"]);
    // Tags alone keep the custom fields, and the other way round.
    let r = app.patch(&path, &t.admin.token, json!({"tags": []})).await;
    assert_eq!(
        (r.body["tags"].clone(), r.body["custom_fields"].clone()),
        (json!([]), json!({"order": "4521"}))
    );

    // Bad input changes nothing.
    app.patch(&path, &t.admin.token, json!({"tags": ["two words"]}))
        .await
        .assert_invalid("tags");
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    app.patch(&path, &t.admin.token, json!({"tags": many}))
        .await
        .assert_invalid("tags");
    app.patch(&path, &t.admin.token, json!({"custom_fields": {"order": 4521}}))
        .await
        .assert_invalid("custom_fields");
    app.patch(&path, &t.admin.token, json!({"custom_fields": {"tagline": "a\nb"}}))
        .await
        .assert_invalid("custom_fields");
    let now = app.ticket(&t.admin.token, &number).await;
    assert_eq!(
        (now["tags"].clone(), now["custom_fields"].clone()),
        (json!([]), json!({"order": "4521"}))
    );
    assert_eq!(now["activity"].as_array().unwrap().len(), 3);
}
