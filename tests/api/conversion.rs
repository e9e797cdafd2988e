//! The spec's "What happens" and "After conversion", sentence by sentence.

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    the_panel_is_prefilled_with_the_captured_email_and_the_chat_subject,
    the_default_subject_is_chat_with_the_visitor_name_when_the_chat_has_none,
    conversion_creates_an_in_progress_ticket_assigned_to_the_converting_agent,
    the_transcript_has_timestamps_and_speakers_but_no_internal_notes,
    first_response_at_carries_over_from_the_chat,
    the_chat_is_closed_logged_and_linked_both_ways,
    an_operator_typed_subject_wins_over_the_default,
    requesters_are_found_by_email_case_insensitively,
    the_email_typed_in_the_panel_is_remembered_for_the_visitor,
    preview_shows_what_would_be_created_and_commits_nothing,
    converting_again_returns_the_same_ticket,
    summary_at_close_runs_when_the_workspace_enables_it,
    no_summary_is_made_when_the_workspace_has_not_enabled_it,
    a_chat_closed_without_a_ticket_can_still_be_converted,
);

async fn chat_with_history(app: &TestApp, tenant: &threadline_tests::TestTenant, agent_token: &str) -> String {
    let (chat, _visitor) = app
        .start_chat(
            tenant,
            json!({"visitor_name": "Ada Lovelace", "visitor_email": "ada@example.com",
                   "subject": "Refund for order 4521", "message": "I was charged twice."}),
        )
        .await;
    let r = app
        .agent_says(agent_token, &chat, "Let me check with billing.", false)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .agent_says(agent_token, &chat, "SECRET: customer is on the watch list", true)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    chat
}

async fn the_panel_is_prefilled_with_the_captured_email_and_the_chat_subject(app: TestApp) {
    let t = app.tenant("Acme").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"visitor_email": "ada@example.com", "subject": "Refund for order 4521"})
    );
}

async fn the_default_subject_is_chat_with_the_visitor_name_when_the_chat_has_none(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .get(&format!("/api/v1/chats/{chat}/conversion"), &t.admin.token)
        .await;
    assert_eq!(
        r.body,
        json!({"visitor_email": null, "subject": "Chat with Grace Hopper"})
    );

    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["subject"], "Chat with Grace Hopper");
}

