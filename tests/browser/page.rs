//! What the tests do on a page, as a person would: wait for text, click,
//! type, sign in; and the data they set up for it.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;
use threadline_tests::{Backend, TestApp, TestDb, TestTenant};

use crate::axe::screenshot;
use crate::driver::{Driver, chromedriver};

/// What most tests start from: Chromium under chromedriver, the server on
/// a fresh SQLite file, and a workspace "Acme". `None` when chromedriver is
/// missing (it says so loudly; under CI it fails instead).
pub(crate) async fn acme() -> Option<(Driver, TestApp, TestTenant)> {
    let driver = chromedriver()?;
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
    Some((driver, app, t))
}

/// Polls `holds` every 50 ms until it is true; fails saying `what` after
/// ten seconds.
pub(crate) async fn eventually(what: impl std::fmt::Display, mut holds: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !holds().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the element at `css` is there and its text passes `check`.
pub(crate) async fn text_passes(c: &Client, css: &str, check: impl Fn(&str) -> bool) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.is_ok_and(|t| check(&t)),
        Err(_) => false,
    }
}

/// Waits until the element at `css` holds `text` (ten seconds at most).
pub(crate) async fn wait_text(c: &Client, css: &str, text: &str) {
    let what = format!("{text:?} never appeared in {css}");
    eventually(what, async || text_passes(c, css, |t| t.contains(text)).await).await
}

/// Waits until the element at `css` holds exactly `text` (ten seconds at most).
pub(crate) async fn wait_until(c: &Client, css: &str, text: &str) {
    let what = format!("{css} never came to hold exactly {text:?}");
    eventually(what, async || text_passes(c, css, |t| t == text).await).await
}

/// Waits until the element at `css` has `attr` = `value` (ten seconds at
/// most). An element replaced between finding and reading it (a live
/// update redrew it) is looked for again.
pub(crate) async fn wait_attr(c: &Client, css: &str, attr: &str, value: &str) {
    let what = format!("{css} never had {attr}={value}");
    eventually(what, async || {
        find(c, css)
            .await
            .attr(attr)
            .await
            .is_ok_and(|a| a.as_deref() == Some(value))
    })
    .await
}

/// Waits until exactly `n` elements match `css` (ten seconds at most).
pub(crate) async fn wait_until_count(c: &Client, css: &str, n: usize) {
    let what = format!("{css} never matched exactly {n}");
    eventually(what, async || {
        c.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0) == n
    })
    .await
}

/// The element at `css`, once it is there (ten seconds at most).
pub(crate) async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Picks `value` in the select at `css`.
pub(crate) async fn choose(c: &Client, css: &str, value: &str) {
    find(c, css).await.select_by_value(value).await.unwrap();
}

/// The text of the element at `css`, once it is there. Read in one step
/// in the page, so a live redraw between finding and reading cannot make
/// the element stale.
pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    read(c, css, "innerText").await
}

pub(crate) async fn value_of(c: &Client, css: &str) -> String {
    read(c, css, "value").await
}

async fn read(c: &Client, css: &str, prop: &str) -> String {
    find(c, css).await;
    let script = "const n = document.querySelector(arguments[0]); return n ? String(n[arguments[1]] ?? '') : '';";
    let v = c.execute(script, vec![json!(css), json!(prop)]).await.unwrap();
    v.as_str().unwrap_or_default().to_owned()
}

/// Clicks the element at `css`. Pages redraw live (a ticket's page when
/// its mail goes out), so an element found a moment before may be gone:
/// it is looked for again, for ten seconds at most.
pub(crate) async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match find(c, css).await.click().await {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("clicking {css} again: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
}

/// Replaces the text of the field at `css` with `text` (looked for again
/// if a live redraw replaced it, as `click` does).
pub(crate) async fn type_into(c: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = find(c, css).await;
        let typed = async {
            e.clear().await?;
            e.send_keys(text).await
        };
        match typed.await {
            Ok(()) => return,
            Err(err) if Instant::now() < deadline => {
                eprintln!("typing into {css} again: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("cannot type into {css}: {err}"),
        }
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Signs `t`'s admin in to the console with a password, as a person would,
/// after a first try with a wrong one; waits until the console is live.
pub(crate) async fn sign_in(c: &Client, app: &TestApp, t: &TestTenant) {
    app.set_password(&t.admin, PASSWORD).await;
    c.goto(&app.url("/console")).await.unwrap();
    find(c, "form.signin").await;
    assert_every_field_is_labelled(c).await;
    type_into(c, "#workspace", &t.slug).await;
    type_into(c, "#email", &t.admin.email).await;
    type_into(c, "#password", "not my password").await;
    click(c, "form.signin button[type=submit]").await;
    wait_text(c, "#signin-error", "Wrong workspace, email or password.").await;
    screenshot(c, "console-sign-in").await;
    type_into(c, "#password", PASSWORD).await;
    click(c, "form.signin button[type=submit]").await;
    wait_text(c, "#live", "Live").await;
}

/// Signs `agent` of `t` in, without the detour of a wrong password.
pub(crate) async fn sign_in_agent(c: &Client, app: &TestApp, t: &TestTenant, agent: &threadline_tests::TestAgent) {
    app.set_password(agent, PASSWORD).await;
    c.goto(&app.url("/console")).await.unwrap();
    find(c, "form.signin").await;
    type_into(c, "#workspace", &t.slug).await;
    type_into(c, "#email", &agent.email).await;
    type_into(c, "#password", PASSWORD).await;
    click(c, "form.signin button[type=submit]").await;
    wait_text(c, "#live", "Live").await;
}

/// Every input a person can type in has a label a screen reader announces.
pub(crate) async fn assert_every_field_is_labelled(c: &Client) {
    let unlabelled = c
        .execute(
            "return [...document.querySelectorAll('input, textarea, select')]
                 .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
                 .map(e => e.id || e.name);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "fields without a label");
}

/// A chat started with `body`, then closed by the workspace's admin.
pub(crate) async fn closed_chat(app: &TestApp, t: &TestTenant, body: serde_json::Value) -> String {
    let (chat, _) = app.start_chat(t, body).await;
    let r = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    chat
}

/// The one chat of the workspace (the test starts exactly one).
pub(crate) async fn chat_id(app: &TestApp, t: &TestTenant) -> String {
    let chats = app.get("/api/v1/chats", &t.admin.token).await.body;
    chats[0]["id"].as_str().unwrap().to_owned()
}

/// A bare HTTP server that answers every request with `html`; its URL.
pub(crate) async fn serve_page(html: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    html.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(html.as_bytes()).await;
            });
        }
    });
    url
}
