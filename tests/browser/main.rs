//! The agent console and the visitor widget in headless Chromium (Debian's
//! `chromium` and `chromium-driver`), driven over WebDriver by clicking and
//! typing, against the real server on port 0. Screenshots of the chat with
//! its Convert panel, the ticket page and the widget go to
//! `target/screenshots/`.
//!
//! Every page photographed is also audited with axe-core (the npm package,
//! fetched once with `npm pack` into `target/axe-core-<version>/` and
//! checked against its published SHA-512): no serious or critical
//! violation, one `main` landmark, and on the console a skip link.
//!
//! Without chromedriver (or npm) the test says SKIPPED loudly; with `CI`
//! set it fails instead (`.ci/run` installs the packages).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use threadline_tests::{Backend, TestApp, TestDb};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// Ends chromedriver and every Chromium it started: they share its
    /// process group, so a test that panics before closing its browser
    /// leaves no Chromium running (and eating the CPU of what runs next).
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<Driver> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(path) = found.filter(|_| std::path::Path::new(CHROMIUM).exists()) else {
        let msg = "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n*** SKIPPED: browser tests: {msg} ***\n");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(path)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,900"],
        }),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Polls `holds` every 50 ms until it is true; fails saying `what` after
/// ten seconds.
async fn eventually(what: impl std::fmt::Display, mut holds: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !holds().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the element at `css` is there and its text passes `check`.
async fn text_passes(c: &Client, css: &str, check: impl Fn(&str) -> bool) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.is_ok_and(|t| check(&t)),
        Err(_) => false,
    }
}

/// Waits until the element at `css` holds `text` (ten seconds at most).
async fn wait_text(c: &Client, css: &str, text: &str) {
    let what = format!("{text:?} never appeared in {css}");
    eventually(what, async || text_passes(c, css, |t| t.contains(text)).await).await
}

/// Waits until the element at `css` holds exactly `text` (ten seconds at most).
async fn wait_until(c: &Client, css: &str, text: &str) {
    let what = format!("{css} never came to hold exactly {text:?}");
    eventually(what, async || text_passes(c, css, |t| t == text).await).await
}

/// The element at `css`, once it is there (ten seconds at most).
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

async fn text_of(c: &Client, css: &str) -> String {
    find(c, css).await.text().await.unwrap()
}

async fn value_of(c: &Client, css: &str) -> String {
    find(c, css).await.prop("value").await.unwrap().unwrap_or_default()
}

async fn click(c: &Client, css: &str) {
    find(c, css).await.click().await.unwrap();
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = find(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Photographs the page into `target/screenshots/<name>.png`, then audits it.
async fn screenshot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot: {}", path.display());
    audit(c, name).await;
}

/// The axe-core release the audits run, and its npm integrity (SHA-512).
const AXE_VERSION: &str = "4.14.1";
const AXE_SHA512: &str = "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==";

/// axe-core's `axe.min.js`, from the npm registry the first time (one test
/// at a time fetches it; the others wait and read the file).
fn axe_source() -> String {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/axe-core-{AXE_VERSION}"));
    let script = dir.join("axe.min.js");
    if let Ok(source) = std::fs::read_to_string(&script) {
        return source;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let packed = Command::new("npm")
        .args([
            "pack",
            &format!("axe-core@{AXE_VERSION}"),
            "--silent",
            "--pack-destination",
        ])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("npm runs (apt-get install -y npm): {e}"));
    assert!(
        packed.status.success(),
        "npm pack axe-core: {}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let tarball = dir.join(format!("axe-core-{AXE_VERSION}.tgz"));
    let digest = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(std::fs::read(&tarball).unwrap()))
    };
    assert_eq!(
        digest, AXE_SHA512,
        "axe-core {AXE_VERSION} is not the published package"
    );
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .args(["--strip-components=1", "package/axe.min.js"])
        .status()
        .unwrap();
    assert!(unpacked.success(), "tar extracts axe.min.js");
    std::fs::read_to_string(&script).unwrap()
}