async fn conversion_creates_an_in_progress_ticket_assigned_to_the_converting_agent(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;

    // Bob converts a chat that the admin answered: the ticket is Bob's.
    let r = app
        .convert(&bob.token, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ticket = r.body;
    assert_eq!(ticket["number"], "TK-1001");
    assert_eq!(ticket["status"], "in_progress");
    assert_eq!(ticket["assignee"], json!({"id": bob.id, "name": "Bob Builder"}));
    assert_eq!(ticket["subject"], "Refund for order 4521");
    assert_eq!(ticket["requester"]["email"], "ada@example.com");
    assert_eq!(ticket["requester"]["name"], "Ada Lovelace");

    // The same ticket, read back by its number (which adds its activity,
    // comments and received mail, none yet, and how mail goes out).
    let r = app.get("/api/v1/tickets/TK-1001", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut read = r.body;
    let read_only = read.as_object_mut().unwrap();
    assert_eq!(read_only.remove("activity"), Some(json!([])));
    assert_eq!(read_only.remove("comments"), Some(json!([])));
    assert_eq!(read_only.remove("email_delivery"), Some(json!("not_configured")));
    assert_eq!(read_only.remove("received_mail"), Some(json!([])));
    assert_eq!(read, ticket);
}

async fn the_transcript_has_timestamps_and_speakers_but_no_internal_notes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let ticket = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await
        .body;
    let description = ticket["description"].as_str().unwrap();
    let lines: Vec<&str> = description.lines().collect();
    assert_eq!(lines.len(), 2, "one line a public message: {description}");
    assert!(
        lines[0].starts_with('[') && lines[0].contains(" UTC] Ada Lovelace: I was charged twice."),
        "{description}"
    );
    assert!(
        lines[1].contains(" UTC] Ada Admin: Let me check with billing."),
        "{description}"
    );
    assert!(!description.contains("SECRET"), "internal note leaked: {description}");
    assert!(!description.contains("watch list"));
}

async fn first_response_at_carries_over_from_the_chat(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let path = format!("/api/v1/chats/{chat}");

    // An internal note is not a response to the visitor.
    app.post(
        &format!("{path}/messages"),
        &t.admin.token,
        json!({"body": "looking", "internal": true}),
    )
    .await;
    assert!(app.get(&path, &t.admin.token).await.body["first_response_at"].is_null());

    app.post(
        &format!("{path}/messages"),
        &t.admin.token,
        json!({"body": "Hi Grace!"}),
    )
    .await;
    let first = app.get(&path, &t.admin.token).await.body["first_response_at"].clone();
    assert!(first.is_string());
    // Later replies do not move it.
    app.post(
        &format!("{path}/messages"),
        &t.admin.token,
        json!({"body": "Still there?"}),
    )
    .await;
    assert_eq!(app.get(&path, &t.admin.token).await.body["first_response_at"], first);

    let ticket = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await
        .body;
    assert_eq!(ticket["first_response_at"], first);
}

async fn the_chat_is_closed_logged_and_linked_both_ways(app: TestApp) {
    let t = app.tenant("Acme").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let ticket = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await
        .body;

    let c = app.chat(&t.admin.token, &chat).await;
    assert_eq!(c["status"], "closed");
    assert!(c["closed_at"].is_string());
    // View ticket TK-… → on the chat side.
    assert_eq!(
        c["ticket"],
        json!({"id": ticket["id"], "number": "TK-1001", "url": "/api/v1/tickets/TK-1001"})
    );
    let last = c["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "system");
    assert_eq!(
        last["body"],
        "Ada Admin converted this chat to ticket TK-1001 and closed the chat."
    );

    // "Originated from chat" on the ticket side, and the link works.
    assert_eq!(ticket["origin"]["chat_id"], chat.as_str());
    let origin_url = ticket["origin"]["url"].as_str().unwrap();
    let via_link = app.get(origin_url, &t.admin.token).await;
    assert_eq!(via_link.status, StatusCode::OK);
    assert_eq!(via_link.body["id"], chat.as_str());
    // The original transcript can be read from the chat side too.
    let bodies: Vec<&str> = via_link.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert!(bodies.contains(&"I was charged twice."));
}

async fn an_operator_typed_subject_wins_over_the_default(app: TestApp) {
    let t = app.tenant("Acme").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let r = app
        .admin_converts(
            &t,
            &chat,
            json!({"visitor_email": "ada@example.com", "subject": "  Double charge: refund 4521  "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["subject"], "Double charge: refund 4521");

    // A blank subject means "use the default".
    let (other, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &other, json!({"visitor_email": "grace@navy.mil", "subject": "   "}))
        .await;
    assert_eq!(r.body["subject"], "Chat with Grace Hopper");
}

async fn requesters_are_found_by_email_case_insensitively(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (first, _) = app.simple_chat(&t).await;
    let (second, _) = app.simple_chat(&t).await;
    let a = app
        .admin_converts(&t, &first, json!({"visitor_email": "Grace@Navy.MIL"}))
        .await
        .body;
    let b = app
        .admin_converts(&t, &second, json!({"visitor_email": "grace@navy.mil"}))
        .await
        .body;
    assert_eq!(a["requester"]["id"], b["requester"]["id"], "one requester per email");
    // The requester keeps the address as first typed.
    assert_eq!(b["requester"]["email"], "Grace@Navy.MIL");
    // The ticket list (built in one batch) shows exactly the single views.
    let list = app.get("/api/v1/tickets", &t.admin.token).await.body;
    assert_eq!(list, json!([b, a]), "newest number first");

    // Another workspace has requesters of its own.
    let other = app.tenant("Globex").await;
    let (theirs, _) = app.simple_chat(&other).await;
    let c = app
        .admin_converts(&other, &theirs, json!({"visitor_email": "grace@navy.mil"}))
        .await
        .body;
    assert_ne!(c["requester"]["id"], a["requester"]["id"]);
    assert_eq!(c["number"], "TK-1001", "ticket numbers are per workspace");
}

async fn the_email_typed_in_the_panel_is_remembered_for_the_visitor(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    app.admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    let c = app.chat(&t.admin.token, &chat).await;
    assert_eq!(c["visitor"]["email"], "grace@navy.mil");
}

async fn preview_shows_what_would_be_created_and_commits_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let before = app.chat(&t.admin.token, &chat).await;

    let r = app
        .post(
            &format!("/api/v1/chats/{chat}/conversion/preview"),
            &bob.token,
            json!({"visitor_email": "ada@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let p = r.body;
    assert_eq!(p["subject"], "Refund for order 4521");
    assert_eq!(p["status"], "in_progress");
    assert_eq!(p["assignee"]["id"], bob.id.as_str());
    assert_eq!(
        p["requester"],
        json!({"email": "ada@example.com", "name": "Ada Lovelace", "exists": false})
    );
    assert!(p["existing_ticket"].is_null());
    assert!(!p["description"].as_str().unwrap().contains("SECRET"));

    // Nothing changed: same chat, no ticket, no requester, no number used.
    assert_eq!(app.chat(&t.admin.token, &chat).await, before);
    assert_eq!(app.get("/api/v1/tickets", &t.admin.token).await.body, json!([]));
    let ticket = app
        .convert(&bob.token, &chat, json!({"visitor_email": "ada@example.com"}))
        .await
        .body;
    assert_eq!(ticket["number"], "TK-1001");
    assert_eq!(ticket["description"], p["description"]);

    // Once converted, the preview points at the existing ticket.
    let again = app
        .post(
            &format!("/api/v1/chats/{chat}/conversion/preview"),
            &bob.token,
            json!({"visitor_email": "ada@example.com"}),
        )
        .await
        .body;
    assert_eq!(again["existing_ticket"]["number"], "TK-1001");
    assert_eq!(again["requester"]["exists"], true);
}

async fn converting_again_returns_the_same_ticket(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    let (chat, _) = app.simple_chat(&t).await;
    let first = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    // A double click, then a second agent with other input: same ticket, 200.
    let again = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    let by_bob = app
        .convert(
            &bob.token,
            &chat,
            json!({"visitor_email": "other@example.com", "subject": "Other"}),
        )
        .await;
    assert_eq!(by_bob.status, StatusCode::OK);
    assert_eq!(by_bob.body, first.body);
    assert_eq!(
        app.get("/api/v1/tickets", &t.admin.token)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn wait_for_summary(app: &TestApp, token: &str, path: &str) -> serde_json::Value {
    for _ in 0..100 {
        let body = app.get(path, token).await.body;
        if body["summary"].is_string() {
            return body["summary"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no summary appeared on {path}");
}

async fn summary_at_close_runs_when_the_workspace_enables_it(app: TestApp) {
    let t = app.tenant("Acme").await;
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/settings",
            Some(&t.admin.token),
            Some(json!({"summary_on_close": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["summary_on_close"], true);

    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let on_ticket = wait_for_summary(&app, &t.admin.token, "/api/v1/tickets/TK-1001").await;
    let on_chat = wait_for_summary(&app, &t.admin.token, &format!("/api/v1/chats/{chat}")).await;
    assert_eq!(on_ticket, on_chat);
    let text = on_ticket.as_str().unwrap();
    assert!(text.contains("Ada Lovelace asked: I was charged twice."), "{text}");
    assert!(
        text.contains("Last reply from Ada Admin: Let me check with billing."),
        "{text}"
    );
    assert!(!text.contains("SECRET"));

    // A plain close (no conversion) summarises too.
    let (plain, _) = app.simple_chat(&t).await;
    let r = app
        .post(&format!("/api/v1/chats/{plain}/close"), &t.admin.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let s = wait_for_summary(&app, &t.admin.token, &format!("/api/v1/chats/{plain}")).await;
    assert!(s.as_str().unwrap().contains("Grace Hopper asked: Hello?"));
}

async fn no_summary_is_made_when_the_workspace_has_not_enabled_it(app: TestApp) {
    let t = app.tenant("Acme").await;
    let settings = app.get("/api/v1/settings", &t.admin.token).await.body;
    assert_eq!(settings["summary_on_close"], false);
    let chat = chat_with_history(&app, &t, &t.admin.token).await;
    app.admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    // The summary task would be spawned before the response; give it time.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.get("/api/v1/tickets/TK-1001", &t.admin.token).await.body["summary"].is_null());
    assert!(app.chat(&t.admin.token, &chat).await["summary"].is_null());
}

async fn a_chat_closed_without_a_ticket_can_still_be_converted(app: TestApp) {
    // Follow-up needs often show after the chat ended.
    let t = app.tenant("Acme").await;
    let (chat, visitor) = app.simple_chat(&t).await;
    let closed = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await
        .body;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let after = app.chat(&t.admin.token, &chat).await;
    assert_eq!(after["status"], "closed");
    assert_eq!(
        after["closed_at"], closed["closed_at"],
        "it closed when it closed, not at conversion"
    );
    assert_eq!(after["ticket"]["number"], "TK-1001");
    assert_eq!(app.visitor_view(&visitor, &chat).await["rating_prompt"], true);
}
