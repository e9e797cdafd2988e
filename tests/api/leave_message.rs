//! Chats continue by e-mail: with nobody online, a visitor leaves a message
//! in the widget; it becomes a ticket through the workspace's hooks, as a
//! mail from them would, they are mailed its number, and their answer to
//! the agent's reply comes back to it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    a_message_left_while_nobody_is_online_is_a_ticket_answered_by_mail,
    a_message_left_needs_an_address_and_is_refused_like_a_chat,
);

const PATIENCE: Duration = Duration::from_secs(20);

async fn a_message_left_while_nobody_is_online_is_a_ticket_answered_by_mail(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let presence = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/widget/{}/presence", t.widget_key),
            None,
            None,
        )
        .await;
    assert_eq!(presence.body["available"], false, "nobody is online");

    let left = app
        .post_anonymous(
            &format!("/api/v1/widget/{}/messages", t.widget_key),
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@example.com", "message": "Do you ship to Iceland?"}),
        )
        .await;
    assert_eq!(left.status, StatusCode::CREATED, "{:?}", left.body);
    let n = left.body["ticket"].as_str().unwrap().to_owned();
    let ticket = app.ticket(&t.admin.token, &n).await;
    assert_eq!(ticket["channel"], "widget");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["requester"]["email"], "grace@example.com");
    assert_eq!(ticket["description"], "Do you ship to Iceland?");
    assert_eq!(ticket["received_mail"][0]["via"], "widget");

    // She learns its number by mail, and the agent's answer goes there,
    // in the same thread.
    let start = std::time::Instant::now();
    while smtp.received().is_empty() {
        assert!(start.elapsed() < PATIENCE, "no acknowledgement");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(smtp.received()[0].text().contains(&format!("Its number is {n}")));
    let r = app
        .post(
            &format!("/api/v1/tickets/{n}/comments"),
            &t.admin.token,
            json!({"body": "Yes, in three to five days."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let answer = smtp.mails_to("grace@example.com", 2).await.remove(1);
    let answer_id = answer.header("Message-ID").unwrap();

    // Her reply comes back to the ticket.
    let key = app.get("/api/v1/settings", &t.admin.token).await.body["inbound_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = format!(
        "From: Grace Hopper <grace@example.com>\nSubject: Re: [{n}] Do you ship\nMessage-ID: <r1@example.com>\nIn-Reply-To: {answer_id}\n\nGreat, ordering now.\n\n> Yes, in three to five days.\n"
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/inbound/{key}")))
        .body(reply)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let comments = app.ticket(&t.admin.token, &n).await["comments"].clone();
    assert_eq!(comments[1]["body"], "Great, ordering now.", "{comments}");
    assert_eq!(comments[1]["source"], "email");
}

async fn a_message_left_needs_an_address_and_is_refused_like_a_chat(app: TestApp) {
    let t = app.tenant("Acme").await;
    let path = format!("/api/v1/widget/{}/messages", t.widget_key);
    let r = app
        .post_anonymous(&path, json!({"visitor_name": "Grace", "message": "Hello"}))
        .await;
    r.assert_invalid("visitor_email");
    let r = app
        .post_anonymous(
            &path,
            json!({"visitor_name": "Grace", "visitor_email": "not an address", "message": "Hi"}),
        )
        .await;
    r.assert_invalid("visitor_email");
    let r = app
        .post_anonymous(
            &path,
            json!({"visitor_name": "Grace", "visitor_email": "grace@example.com", "message": ""}),
        )
        .await;
    r.assert_invalid("message");
    let r = app
        .post_anonymous(
            "/api/v1/widget/wk_nope/messages",
            json!({"visitor_name": "Grace", "visitor_email": "grace@example.com", "message": "Hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        app.get("/api/v1/tickets", &t.admin.token)
            .await
            .each("number")
            .is_empty()
    );
}
