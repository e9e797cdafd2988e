//! Comments on tickets: internal ones stay with agents, public ones reach
//! the requester by e-mail through the outbox, over a real SMTP server on
//! loopback, once, across SMTP outages, restarts and nodes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use threadline_tests::smtp::{SmtpServer, unused_addr};
use threadline_tests::{Reply, TestApp, on_both_databases};

on_both_databases!(
    a_public_reply_is_mailed_to_the_requester_and_an_internal_comment_is_not,
    smtp_down_then_up_delivers_exactly_once_across_a_restart_and_two_nodes,
    a_refused_recipient_fails_for_good_and_says_why,
    the_first_public_reply_is_the_first_response,
    bad_comments_are_refused_and_change_nothing,
    the_reason_for_converting_is_the_first_internal_comment,
);

/// Waits as long as a loaded CI machine may need; the tests end as soon as
/// what they wait for happens.
const PATIENCE: Duration = Duration::from_secs(20);

async fn comment(app: &TestApp, token: &str, number: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/tickets/{number}/comments"), token, body)
        .await
}

/// Reads the ticket until its last comment's mail is in `state`.
async fn delivery_becomes(app: &TestApp, token: &str, number: &str, state: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let t = app.ticket(token, number).await;
        let delivery = t["comments"].as_array().unwrap().last().unwrap()["delivery"].clone();
        if delivery["state"] == state {
            return delivery;
        }
        assert!(start.elapsed() < PATIENCE, "the mail never became {state}: {delivery}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_public_reply_is_mailed_to_the_requester_and_an_internal_comment_is_not(app: TestApp) {
    let t = app.tenant("Acme").await;
    let number = app.converted(&t, "grace@example.com").await;

    let r = comment(
        &app,
        &t.admin.token,
        &number,
        json!({"body": "Refund approved by finance.", "internal": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let note = &r.body["comments"][0];
    assert_eq!(note["internal"], true);
    assert_eq!(note["author"]["id"], t.admin.id.as_str());
    assert!(note["delivery"].is_null(), "an internal comment is not mailed: {note}");

    let r = comment(
        &app,
        &t.admin.token,
        &number,
        // Line ends as a client may send them: CRLF, and a bare CR before a
        // dot (which lenient relays may read as the end of the message).
        json!({"body": "Hello Grace,\r\nyour refund is on its way.\r.\nThanks"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let reply = &r.body["comments"][1];
    assert_eq!(reply["internal"], false);
    assert_eq!(reply["delivery"]["state"], "queued");
    assert_eq!(reply["delivery"]["to"], "grace@example.com");
    // This node has no SMTP server: the mail waits, and the ticket says so.
    assert_eq!(r.body["email_delivery"], "not_configured");

    // A node that can mail sends it: to the requester, from the workspace,
    // naming the ticket.
    let smtp = SmtpServer::start().await;
    let mailing = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let delivery = delivery_becomes(&mailing, &t.admin.token, &number, "sent").await;
    assert!(delivery["sent_at"].is_string(), "{delivery}");
    assert_eq!(mailing.ticket(&t.admin.token, &number).await["email_delivery"], "smtp");
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "one mail for one public comment: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["grace@example.com".to_owned()]);
    assert_eq!(mail.from, "support@acme.test");
    let subject = mail.header("Subject").unwrap();
    assert!(subject.contains(&format!("[{number}]")), "{subject}");
    assert!(
        mail.header("From").unwrap().contains("Acme"),
        "{:?}",
        mail.header("From")
    );
    assert!(mail.header("Message-ID").unwrap().ends_with("@threadline.invalid>"));
    // Every line of the mail ends with CRLF: no bare CR reached SMTP.
    let bare_cr = mail
        .data
        .match_indices('\r')
        .any(|(i, _)| !mail.data[i + 1..].starts_with('\n'));
    assert!(!bare_cr, "{:?}", mail.data);
    // The body arrives whole, the line holding a lone dot included.
    assert!(
        mail.data
            .contains("Hello Grace,\r\nyour refund is on its way.\r\n.\r\nThanks"),
        "{}",
        mail.data
    );
    assert!(!mail.data.contains("finance"), "the internal comment stays inside");
}

async fn smtp_down_then_up_delivers_exactly_once_across_a_restart_and_two_nodes(app: TestApp) {
    let t = app.tenant("Acme").await;
    let number = app.converted(&t, "grace@example.com").await;
    let addr = unused_addr();
    let url = format!("smtp://{addr}");

    // The SMTP server is down: the node tries, fails, and keeps the mail.
    let node = TestApp::builder(app.db.clone()).mailing(&url).spawn().await;
    let r = comment(&node, &t.admin.token, &number, json!({"body": "We are on it."})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let start = std::time::Instant::now();
    let delivery = loop {
        let d = node.ticket(&t.admin.token, &number).await["comments"][0]["delivery"].clone();
        if d["attempts"].as_i64().unwrap() >= 2 {
            break d;
        }
        assert!(start.elapsed() < PATIENCE, "no retry: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        delivery["state"], "queued",
        "a refused connection is retried: {delivery}"
    );
    assert!(delivery["last_error"].is_string(), "{delivery}");

    // The node restarts, and two nodes now share the outbox; the SMTP
    // server comes up.
    drop(node);
    let smtp = SmtpServer::start_on(addr).await;
    let a = TestApp::builder(app.db.clone()).mailing(&url).spawn().await;
    let b = TestApp::builder(app.db.clone()).mailing(&url).spawn().await;
    delivery_becomes(&a, &t.admin.token, &number, "sent").await;
    // Long enough for either node to poll many times over.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "delivered exactly once: {mails:?}");
    let d = b.ticket(&t.admin.token, &number).await["comments"][0]["delivery"].clone();
    assert_eq!(d["state"], "sent");
    assert!(d["last_error"].is_null(), "{d}");
}

async fn a_refused_recipient_fails_for_good_and_says_why(app: TestApp) {
    let t = app.tenant("Acme").await;
    let number = app.converted(&t, "bounce@example.com").await;
    let smtp = SmtpServer::start().await;
    let node = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let r = comment(&node, &t.admin.token, &number, json!({"body": "Hello?"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let d = delivery_becomes(&node, &t.admin.token, &number, "failed").await;
    assert_eq!(d["attempts"], 1, "a permanent refusal is not retried: {d}");
    assert!(d["last_error"].as_str().unwrap().contains("No such user"), "{d}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = node.ticket(&t.admin.token, &number).await["comments"][0]["delivery"].clone();
    assert_eq!(d["attempts"], 1, "{d}");
    assert!(smtp.received().is_empty());
}

async fn the_first_public_reply_is_the_first_response(app: TestApp) {
    let t = app.tenant("Acme").await;
    // Nobody answered in the chat: the ticket has no first response yet.
    let number = app.converted(&t, "grace@example.com").await;
    assert!(app.ticket(&t.admin.token, &number).await["first_response_at"].is_null());
    let r = comment(&app, &t.admin.token, &number, json!({"body": "note", "internal": true})).await;
    assert!(r.body["first_response_at"].is_null(), "an internal note answers nobody");
    let r = comment(&app, &t.admin.token, &number, json!({"body": "Hello"})).await;
    let first = r.body["first_response_at"].clone();
    assert_eq!(first, r.body["comments"][1]["created_at"]);
    let r = comment(&app, &t.admin.token, &number, json!({"body": "Again"})).await;
    assert_eq!(r.body["first_response_at"], first, "only the first counts");

    // An answer in the chat is carried over and kept.
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(
        app.agent_says(&t.admin.token, &chat, "Hi!", false).await.status,
        StatusCode::CREATED
    );
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    let carried = r.body["first_response_at"].clone();
    assert!(carried.is_string());
    let n = r.body["number"].as_str().unwrap();
    let r = comment(&app, &t.admin.token, n, json!({"body": "Hello"})).await;
    assert_eq!(r.body["first_response_at"], carried);
}

async fn bad_comments_are_refused_and_change_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let number = app.converted(&t, "grace@example.com").await;
    for (body, status, field) in [
        (json!({"body": "   "}), StatusCode::UNPROCESSABLE_ENTITY, Some("body")),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, Some("body")),
        (
            json!({"body": "x".repeat(10_001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            json!({"body": "a\u{0007}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("body"),
        ),
        (
            json!({"body": "hi", "internal": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            json!({"body": "hi", "cc": "x@y.z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
    ] {
        let r = comment(&app, &t.admin.token, &number, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
        if let Some(field) = field {
            assert_eq!(r.body["error"]["field"], field, "{body}: {:?}", r.body);
        }
    }
    // Another workspace's ticket does not exist for this agent.
    let r = comment(&app, &other.admin.token, &number, json!({"body": "hi"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = comment(&app, &t.admin.token, "TK-9999", json!({"body": "hi"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post_anonymous(&format!("/api/v1/tickets/{number}/comments"), json!({"body": "hi"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let t_now = app.ticket(&t.admin.token, &number).await;
    assert_eq!(t_now["comments"], json!([]), "nothing was written");

    // A closed ticket takes no more comments.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = comment(&app, &t.admin.token, &number, json!({"body": "too late"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(app.ticket(&t.admin.token, &number).await["comments"], json!([]));
}

async fn the_reason_for_converting_is_the_first_internal_comment(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    // A bad reason is refused, and nothing is converted.
    let r = app
        .admin_converts(
            &t,
            &chat,
            json!({"visitor_email": "grace@example.com", "reason": "a\u{0007}"}),
        )
        .await;
    r.assert_invalid("reason");
    assert!(app.chat(&t.admin.token, &chat).await["ticket"].is_null());

    let r = app
        .admin_converts(
            &t,
            &chat,
            json!({"visitor_email": "grace@example.com", "reason": "  Needs a refund from finance.  "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap();
    let comments = app.ticket(&t.admin.token, number).await["comments"].clone();
    assert_eq!(comments.as_array().unwrap().len(), 1, "{comments}");
    assert_eq!(comments[0]["body"], "Needs a refund from finance.");
    assert_eq!(comments[0]["internal"], true);
    assert_eq!(comments[0]["author"]["id"], t.admin.id.as_str());
    assert!(comments[0]["delivery"].is_null());

    // Without a reason (or a blank one) the ticket starts with no comment.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "grace@example.com", "reason": " "}))
        .await;
    let number = r.body["number"].as_str().unwrap();
    assert_eq!(app.ticket(&t.admin.token, number).await["comments"], json!([]));
}
