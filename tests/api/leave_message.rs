//! Chats continue by e-mail: with nobody online, a visitor leaves a message
//! in the widget; it becomes a ticket through the workspace's hooks, as a
//! mail from them would, they are mailed its number, and their answer to
//! the agent's reply comes back to it. And a visitor who left a chat is
//! answered by mail; their reply comes back to the chat, or its ticket.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    a_message_left_while_nobody_is_online_is_a_ticket_answered_by_mail,
    a_message_left_needs_an_address_and_is_refused_like_a_chat,
    a_visitor_who_left_is_answered_by_mail_and_their_reply_comes_back_to_the_chat,
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

/// Takes the chat's visitor for gone: their socket closed ten minutes ago.
async fn visitor_left(app: &TestApp, chat: &str) {
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let then = chrono::Utc::now() - chrono::Duration::minutes(10);
    threadline_tests::sql::exec(
        &db,
        "UPDATE chats SET visitor_seen_at = $1 WHERE id = $2",
        vec![then.into(), chat.to_owned().into()],
    )
    .await;
}

async fn inbound(app: &TestApp, t: &threadline_tests::TestTenant, raw: String) -> serde_json::Value {
    let key = app.get("/api/v1/settings", &t.admin.token).await.body["inbound_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .post(app.url(&format!("/api/v1/inbound/{key}")))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json().await.unwrap()
}

async fn a_visitor_who_left_is_answered_by_mail_and_their_reply_comes_back_to_the_chat(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace", "visitor_email": "grace@example.com", "message": "Where is my parcel?"}),
        )
        .await;
    // Here: answers stay in the chat.
    app.agent_says(&t.admin.token, &chat, "Let me look.", false).await;
    // Gone: the next answer goes by mail too; an internal note never does.
    visitor_left(&app, &chat).await;
    app.agent_says(&t.admin.token, &chat, "ask the courier", true).await;
    app.agent_says(&t.admin.token, &chat, "It left the depot today: tracking 42.", false)
        .await;
    let mail = smtp.mails_to("grace@example.com", 1).await.remove(0);
    let text = mail.text();
    assert!(text.contains("It left the depot today: tracking 42."), "{text}");
    assert!(!text.contains("Let me look") && !text.contains("courier"), "{text}");
    assert_eq!(
        mail.header("In-Reply-To"),
        Some(format!("<chat-{chat}@threadline.invalid>"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1, "one answer mailed, once");

    // Her reply comes back into the chat, as hers, live for the agents.
    let id = mail.header("Message-ID").unwrap();
    let reply = |mid: &str, text: &str| {
        format!(
            "From: Grace <grace@example.com>\nSubject: Re: your chat\nMessage-ID: <{mid}@example.com>\nIn-Reply-To: {id}\n\n{text}\n\n> It left the depot today\n"
        )
    };
    let r = inbound(&app, &t, reply("g1", "Thanks, got it.")).await;
    assert_eq!(r["outcome"], "chat", "{r}");
    assert_eq!(r["chat_id"], chat.as_str());
    let messages = app.chat(&t.admin.token, &chat).await["messages"].clone();
    let last = messages.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].clone(), last["body"].clone()),
        (json!("visitor"), json!("Thanks, got it."))
    );

    // Converted, the chat's mail thread leads to its ticket.
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "grace@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let n = r.body["number"].as_str().unwrap().to_owned();
    let r = inbound(&app, &t, reply("g2", "One more thing.")).await;
    assert_eq!(
        (r["outcome"].clone(), r["ticket"].clone()),
        (json!("comment"), json!(n)),
        "{r}"
    );
}
