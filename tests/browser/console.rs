//! The console's inbox and a chat: the spec's story end to end, a lost
//! connection, signing out, a long inbox.

use fantoccini::Locator;
use serde_json::json;

use crate::axe::screenshot;
use crate::driver::browser;
use crate::page::*;

/// The whole story of the spec, by clicking and typing: a visitor starts a
/// chat, the agent replies and notes, converts with the pre-filled email
/// (after the panel refused a missing one), follows the links both ways,
/// the visitor is asked for a rating and rates, and a reopened chat keeps
/// its link. The visitor's page updates live as the agent acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_a_chat_in_the_console_while_the_visitor_watches() {
    let Some((driver, app, t)) = acme().await else { return };
    let visitor = browser(&driver).await;
    let agent = browser(&driver).await;

    // The visitor starts a chat from the widget.
    visitor
        .goto(&app.url(&format!("/widget?key={}", t.widget_key)))
        .await
        .unwrap();
    find(&visitor, "#start-form").await;
    assert_every_field_is_labelled(&visitor).await;
    screenshot(&visitor, "widget-start").await;
    type_into(&visitor, "#visitor-name", "Grace Hopper").await;
    type_into(&visitor, "#visitor-email", "grace@example.com").await;
    type_into(&visitor, "#visitor-first", "My order 4521 never arrived.").await;
    click(&visitor, "#start-form button[type=submit]").await;
    wait_text(&visitor, "#visitor-messages", "My order 4521 never arrived.").await;

    // The agent signs in and opens it.
    sign_in(&agent, &app, &t).await;
    wait_text(&agent, "#chat-list", "Grace Hopper").await;
    click(&agent, "#chat-list a").await;
    wait_text(&agent, "#messages", "My order 4521 never arrived.").await;

    // Each sees the other typing, and stop seeing it when they stop.
    find(&visitor, "#visitor-body")
        .await
        .send_keys("Also, the")
        .await
        .unwrap();
    wait_text(&agent, "#typing", "The visitor is typing…").await;
    find(&agent, "#composer-body").await.send_keys("Looking").await.unwrap();
    wait_text(&visitor, "#typing", &format!("{} is typing…", t.admin.name)).await;
    find(&visitor, "#visitor-body").await.clear().await.unwrap();
    find(&visitor, "#visitor-body")
        .await
        .send_keys(" \u{E003}")
        .await
        .unwrap();
    wait_until(&agent, "#typing", "").await;

    // A reply (sent with Enter), which the visitor sees without reloading,
    // and an internal note, which they never see.
    type_into(&agent, "#composer-body", "Sorry about that, Grace! Let me check.\n").await;
    wait_text(&agent, "#messages", "Let me check.").await;
    wait_text(&visitor, "#visitor-messages", "Sorry about that, Grace! Let me check.").await;
    click(&agent, "#composer-note").await;
    type_into(&agent, "#composer-body", "Courier lost it; refund approved").await;
    click(&agent, "#send").await;
    wait_text(&agent, "li.internal_note", "Courier lost it").await;
    assert!(text_of(&agent, "li.internal_note").await.contains("INTERNAL NOTE"));
    // A later live update reached the visitor: the note did not come with it.
    app.agent_says(&t.admin.token, &chat_id(&app, &t).await, "One more moment.", false)
        .await;
    wait_text(&visitor, "#visitor-messages", "One more moment.").await;
    assert!(!text_of(&visitor, "#visitor-messages").await.contains("Courier lost it"));

    // The Convert panel: the email the chat captured, the default subject,
    // and a preview of the ticket.
    assert_eq!(value_of(&agent, "#convert-email").await, "grace@example.com");
    assert_eq!(value_of(&agent, "#convert-subject").await, "Chat with Grace Hopper");
    wait_text(&agent, "#preview-assignee", "Ada Admin").await;
    wait_text(
        &agent,
        "#preview-transcript",
        "Grace Hopper: My order 4521 never arrived.",
    )
    .await;
    wait_text(&agent, "#preview-transcript", "Ada Admin: One more moment.").await;
    assert!(!text_of(&agent, "#preview-transcript").await.contains("Courier lost it"));
    screenshot(&agent, "console-chat-with-convert-panel").await;
    assert_every_field_is_labelled(&agent).await;

    // Without an email the panel says so, where it happens, and creates nothing.
    type_into(&agent, "#convert-email", "").await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#convert-email-error", "Enter the visitor's email address.").await;
    assert_eq!(
        agent
            .find(Locator::Css("#convert-email"))
            .await
            .unwrap()
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    // A malformed one is refused by the server, shown in the same place.
    type_into(&agent, "#convert-email", "grace@").await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#convert-email-error", "email").await;
    assert_eq!(app.get("/api/v1/tickets", &t.admin.token).await.body, json!([]));

    type_into(&agent, "#convert-email", "grace@example.com").await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    wait_text(&agent, "#chat-status", "Closed").await;
    // It has left the open chats for the closed ones.
    wait_text(&agent, "#chat-list", "No open chats.").await;
    click(&agent, "#tabs button:nth-child(2)").await;
    wait_text(&agent, "#chat-list", "Grace Hopper").await;

    // The visitor is asked for a rating as soon as the chat closes.
    wait_text(&visitor, "#rating-prompt", "How did we do?").await;
    screenshot(&visitor, "widget-rating-prompt").await;
    click(&visitor, "input[name=score][value='5']").await;
    click(&visitor, "#rating-form button[type=submit]").await;
    wait_text(&visitor, "#rated", "Thanks for your rating (5/5).").await;

    // The ticket page: its fields, the transcript without the note, the backlink.
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket h2", "TK-1001").await;
    let description = text_of(&agent, "#ticket-description").await;
    assert!(
        description.contains("Grace Hopper: My order 4521 never arrived."),
        "{description}"
    );
    assert!(!description.contains("Courier lost it"), "{description}");
    wait_text(&agent, "#ticket", "in progress").await;
    screenshot(&agent, "console-ticket").await;

    // Back to the chat; reopened, it keeps its ticket link.
    click(&agent, "#origin-link").await;
    wait_text(&agent, "#messages", "My order 4521 never arrived.").await;
    click(&agent, "section.thread header button").await;
    wait_text(&agent, "#chat-status", "Open").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;

    // The visitor's page follows: the chat is open again, with its history.
    find(&visitor, "#visitor-composer").await;
    wait_text(&visitor, "#visitor-messages", "One more moment.").await;

    agent.close().await.unwrap();
    visitor.close().await.unwrap();
}

