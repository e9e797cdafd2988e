//! A ticket's page: worked to solved, with e-mail out.

use std::time::Duration;

use serde_json::json;
use threadline_tests::{Backend, TestApp, TestDb};

use crate::axe::screenshot;
use crate::driver::{browser, chromedriver};
use crate::page::*;

/// A day's work on one request: the agent keeps typing while the visitor
/// writes (no key lost), converts with a reason, then works the ticket to
/// solved: a reply that reaches the requester by e-mail (a real SMTP server
/// on loopback), an internal comment, a reassignment and a status change,
/// each in the activity log; finds it in the ticket list, and sees the
/// visitor's rating on the chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_works_a_converted_ticket_to_solved() {
    let Some(driver) = chromedriver() else { return };
    let smtp = threadline_tests::smtp::SmtpServer::start().await;
    let db = std::sync::Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::builder(db).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    // The mail this test counts is the reply's: no acknowledgement.
    app.settings(&t, json!({"acknowledge_by_mail": false})).await;
    let bob = app.agent(&t, "Bob").await;
    let (chat, visitor) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@example.com", "message": "I was charged twice."}),
        )
        .await;
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#messages", "I was charged twice.").await;

    // The visitor writes while the agent is typing: the thread updates,
    // the composer keeps its focus and every key.
    find(&agent, "#composer-body")
        .await
        .send_keys("Let me che")
        .await
        .unwrap();
    app.visitor_says(&visitor, &chat, "Order 4521, if that helps").await;
    wait_text(&agent, "#messages", "Order 4521").await;
    agent.active_element().await.unwrap().send_keys("ck").await.unwrap();
    assert_eq!(value_of(&agent, "#composer-body").await, "Let me check");
    // Shift+Enter adds a line; Enter sends.
    let active = agent.active_element().await.unwrap();
    active.send_keys("\u{E008}\u{E007}").await.unwrap();
    active.send_keys("with billing.\u{E007}").await.unwrap();
    wait_text(&agent, "#messages", "with billing.").await;
    assert_eq!(value_of(&agent, "#composer-body").await, "");
    let sent = app.chat(&t.admin.token, &chat).await["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["body"]
        .clone();
    assert_eq!(sent, "Let me check\nwith billing.");
    // An internal note looks like one before it is sent.
    click(&agent, "#composer-note").await;
    assert!(
        find(&agent, "#composer-form")
            .await
            .attr("class")
            .await
            .unwrap()
            .unwrap()
            .contains("internal")
    );
    click(&agent, "#composer-note").await;

    type_into(&agent, "#convert-reason", "Finance must refund the second charge.").await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket-title", "TK-1001").await;
    wait_text(&agent, "#ticket-comments", "Finance must refund the second charge.").await;
    assert_every_field_is_labelled(&agent).await;

    // A reply by e-mail: Enter adds a line and sends nothing; Ctrl+Enter
    // sends.
    type_into(&agent, "#comment-body", "Hi Grace,\n").await;
    assert_eq!(value_of(&agent, "#comment-body").await, "Hi Grace,\n");
    wait_until_count(&agent, "#ticket-comments li", 1).await;
    find(&agent, "#comment-body")
        .await
        .send_keys("Your refund is on its way.\u{E009}\u{E007}\u{E000}")
        .await
        .unwrap();
    wait_text(&agent, "#ticket-comments", "Your refund is on its way.").await;
    // One reply, the greeting in it: nothing went out on Enter.
    wait_until_count(&agent, "#ticket-comments li", 2).await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["grace@example.com".to_owned()]);
    assert!(
        mails[0].text().contains("Hi Grace,\r\nYour refund is on its way."),
        "{}",
        mails[0].text()
    );
    // An internal comment, which is not mailed.
    click(&agent, "#comment-internal").await;
    wait_text(&agent, "#comment-send", "Add internal comment").await;
    type_into(&agent, "#comment-body", "Refund id R-77.").await;
    click(&agent, "#comment-send").await;
    wait_text(&agent, "#ticket-comments", "Refund id R-77.").await;
    // The composer stays on internal comments, as the agent left it.
    wait_text(&agent, "#comment-send", "Add internal comment").await;
    assert_eq!(
        find(&agent, "#comment-internal")
            .await
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    // Reassign to Bob and solve.
    choose(&agent, "#ticket-assignee", &bob.id).await;
    choose(&agent, "#ticket-status", "solved").await;
    click(&agent, "#ticket-save").await;
    wait_text(&agent, "#ticket-message", "Saved.").await;
    wait_text(&agent, "#ticket-status-text", "solved").await;
    wait_text(&agent, "#ticket-assignee-text", "Bob").await;
    wait_text(&agent, "#ticket-activity", "changed status from in progress to solved").await;
    wait_text(&agent, "#ticket-activity", "changed assignee from Ada Admin to Bob").await;
    // Tags and a custom field, edited on the page.
    type_into(&agent, "#ticket-tags", "refund, VIP").await;
    type_into(&agent, "#ticket-fields", "order: 4521").await;
    click(&agent, "#ticket-save").await;
    wait_text(&agent, "#ticket-activity", "changed tags from none to refund, vip").await;
    wait_text(
        &agent,
        "#ticket-activity",
        "changed custom fields from none to order: 4521",
    )
    .await;
    assert_eq!(value_of(&agent, "#ticket-tags").await, "refund, vip");
    // The reply's mail state follows live: it went out.
    wait_text(&agent, "#ticket-comments li[data-kind=reply] .delivery", ": sent").await;
    screenshot(&agent, "console-ticket-worked").await;
    assert_eq!(smtp.received().len(), 1, "one mail: the internal comment stays inside");

    // The ticket list finds it under its status.
    click(&agent, "#tickets-link").await;
    choose(&agent, "#ticket-filter-status", "solved").await;
    wait_text(&agent, "#ticket-rows", "TK-1001").await;
    // The list has the whole width, and says how many it shows.
    wait_text(&agent, "#tickets-status", "1 ticket.").await;
    assert!(!find(&agent, "nav.chats").await.is_displayed().await.unwrap());
    // and by a word of its internal comment; a word of no ticket finds none.
    type_into(&agent, "#ticket-search", "r-77").await;
    wait_text(&agent, "#ticket-rows", "TK-1001").await;
    screenshot(&agent, "console-ticket-list").await;
    type_into(&agent, "#ticket-search", "nothingsuch").await;
    wait_text(&agent, "#tickets-status", "No tickets match.").await;

    // The visitor rates; the agent sees it on the chat.
    let r = app
        .post(
            &format!("/api/v1/widget/chats/{chat}/rating"),
            &visitor,
            json!({"score": 4, "comment": "Fast"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#chat-rating", "Rated 4/5: Fast").await;
    agent.close().await.unwrap();
}

/// A ticket that missed its first response target says so as an alarm,
/// not as plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_target_stands_out_on_the_ticket_page() {
    let Some((driver, app, t)) = acme().await else { return };
    let r = app.settings(&t, json!({"sla_first_response_minutes": 1})).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    let number = app.converted(&t, "grace@example.com").await;
    // As if the chat had started two minutes ago.
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    threadline_tests::sql::exec(
        &db,
        "UPDATE tickets SET first_response_due_at = $1, due_at = $1 WHERE tenant_id = $2",
        vec![past.into(), t.id.as_str().into()],
    )
    .await;
    let agent = browser(&driver).await;
    open_ticket(&agent, &app, &t, &number).await;
    wait_text(&agent, "#ticket-due", "first response target missed").await;
    wait_attr(&agent, "#ticket-due", "class", "breached").await;
    screenshot(&agent, "console-ticket-missed-target").await;
}

/// Ben solves a ticket while Ada's page of it is open: the page says so
/// without replacing her unsaved choice, her Save of the status is refused
/// with a notice naming Ben's change, and Reload shows the ticket as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_save_is_refused_with_a_notice() {
    let Some((driver, app, t)) = acme().await else { return };
    let ben = app.agent(&t, "Ben").await;
    let number = app.converted(&t, "grace@example.com").await;
    let agent = browser(&driver).await;
    open_ticket(&agent, &app, &t, &number).await;
    wait_text(&agent, "#ticket-status-text", "in progress").await;
    // Ada picks a status; before she saves, Ben solves the ticket. Her
    // unsaved choice stays, and the page says the ticket changed.
    choose(&agent, "#ticket-status", "pending").await;
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &ben.token,
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    wait_text(&agent, "#ticket-message", "Someone changed this ticket meanwhile.").await;
    assert_eq!(value_of(&agent, "#ticket-status").await, "pending");
    click(&agent, "#ticket-save").await;
    wait_text(
        &agent,
        "#ticket-message",
        "Ben changed status from in progress to solved",
    )
    .await;
    screenshot(&agent, "console-ticket-stale-save").await;
    assert_eq!(app.ticket(&t.admin.token, &number).await["status"], "solved");
    click(&agent, "#ticket-reload").await;
    wait_text(&agent, "#ticket-status-text", "solved").await;
}

/// A ticket page follows what others do: a colleague's change and comment
/// appear without a reload, and the draft in the composer stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_page_updates_live_and_keeps_the_draft() {
    let Some((driver, app, t)) = acme().await else { return };
    let ben = app.agent(&t, "Ben").await;
    let number = app.converted(&t, "grace@example.com").await;
    let agent = browser(&driver).await;
    open_ticket(&agent, &app, &t, &number).await;
    wait_text(&agent, "#ticket-status-text", "in progress").await;
    type_into(&agent, "#comment-body", "Dear Grace, half a thought").await;

    let path = format!("/api/v1/tickets/{number}");
    app.patch(&path, &ben.token, json!({"priority": "urgent"})).await;
    app.post(
        &format!("{path}/comments"),
        &ben.token,
        json!({"body": "Courier called back", "internal": true}),
    )
    .await;
    wait_text(&agent, "#ticket-comments", "Courier called back").await;
    wait_text(&agent, "#ticket-activity", "changed priority").await;
    assert_eq!(value_of(&agent, "#ticket-priority").await, "urgent");
    assert_eq!(value_of(&agent, "#comment-body").await, "Dear Grace, half a thought");
    let focused = agent.execute("return document.activeElement.id", vec![]).await.unwrap();
    assert_eq!(focused, json!("comment-body"));
}

