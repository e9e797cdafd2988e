//! Chats continue by e-mail, in the browser: with nobody online a visitor
//! leaves a message in the widget; it is a ticket; the agent answers on
//! the ticket's page, the answer reaches the real SMTP sink, and the
//! visitor's reply to that mail appears on the open page, live.

use serde_json::json;
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{Backend, TestApp, TestDb};

use crate::axe::screenshot;
use crate::driver::{browser, chromedriver};
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_while_nobody_is_online_is_answered_by_mail_and_the_reply_comes_back_live() {
    let Some(driver) = chromedriver() else { return };
    let smtp = SmtpServer::start().await;
    let db = std::sync::Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::builder(db).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let r = app.settings(&t, json!({"reply_to": "help@acme.test"})).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    // The team's only agent is off for the day.
    let r = app
        .put(
            "/api/v1/agents/me/availability",
            &t.admin.token,
            json!({"availability": "offline"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);

    // Nobody is online: the widget offers to leave a message.
    let visitor = browser(&driver).await;
    visitor
        .goto(&app.url(&format!("/widget?key={}", t.widget_key)))
        .await
        .unwrap();
    wait_text(&visitor, "#presence", "No one is here right now").await;
    type_into(&visitor, "#visitor-name", "Grace Hopper").await;
    type_into(&visitor, "#visitor-first", "Do you ship to Iceland?").await;
    // The answer goes by e-mail: an address is asked for.
    click(&visitor, "#leave-message").await;
    wait_text(&visitor, "#start-error", "Please give your email").await;
    type_into(&visitor, "#visitor-email", "grace@example.com").await;
    click(&visitor, "#leave-message").await;
    wait_text(&visitor, "#message-left", "TK-1001").await;
    wait_text(&visitor, "#message-left", "grace@example.com").await;
    screenshot(&visitor, "widget-message-left").await;
    let ack = smtp.mails_to("grace@example.com", 1).await.remove(0);
    assert!(ack.text().contains("Its number is TK-1001"), "{}", ack.text());

    // The agent answers on the ticket's page.
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    agent.goto(&app.url("/console#/tickets/TK-1001")).await.unwrap();
    wait_text(&agent, "#ticket-title", "TK-1001").await;
    wait_text(&agent, "#ticket-description", "Do you ship to Iceland?").await;
    type_into(&agent, "#comment-body", "Yes, in three to five days.").await;
    click(&agent, "#comment-send").await;
    wait_text(&agent, "#ticket-comments", "Yes, in three to five days.").await;
    let answer = smtp.mails_to("grace@example.com", 2).await.remove(1);
    let answer_id = answer.header("Message-ID").unwrap();
    let reply_to = answer.header("Reply-To").unwrap();
    assert!(reply_to.contains("help+tk-1001-"), "{reply_to}");

    // Grace answers the mail; it shows on the open page, as hers, by e-mail.
    let key = app.get("/api/v1/settings", &t.admin.token).await.body["inbound_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = format!(
        "From: Grace Hopper <grace@example.com>\r\nTo: {reply_to}\r\nSubject: Re: [TK-1001] Do you ship to Iceland?\r\n\
         Message-ID: <grace-r1@example.com>\r\nIn-Reply-To: {answer_id}\r\nReferences: {answer_id}\r\n\r\n\
         Great, ordering now.\r\n\r\nOn Mon, Dec 7, 2026 at 10:02 AM Acme wrote:\r\n> Yes, in three to five days.\r\n"
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/inbound/{key}")))
        .header("content-type", "message/rfc822")
        .body(reply)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    wait_text(
        &agent,
        "#ticket-comments li[data-kind=received]",
        "Great, ordering now.",
    )
    .await;
    // Shown in capitals, as every tag is.
    wait_text(&agent, "#ticket-comments li[data-kind=received] .tag", "BY E-MAIL").await;
    let thread = text_of(&agent, "#ticket-comments").await;
    assert!(!thread.contains("> Yes"), "the quoted history is cut: {thread}");
    assert_every_field_is_labelled(&agent).await;
    screenshot(&agent, "console-ticket-mail-thread").await;
}
