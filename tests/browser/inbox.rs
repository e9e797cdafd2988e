//! The inbox a team lives in: the longest waiting visitor first, and chats
//! that belong to someone (take one; the views and the title follow).

use serde_json::json;

use crate::axe::screenshot;
use crate::driver::browser;
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_wait_comes_first_and_an_agent_takes_a_chat() {
    let Some((driver, app, t)) = acme().await else { return };
    let bob = app.agent(&t, "Bob").await;
    let mut chats = Vec::new();
    for name in ["Grace", "Alan", "Edsger"] {
        let (chat, _) = app
            .start_chat(
                &t,
                json!({"visitor_name": name, "message": format!("{name} needs help")}),
            )
            .await;
        chats.push(chat);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Bob answers Alan: Alan waits no more, and is Bob's.
    app.agent_says(&bob.token, &chats[1], "Hi Alan", false).await;

    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    // Newest activity first: Bob's answer to Alan.
    wait_text(&agent, "#chat-list li:first-child", "Alan").await;
    // Two visitors wait: the title says so, whatever the list shows.
    eventually("the title counts two waiting", async || {
        agent.title().await.is_ok_and(|t| t == "(2) Threadline")
    })
    .await;
    click(&agent, "#chat-waiting-first").await;
    wait_text(&agent, "#chat-list li:first-child", "Grace").await;
    wait_until_count(&agent, "#chat-list li a", 2).await;
    assert!(text_of(&agent, "#chat-list li:first-child").await.contains("waiting"));
    screenshot(&agent, "console-inbox-longest-waiting").await;

    // Ada takes Grace's chat; it shows under Mine, and Bob sees it is hers.
    click(&agent, "#chat-list li:first-child a").await;
    wait_text(&agent, "#messages", "Grace needs help").await;
    click(&agent, "#take-chat").await;
    wait_text(&agent, "#messages", "took the chat").await;
    assert_eq!(value_of(&agent, "#chat-assignee").await, t.admin.id);
    click(&agent, "#chat-waiting-first").await;
    choose(&agent, "#chat-view", "me").await;
    wait_until_count(&agent, "#chat-list li a", 1).await;
    wait_text(&agent, "#chat-list", "Grace").await;
    choose(&agent, "#chat-view", "none").await;
    wait_until_count(&agent, "#chat-list li a", 1).await;
    wait_text(&agent, "#chat-list", "Edsger").await;
    screenshot(&agent, "console-inbox-unassigned").await;
    let mine = app.get("/api/v1/chats?assignee=me", &bob.token).await.body;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let graces = app.chat(&bob.token, &chats[0]).await;
    assert_eq!(graces["assignee"]["name"], "Ada Admin");
}

/// An admin adds a canned reply on the Replies page; in a chat, "/" and a
/// few letters offer it, and Enter puts it in with the visitor's and the
/// agent's names filled in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canned_reply_goes_in_with_a_slash() {
    let Some((driver, app, t)) = acme().await else { return };
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "message": "Where is my refund?"}),
        )
        .await;
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#replies-link").await;
    find(&agent, "#new-reply").await;
    assert_every_field_is_labelled(&agent).await;
    type_into(&agent, "#new-reply-title", "Refund sent").await;
    type_into(
        &agent,
        "#new-reply-body",
        "Hi {visitor_name}, {agent_name} here: your refund is on its way.",
    )
    .await;
    click(&agent, "#new-reply button[type=submit]").await;
    wait_text(&agent, "#replies-message", "Added Refund sent.").await;
    screenshot(&agent, "console-canned-replies").await;

    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#messages", "Where is my refund?").await;
    // The Replies page is gone: the chat has the main column.
    wait_until_count(&agent, "#replies", 0).await;
    type_into(&agent, "#composer-body", "/ref").await;
    wait_text(&agent, "#composer-body-canned", "Refund sent").await;
    screenshot(&agent, "console-canned-picker").await;
    find(&agent, "#composer-body")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    assert_eq!(
        value_of(&agent, "#composer-body").await,
        "Hi Grace Hopper, Ada Admin here: your refund is on its way."
    );
    // Enter again sends it, as any chat message.
    find(&agent, "#composer-body")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    wait_text(&agent, "#messages", "Ada Admin here: your refund is on its way.").await;
}

/// The keyboard moves through the inbox: j and k from chat to chat, / to
/// search, ? for the list of shortcuts; typing in a field stays typing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shortcuts_move_through_the_list() {
    let Some((driver, app, t)) = acme().await else { return };
    for name in ["Grace", "Alan", "Edsger"] {
        app.start_chat(&t, json!({"visitor_name": name, "message": format!("{name} here")}))
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    wait_until_count(&agent, "#chat-list li a", 3).await;
    let press = |key: &'static str| {
        let agent = agent.clone();
        async move { find(&agent, "body").await.send_keys(key).await.unwrap() }
    };
    let shown = || {
        let agent = agent.clone();
        async move { text_of(&agent, "#thread-header h2").await }
    };
    press("j").await;
    wait_text(&agent, "#messages", "Edsger here").await;
    press("j").await;
    wait_text(&agent, "#messages", "Alan here").await;
    press("k").await;
    wait_text(&agent, "#messages", "Edsger here").await;
    assert!(shown().await.contains("Edsger"));
    press("?").await;
    wait_text(&agent, "#shortcuts", "Next chat in the list").await;
    screenshot(&agent, "console-shortcuts").await;
    press("\u{E00C}").await;
    wait_until_count(&agent, "#shortcuts", 0).await;
    press("/").await;
    let focused = agent.execute("return document.activeElement.id", vec![]).await.unwrap();
    assert_eq!(focused, json!("chat-search"));
    // In the search box, j is a letter.
    find(&agent, "#chat-search").await.send_keys("j").await.unwrap();
    assert_eq!(value_of(&agent, "#chat-search").await, "j");
}

