//! The visitor's widget: embedded on another site, and on a phone.

use serde_json::json;

use crate::axe::screenshot;
use crate::driver::browser;
use crate::page::*;

/// A site embeds the widget with one script tag: a button opens the chat in
/// a frame, and a chat started there reaches the agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_script_opens_the_widget_on_another_site() {
    let Some((driver, app, t)) = acme().await else { return };
    let site = browser(&driver).await;
    // A page of some other site: another origin (a port of its own).
    let page = format!(
        "<!doctype html><title>Shop</title><h1>Our shop</h1><script src=\"{}\" data-key=\"{}\"></script>",
        app.url("/widget.js"),
        t.widget_key
    );
    site.goto(&serve_page(page).await).await.unwrap();
    let open = find(&site, "button[aria-expanded]").await;
    assert_eq!(open.text().await.unwrap(), "Chat with us");
    open.click().await.unwrap();
    assert_eq!(open.attr("aria-expanded").await.unwrap().as_deref(), Some("true"));
    find(&site, "iframe[title='Chat with us']")
        .await
        .enter_frame()
        .await
        .unwrap();
    type_into(&site, "#visitor-name", "Linus").await;
    type_into(&site, "#visitor-first", "Is this thing on?").await;
    click(&site, "#start-form button[type=submit]").await;
    wait_text(&site, "#visitor-messages", "Is this thing on?").await;
    let chats = app.get("/api/v1/chats", &t.admin.token).await.body;
    assert_eq!(chats[0]["visitor"]["name"], "Linus");
    // Escape in the chat closes it; so does its Close button.
    find(&site, "#visitor-body").await.send_keys("\u{E00C}").await.unwrap();
    site.enter_parent_frame().await.unwrap();
    wait_attr(&site, "button[aria-expanded]", "aria-expanded", "false").await;
    click(&site, "button[aria-expanded]").await;
    find(&site, "iframe[title='Chat with us']")
        .await
        .enter_frame()
        .await
        .unwrap();
    click(&site, "#widget-close").await;
    site.enter_parent_frame().await.unwrap();
    wait_attr(&site, "button[aria-expanded]", "aria-expanded", "false").await;
    site.close().await.unwrap();
}

/// The embed script placed in `<head>`, before a slow script, still shows
/// its button once the page is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_script_works_from_the_head() {
    let Some((driver, app, t)) = acme().await else { return };
    let site = browser(&driver).await;
    let page = format!(
        "<!doctype html><html><head><title>Shop</title><script src=\"{}\" data-key=\"{}\"></script>\
         <script>const until = Date.now() + 300; while (Date.now() < until) {{}}</script></head>\
         <body><h1>Our shop</h1></body></html>",
        app.url("/widget.js"),
        t.widget_key
    );
    site.goto(&serve_page(page).await).await.unwrap();
    let open = find(&site, "button[aria-expanded]").await;
    assert_eq!(open.text().await.unwrap(), "Chat with us");
    open.click().await.unwrap();
    find(&site, "iframe[title='Chat with us']")
        .await
        .enter_frame()
        .await
        .unwrap();
    find(&site, "#visitor-name").await;
    site.close().await.unwrap();
}