/// Runs axe-core on the page: no serious or critical violation, exactly one
/// `main` landmark, and on the console (signed in) a skip link to it.
async fn audit(c: &Client, name: &str) {
    c.execute(&format!("{}\nreturn true;", axe_source()), vec![])
        .await
        .unwrap();
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => ({ rule: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.map(n => n.target.join(' ')) }))))
               .catch(e => done([{ rule: 'axe failed', help: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "axe-core on {name}: serious or critical violations");
    let landmarks = c
        .execute(
            "return { main: document.querySelectorAll('main, [role=main]').length,
                      console: !!document.querySelector('header.top'),
                      skip: !!document.querySelector('a.skip-link') };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(landmarks["main"], 1, "{name}: one main landmark");
    if landmarks["console"] == true {
        assert_eq!(landmarks["skip"], true, "{name}: a skip link");
    }
}

/// The whole story of the spec, by clicking and typing: a visitor starts a
/// chat, the agent replies and notes, converts with the pre-filled email
/// (after the panel refused a missing one), follows the links both ways,
/// the visitor is asked for a rating and rates, and a reopened chat keeps
/// its link. The visitor's page updates live as the agent acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_a_chat_in_the_console_while_the_visitor_watches() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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

const PASSWORD: &str = "correct horse battery staple";

/// Signs `t`'s admin in to the console with a password, as a person would,
/// after a first try with a wrong one; waits until the console is live.
async fn sign_in(c: &Client, app: &TestApp, t: &threadline_tests::TestTenant) {
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

/// Every input a person can type in has a label a screen reader announces.
async fn assert_every_field_is_labelled(c: &Client) {
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

/// The one chat of the workspace (the test starts exactly one).
/// A chat started with `body`, then closed by the workspace's admin.
async fn closed_chat(app: &TestApp, t: &threadline_tests::TestTenant, body: serde_json::Value) -> String {
    let (chat, _) = app.start_chat(t, body).await;
    let r = app
        .post(&format!("/api/v1/chats/{chat}/close"), &t.admin.token, json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    chat
}

async fn chat_id(app: &TestApp, t: &threadline_tests::TestTenant) -> String {
    let chats = app.get("/api/v1/chats", &t.admin.token).await.body;
    chats[0]["id"].as_str().unwrap().to_owned()
}

/// A lost connection is shown, and the console reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_lost_connection_and_reconnects() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    // Drop the socket from the page's side, as a network blip would.
    agent.execute("socket.close(); return true;", vec![]).await.unwrap();
    wait_text(&agent, "#live", "Offline").await;
    wait_text(&agent, "#live", "Live").await;
    // And it is live again: a new chat shows up without a reload.
    app.simple_chat(&t).await;
    wait_text(&agent, "#chat-list", "Grace Hopper").await;
    agent.close().await.unwrap();
}

/// A site embeds the widget with one script tag: a button opens the chat in
/// a frame, and a chat started there reaches the agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_script_opens_the_widget_on_another_site() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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

/// Waits until the element at `css` has `attr` = `value` (ten seconds at most).
async fn wait_attr(c: &Client, css: &str, attr: &str, value: &str) {
    let what = format!("{css} never had {attr}={value}");
    eventually(what, async || {
        find(c, css).await.attr(attr).await.unwrap().as_deref() == Some(value)
    })
    .await
}

/// The embed script placed in `<head>`, before a slow script, still shows
/// its button once the page is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embed_script_works_from_the_head() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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

/// A bare HTTP server that answers every request with `html`; its URL.
async fn serve_page(html: String) -> String {
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

/// A session survives a reload, and signing out ends it on the server: the
/// token the page held no longer works anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_of_the_console_ends_the_session() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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

    click(&agent, "header.top button").await;
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

/// An operator changes the rules without code: a subject template and
/// redaction on the Conversion rules page, a shadow run over the last 20
/// chats that shows the differences, save; then a conversion uses them,
/// and the ticket page shows the receipt of what ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changes_the_rules_tries_them_on_recent_chats_and_sees_the_receipt() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
    for i in 0..20 {
        closed_chat(
            &app,
            &t,
            json!({"visitor_name": format!("Visitor {i}"), "message": "My card is 4111 1111 1111 1111"}),
        )
        .await;
    }
    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#rules-link").await;
    find(&agent, "#setting-subject-template").await;
    assert_every_field_is_labelled(&agent).await;
    type_into(&agent, "#setting-subject-template", "[VIP] {visitor_name}").await;
    find(&agent, "#setting-transcript-redact")
        .await
        .select_by_value("true")
        .await
        .unwrap();

    type_into(&agent, "#shadow-last", "20").await;
    click(&agent, "#shadow-run").await;
    wait_text(&agent, "#shadow-summary", "20 of 20 chats would change.").await;
    wait_text(&agent, "#shadow-results", "[VIP] Visitor 19").await;
    wait_text(&agent, "#shadow-results", "My card is [card number]").await;
    screenshot(&agent, "console-rules-shadow-run").await;
    assert_eq!(
        app.get("/api/v1/pipeline/history", &t.admin.token).await.body,
        json!([]),
        "a shadow run saves nothing"
    );

    click(&agent, "#save-rules").await;
    wait_text(&agent, "#rules-message", "Saved.").await;
    wait_text(&agent, "#rules-history", "Version").await;
    screenshot(&agent, "console-rules-saved").await;

    // A conversion now uses them.
    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Grace Hopper", "visitor_email": "grace@example.com",
                   "message": "Card 4111 1111 1111 1111, phone +44 20 7946 0958"}),
        )
        .await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&agent, "#preview-transcript", "Card [card number], phone [phone]").await;
    assert_eq!(value_of(&agent, "#convert-subject").await, "[VIP] Grace Hopper");
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket h2", "TK-1001 · [VIP] Grace Hopper").await;
    let description = text_of(&agent, "#ticket-description").await;
    assert!(
        description.contains("Card [card number], phone [phone]"),
        "{description}"
    );
    assert!(!description.contains("4111"), "{description}");
    wait_text(&agent, "#ticket-receipt", "subject-default").await;
    wait_text(&agent, "#ticket-receipt", "transcript-plain").await;
    let receipt = text_of(&agent, "#ticket-receipt").await;
    assert!(
        receipt.contains("fields-none") && receipt.contains("built-in rule"),
        "{receipt}"
    );
    assert!(
        !receipt.contains("typed by the agent"),
        "the pre-filled subject is the rule's: {receipt}"
    );
    screenshot(&agent, "console-ticket-receipt").await;
    agent.close().await.unwrap();
}