/// A chat marked as spam leaves the inbox and its visitor is blocked; an
/// admin lifts the block on the Team page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam_leaves_the_inbox_and_an_admin_lifts_the_block() {
    let Some((driver, app, t)) = acme().await else { return };
    let (chat, visitor) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Buy Now", "visitor_email": "bot@spam.test", "message": "cheap pills"}),
        )
        .await;
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#messages", "cheap pills").await;
    agent
        .execute("window.confirm = () => true; return true", vec![])
        .await
        .unwrap();
    click(&agent, "#spam-chat").await;
    wait_text(&agent, "#thread", "Marked as spam").await;
    wait_text(&agent, "#chat-list", "No open chats.").await;
    assert_eq!(
        app.visitor_says(&visitor, &chat, "hello?").await.status,
        reqwest::StatusCode::FORBIDDEN
    );

    click(&agent, "#team-link").await;
    wait_text(&agent, "#blocks", "Buy Now").await;
    screenshot(&agent, "console-team-blocks").await;
    click(&agent, "#blocks button").await;
    wait_text(&agent, "#team-message", "Buy Now may chat again.").await;
    wait_text(&agent, "#blocks", "Nobody is blocked.").await;
}

/// While the console's tab is hidden, a visitor who starts waiting rings
/// and shows a desktop notification naming them (the agent turned it on);
/// clicking it opens their chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_console_notifies_of_a_waiting_visitor() {
    let Some((driver, app, t)) = acme().await else { return };
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#team-link").await;
    find(&agent, "#notifications").await;
    assert_every_field_is_labelled(&agent).await;
    // The browser's side, stood in for: the tab is hidden, notifications
    // are allowed, and each one shown is kept where the test can read it.
    agent
        .execute(
            "Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
             window.shown = [];
             window.Notification = function (title, options) { window.shown.push(options.body); window.lastShown = this; };
             window.Notification.permission = 'granted';
             window.Notification.prototype.close = function () {};
             window.Notification.requestPermission = async () => 'granted';
             return true",
            vec![],
        )
        .await
        .unwrap();
    click(&agent, "#notify-desktop").await;
    eventually("desktop notifications turned on", async || {
        find(&agent, "#notify-desktop")
            .await
            .prop("checked")
            .await
            .ok()
            .flatten()
            .as_deref()
            == Some("true")
    })
    .await;

    let (chat, _) = app
        .start_chat(&t, json!({"visitor_name": "Grace Hopper", "message": "Hello?"}))
        .await;
    eventually("a notification named Grace", async || {
        agent
            .execute("return window.shown.join('|')", vec![])
            .await
            .is_ok_and(|v| {
                v.as_str()
                    .is_some_and(|s| s.contains("Grace Hopper waiting for a reply"))
            })
    })
    .await;
    let shown = agent.execute("return window.shown.join('|')", vec![]).await.unwrap();
    assert!(
        !shown.as_str().unwrap().contains("Hello?"),
        "the message stays private: {shown}"
    );
    agent
        .execute("window.lastShown.onclick(); return true", vec![])
        .await
        .unwrap();
    wait_text(&agent, "#messages", "Hello?").await;
    assert!(agent.current_url().await.unwrap().as_str().ends_with(&chat));
}

/// Two agents open the same chat: each sees the other there, Ada sees Bob
/// typing, Bob takes the chat and Ada's page shows it is his; when Bob
/// goes to the ticket list, Ada sees him leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_on_one_chat_see_each_other_and_one_takes_it() {
    let Some((driver, app, t)) = acme().await else { return };
    let bob = app.agent(&t, "Bob Builder").await;
    let (chat, _) = app
        .start_chat(&t, json!({"visitor_name": "Grace Hopper", "message": "Anyone there?"}))
        .await;
    let ada_page = browser(&driver).await;
    sign_in(&ada_page, &app, &t).await;
    ada_page
        .goto(&app.url(&format!("/console#/chats/{chat}")))
        .await
        .unwrap();
    wait_text(&ada_page, "#messages", "Anyone there?").await;
    let bob_page = browser(&driver).await;
    sign_in_agent(&bob_page, &app, &t, &bob).await;
    bob_page
        .goto(&app.url(&format!("/console#/chats/{chat}")))
        .await
        .unwrap();
    wait_text(&bob_page, "#messages", "Anyone there?").await;

    wait_text(&ada_page, "#presence", "Bob Builder also has this open.").await;
    wait_text(&bob_page, "#presence", &format!("{} also has this open.", t.admin.name)).await;
    type_into(&bob_page, "#composer-body", "On it").await;
    wait_text(&ada_page, "#presence", "Bob Builder (typing…)").await;
    screenshot(&ada_page, "console-chat-presence").await;

    click(&bob_page, "#take-chat").await;
    eventually("Ada's page shows the chat is Bob's", async || {
        value_of(&ada_page, "#chat-assignee").await == bob.id
    })
    .await;
    bob_page.goto(&app.url("/console#/tickets")).await.unwrap();
    eventually("Ada sees Bob leave", async || {
        text_of(&ada_page, "#presence").await.is_empty()
    })
    .await;
}