/// A ticket by hand from the list's New ticket button: a bad address is
/// refused beside its field, then the ticket is made and its page shown,
/// assigned by the rules, mailed to nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_makes_a_ticket_by_hand() {
    let Some((driver, app, t)) = acme().await else { return };
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    agent.goto(&app.url("/console#/tickets")).await.unwrap();
    click(&agent, "#new-ticket-link").await;
    type_into(&agent, "#new-ticket-email", "grace at navy").await;
    type_into(&agent, "#new-ticket-subject", "Manual reprint").await;
    type_into(&agent, "#new-ticket-body", "Grace called:\nthe manual needs a reprint.").await;
    choose(&agent, "#new-ticket-priority", "high").await;
    assert_every_field_is_labelled(&agent).await;
    click(&agent, "#new-ticket-create").await;
    wait_text(&agent, "#new-ticket-message", "email").await;
    wait_attr(&agent, "#new-ticket-email", "aria-invalid", "true").await;
    crate::axe::audit(&agent, "console-new-ticket-error").await;
    screenshot(&agent, "console-new-ticket").await;
    assert_eq!(app.get("/api/v1/tickets", &t.admin.token).await.body, json!([]));

    find(&agent, "#new-ticket-email").await.clear().await.unwrap();
    type_into(&agent, "#new-ticket-email", "grace@navy.mil").await;
    click(&agent, "#new-ticket-create").await;
    wait_text(&agent, "#ticket-title", "TK-1001").await;
    // No stray output anywhere on the page (a missing part once showed as
    // "null" under the reply box).
    wait_text(&agent, "#ticket", "Send reply").await;
    let page_text = text_of(&agent, "#ticket").await;
    assert!(
        !page_text.split_whitespace().any(|w| w == "null" || w == "undefined"),
        "{page_text}"
    );
    let ticket = app.ticket(&t.admin.token, "TK-1001").await;
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["description"], "Grace called:\nthe manual needs a reprint.");
    assert_eq!(ticket["assignee"]["id"], t.admin.id.as_str());
    assert_eq!(ticket["comments"], json!([]), "nothing mailed");
}

/// Signs the admin in and opens ticket `number`'s page.
async fn open_ticket(agent: &fantoccini::Client, app: &TestApp, t: &threadline_tests::TestTenant, number: &str) {
    sign_in(agent, app, t).await;
    agent
        .goto(&app.url(&format!("/console#/tickets/{number}")))
        .await
        .unwrap();
}