/// On a 390×844 phone, a visitor reads words meant for them when the email
/// is wrong, and after every message the newest one and the composer are
/// on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_a_phone_keeps_the_newest_message_in_view() {
    let Some((driver, app, t)) = acme().await else { return };
    let visitor = browser(&driver).await;
    visitor.set_window_size(390, 844).await.unwrap();
    visitor
        .goto(&app.url(&format!("/widget?key={}", t.widget_key)))
        .await
        .unwrap();
    type_into(&visitor, "#visitor-name", "Grace").await;
    type_into(&visitor, "#visitor-email", "grace@localhost").await;
    type_into(&visitor, "#visitor-first", "Hello").await;
    click(&visitor, "#start-form button[type=submit]").await;
    wait_text(&visitor, "#start-error", "Please check your email address").await;
    let said = text_of(&visitor, "#start-error").await;
    assert!(!said.contains("visitor_email"), "API words shown to a visitor: {said}");
    type_into(&visitor, "#visitor-email", "grace@example.com").await;
    click(&visitor, "#start-form button[type=submit]").await;
    wait_text(&visitor, "#visitor-messages", "Hello").await;
    for i in 1..=15 {
        type_into(&visitor, "#visitor-body", &format!("Line {i} of a long story\u{E007}")).await;
        wait_text(&visitor, "#visitor-messages li:last-child", &format!("Line {i} of")).await;
    }
    let in_view = visitor
        .execute(
            "const h = window.innerHeight;
             const last = document.querySelector('#visitor-messages li:last-child').getBoundingClientRect();
             const box = document.getElementById('visitor-body').getBoundingClientRect();
             return [last.bottom <= h + 1 && last.top >= 0, box.bottom <= h + 1 && box.top >= 0];",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&visitor, "widget-phone").await;
    assert_eq!(
        in_view,
        json!([true, true]),
        "the newest message and the composer are on screen"
    );
    visitor.close().await.unwrap();
}

/// A visitor whose chat ended (and who rated it) starts another from the
/// same widget, as the same visitor: their name and email are filled in,
/// and both chats are theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_starts_a_second_chat_after_rating_the_first() {
    let Some((driver, app, t)) = acme().await else { return };
    let visitor = browser(&driver).await;
    visitor
        .goto(&app.url(&format!("/widget?key={}", t.widget_key)))
        .await
        .unwrap();
    type_into(&visitor, "#visitor-name", "Grace Hopper").await;
    type_into(&visitor, "#visitor-email", "grace@example.com").await;
    type_into(&visitor, "#visitor-first", "My first question.").await;
    click(&visitor, "#start-form button[type=submit]").await;
    wait_text(&visitor, "#visitor-messages", "My first question.").await;
    let first = chat_id(&app, &t).await;
    let r = app
        .post_empty(&format!("/api/v1/chats/{first}/close"), &t.admin.token)
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    click(&visitor, "input[name=score][value='4']").await;
    click(&visitor, "#rating-form button[type=submit]").await;
    wait_text(&visitor, "#rated", "Thanks for your rating (4/5).").await;

    click(&visitor, "#new-chat").await;
    find(&visitor, "#start-form").await;
    assert_eq!(value_of(&visitor, "#visitor-name").await, "Grace Hopper");
    assert_eq!(value_of(&visitor, "#visitor-email").await, "grace@example.com");
    screenshot(&visitor, "widget-new-chat").await;
    type_into(&visitor, "#visitor-first", "And a second one.").await;
    click(&visitor, "#start-form button[type=submit]").await;
    wait_text(&visitor, "#visitor-messages", "And a second one.").await;
    assert!(
        !text_of(&visitor, "#visitor-messages")
            .await
            .contains("My first question.")
    );

    // The agents see two chats of one visitor: the new one open.
    let chats = app.get("/api/v1/chats?status=open", &t.admin.token).await.body;
    assert_eq!(chats.as_array().unwrap().len(), 1, "{chats}");
    assert_eq!(chats[0]["visitor"]["email"], "grace@example.com");
    assert_ne!(chats[0]["id"], first.as_str());
    let second = chats[0]["id"].as_str().unwrap().to_owned();
    let visitor_of = |chat: String| {
        let db = app.db.url.clone();
        async move {
            let db = sea_orm::Database::connect(&db).await.unwrap();
            let rows = threadline_tests::sql::query(
                &db,
                "SELECT visitor_id FROM chats WHERE id = $1",
                vec![chat.as_str().into()],
            )
            .await;
            rows[0].try_get::<String>("", "visitor_id").unwrap()
        }
    };
    assert_eq!(visitor_of(first).await, visitor_of(second).await);
}