/// An operator writes a rule in JavaScript on the Conversion rules page: a
/// syntax error is shown at its line, the fixed rule is tried on a chat,
/// saved, and the next conversion's ticket has the rule's subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_writes_a_javascript_subject_rule_tries_it_and_converts_with_it() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
    closed_chat(
        &app,
        &t,
        json!({"visitor_name": "Grace Hopper", "message": "Order 4521 is late"}),
    )
    .await;

    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#rules-link").await;
    find(&agent, "#plugin-subject")
        .await
        .select_by_value("javascript")
        .await
        .unwrap();
    // A first rule to start from, in a code editor with line numbers.
    eventually("the editor holds a first rule", async || {
        value_of(&agent, "#source-subject")
            .await
            .contains("function subject(chat)")
    })
    .await;
    assert_every_field_is_labelled(&agent).await;

    type_into(
        &agent,
        "#source-subject",
        "function subject(chat) {\n  return 'Case: ' +;\n}",
    )
    .await;
    click(&agent, "#try-subject").await;
    wait_text(&agent, "#source-error-subject", "line 2, column 20: SyntaxError").await;
    assert_eq!(text_of(&agent, "#hook-subject .gutter .error-line").await.trim(), "2");
    screenshot(&agent, "console-javascript-rule-syntax-error").await;

    type_into(
        &agent,
        "#source-subject",
        "function subject(chat) {\n  const order = /order (\\d+)/i.exec(chat.first_visitor_message.body);\n  return \
         (order ? `Order ${order[1]}: ` : '') + chat.visitor.name;\n}",
    )
    .await;
    assert_eq!(
        text_of(&agent, "#source-error-subject").await,
        "",
        "editing clears the error"
    );
    click(&agent, "#try-subject").await;
    wait_text(&agent, "#try-result-subject", "Order 4521: Grace Hopper").await;
    screenshot(&agent, "console-javascript-rule-tried").await;

    click(&agent, "#save-rules").await;
    wait_text(&agent, "#rules-message", "Saved.").await;
    eventually("the saved rule is shown", async || {
        value_of(&agent, "#source-subject").await.contains("Order ${order[1]}")
    })
    .await;

    let (chat, _) = app
        .start_chat(
            &t,
            json!({"visitor_name": "Ada Lovelace", "visitor_email": "ada@example.com",
                   "message": "Where is order 77?"}),
        )
        .await;
    agent.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    eventually("the rule's subject is pre-filled", async || {
        value_of(&agent, "#convert-subject").await == "Order 77: Ada Lovelace"
    })
    .await;
    click(&agent, "#convert-button").await;
    wait_text(&agent, "#view-ticket", "View ticket TK-1001").await;
    click(&agent, "#view-ticket").await;
    wait_text(&agent, "#ticket h2", "TK-1001 · Order 77: Ada Lovelace").await;
    wait_text(&agent, "#ticket-receipt", "javascript").await;
    screenshot(&agent, "console-javascript-rule-ticket").await;
    agent.close().await.unwrap();
}

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
    let app = TestApp::spawn_mailing(db, &smtp.url()).await;
    let t = app.tenant("Acme").await;
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

    // A reply by e-mail.
    type_into(&agent, "#comment-body", "Your refund is on its way.").await;
    click(&agent, "#comment-send").await;
    wait_text(&agent, "#ticket-comments", "Your refund is on its way.").await;
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["grace@example.com".to_owned()]);
    assert!(mails[0].data.contains("Your refund is on its way."));
    // An internal comment, which is not mailed.
    click(&agent, "#comment-internal").await;
    wait_text(&agent, "#comment-send", "Add internal comment").await;
    type_into(&agent, "#comment-body", "Refund id R-77.").await;
    click(&agent, "#comment-send").await;
    wait_text(&agent, "#ticket-comments", "Refund id R-77.").await;
    // Reassign to Bob and solve.
    find(&agent, "#ticket-assignee")
        .await
        .select_by_value(&bob.id)
        .await
        .unwrap();
    find(&agent, "#ticket-status")
        .await
        .select_by_value("solved")
        .await
        .unwrap();
    click(&agent, "#ticket-save").await;
    wait_text(&agent, "#ticket-message", "Saved.").await;
    wait_text(&agent, "#ticket-status-text", "solved").await;
    wait_text(&agent, "#ticket-assignee-text", "Bob").await;
    wait_text(&agent, "#ticket-activity", "changed status from in progress to solved").await;
    wait_text(&agent, "#ticket-activity", "changed assignee from Ada Admin to Bob").await;
    // Reloaded, the reply shows it went out.
    agent.refresh().await.unwrap();
    wait_text(&agent, "#ticket-comments .delivery", "sent").await;
    screenshot(&agent, "console-ticket-worked").await;
    assert_eq!(smtp.received().len(), 1, "one mail: the internal comment stays inside");

    // The ticket list finds it under its status.
    click(&agent, "#tickets-link").await;
    find(&agent, "#ticket-filter-status")
        .await
        .select_by_value("solved")
        .await
        .unwrap();
    wait_text(&agent, "#ticket-rows", "TK-1001").await;
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

/// With 120 open chats, the oldest is reachable from the inbox ("Show
/// more"), and a chat whose visitor wrote shows as unread, in the title
/// too, until the agent opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reaches_the_120th_chat_and_sees_what_is_unread() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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
    agent.goto(&app.url("/console#/tickets")).await.unwrap();
    find(&agent, "#tickets").await;
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

/// Waits until exactly `n` elements match `css` (ten seconds at most).
async fn wait_until_count(c: &Client, css: &str, n: usize) {
    let what = format!("{css} never matched exactly {n}");
    eventually(what, async || {
        c.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0) == n
    })
    .await
}

/// On a 390×844 phone, a visitor reads words meant for them when the email
/// is wrong, and after every message the newest one and the composer are
/// on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_a_phone_keeps_the_newest_message_in_view() {
    let Some(driver) = chromedriver() else { return };
    let app = TestApp::spawn(TestDb::create(Backend::Sqlite).await.unwrap()).await;
    let t = app.tenant("Acme").await;
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