/// A lost connection is shown, and the console reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_lost_connection_and_reconnects() {
    let Some((driver, app, t)) = acme().await else { return };
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    // Drop the socket from the page's side, as a network blip would.
    agent
        .execute(
            "window.dispatchEvent(new Event('threadline:drop-socket')); return true;",
            vec![],
        )
        .await
        .unwrap();
    wait_text(&agent, "#live", "Offline").await;
    wait_text(&agent, "#live", "Live").await;
    // And it is live again: a new chat shows up without a reload.
    app.simple_chat(&t).await;
    wait_text(&agent, "#chat-list", "Grace Hopper").await;
    agent.close().await.unwrap();
}

/// A session survives a reload, and signing out ends it on the server: the
/// token the page held no longer works anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_of_the_console_ends_the_session() {
    let Some((driver, app, t)) = acme().await else { return };
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    screenshot(&agent, "console-signed-in").await;
    let token = agent
        .execute("return localStorage.getItem('threadline.token');", vec![])
        .await
        .unwrap();
    let token = token.as_str().unwrap().to_owned();
    assert!(token.starts_with("tls_"), "a session, not an API token: {token}");
    agent.refresh().await.unwrap();
    wait_text(&agent, "#live", "Live").await;

    click(&agent, "#sign-out").await;
    find(&agent, "form.signin").await;
    // The workspace is remembered for next time; the password never is.
    assert_eq!(value_of(&agent, "#workspace").await, t.slug);
    assert_eq!(value_of(&agent, "#password").await, "");
    eventually("the session still works after signing out", async || {
        app.get("/api/v1/chats", &token).await.status == reqwest::StatusCode::UNAUTHORIZED
    })
    .await;
    agent.close().await.unwrap();
}

/// With 120 open chats, the oldest is reachable from the inbox ("Show
/// more"), and a chat whose visitor wrote shows as unread, in the title
/// too, until the agent opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reaches_the_120th_chat_and_sees_what_is_unread() {
    let Some((driver, app, t)) = acme().await else { return };
    let mut first = None;
    for i in 1..=120 {
        let (chat, token) = app
            .start_chat(
                &t,
                json!({"visitor_name": format!("Visitor {i}"), "message": format!("Question {i}")}),
            )
            .await;
        first.get_or_insert((chat, token));
    }
    let (oldest, oldest_token) = first.unwrap();
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    wait_text(&agent, "#chat-list", "Visitor 120").await;
    click(&agent, "#chats-more").await;
    wait_text(&agent, "#chat-list", "Visitor 70").await;
    click(&agent, "#chats-more").await;
    let link = format!("#chat-list a[href='#/chats/{oldest}']");
    find(&agent, &link).await.click().await.unwrap();
    wait_text(&agent, "#messages", "Question 1").await;
    screenshot(&agent, "console-inbox-120th-chat").await;

    // Visitor 1 writes again: their chat comes first, with the new words.
    agent.goto(&app.url("/console#/team")).await.unwrap();
    find(&agent, "#team").await;
    app.visitor_says(&oldest_token, &oldest, "Anyone there?").await;
    wait_text(&agent, "#chat-list li:first-child", "Anyone there?").await;
    let unread = find(&agent, "#chat-list li:first-child")
        .await
        .attr("data-unread")
        .await
        .unwrap();
    assert_eq!(unread.as_deref(), Some("true"));
    assert!(
        agent.title().await.unwrap().starts_with('('),
        "{:?}",
        agent.title().await
    );
    click(&agent, "#chat-list li:first-child a").await;
    wait_text(&agent, "#messages", "Anyone there?").await;
    // The opened chat is read.
    wait_attr(&agent, "#chat-list li:first-child", "data-unread", "false").await;

    // Search finds one chat of the 120 by its visitor, another by a word
    // of a message; one letter asks for more.
    type_into(&agent, "#chat-search", "visitor 77").await;
    wait_until_count(&agent, "#chat-list li a", 1).await;
    wait_text(&agent, "#chat-list", "Visitor 77").await;
    type_into(&agent, "#chat-search", "anyone").await;
    wait_until_count(&agent, "#chat-list li a", 1).await;
    wait_text(&agent, "#chat-list", "Anyone there?").await;
    screenshot(&agent, "console-inbox-search").await;
    type_into(&agent, "#chat-search", "q").await;
    wait_text(
        &agent,
        "#chat-list",
        "A search must have a word of at least two letters or digits",
    )
    .await;
    agent.close().await.unwrap();
}
