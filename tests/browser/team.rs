//! The Team page: an admin invites a colleague, who joins from the mail's
//! link, signs in, and steps away; the admin deactivates them and their
//! open console is signed out.

use std::time::{Duration, Instant};

use threadline_tests::smtp::SmtpServer;
use threadline_tests::{Backend, TestApp, TestDb};

use crate::axe::screenshot;
use crate::driver::{browser, chromedriver};
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_invites_a_colleague_who_joins_steps_away_and_is_deactivated() {
    let Some(driver) = chromedriver() else { return };
    let smtp = SmtpServer::start().await;
    let db = std::sync::Arc::new(TestDb::create(Backend::Sqlite).await.unwrap());
    let app = TestApp::builder(db).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let admin = browser(&driver).await;
    let colleague = browser(&driver).await;

    // The admin invites Cleo from the Team page.
    sign_in(&admin, &app, &t).await;
    click(&admin, "#team-link").await;
    wait_text(&admin, "#team-agents", "Ada Admin").await;
    assert_every_field_is_labelled(&admin).await;
    type_into(&admin, "#invite-email", "cleo@example.com").await;
    type_into(&admin, "#invite-name", "Cleo").await;
    click(&admin, "#invite-send").await;
    wait_text(&admin, "#team-message", "Invitation sent to cleo@example.com.").await;
    wait_text(&admin, "#invitations", "cleo@example.com").await;
    screenshot(&admin, "console-team").await;

    // Cleo opens the link from the mail, chooses a password, and is in.
    let text = smtp.mails_to("cleo@example.com", 1).await[0].text();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/console#invitation="))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    colleague.goto(&link).await.unwrap();
    find(&colleague, "#accept-form").await;
    assert_every_field_is_labelled(&colleague).await;
    let shown = colleague.current_url().await.unwrap();
    assert!(
        !shown.as_str().contains("invitation="),
        "the token left the address bar: {shown}"
    );
    screenshot(&colleague, "console-accept-invitation").await;
    assert_eq!(value_of(&colleague, "#accept-name").await, "");
    type_into(&colleague, "#accept-password", "cleo's own password").await;
    click(&colleague, "#accept-form button[type=submit]").await;
    wait_text(&colleague, "#live", "Live").await;

    // She signs out and in again with her password, then steps away.
    click(&colleague, "#sign-out").await;
    find(&colleague, "form.signin").await;
    type_into(&colleague, "#workspace", &t.slug).await;
    type_into(&colleague, "#email", "cleo@example.com").await;
    type_into(&colleague, "#password", "cleo's own password").await;
    click(&colleague, "form.signin button[type=submit]").await;
    wait_text(&colleague, "#live", "Live").await;
    choose(&colleague, "#availability", "away").await;
    let cleo = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let agents = app.get("/api/v1/agents", &t.admin.token).await;
            let cleo = agents
                .body
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "Cleo")
                .cloned();
            if let Some(c) = cleo.filter(|c| c["availability"] == "away") {
                break c;
            }
            assert!(
                Instant::now() < deadline,
                "Cleo never showed as away: {:?}",
                agents.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    // The admin sees it, and deactivates her: her open console signs out.
    click(&admin, "#tickets-link").await;
    find(&admin, "#tickets").await;
    click(&admin, "#team-link").await;
    let row = format!("#team-agents tr[data-agent='{}']", cleo["id"].as_str().unwrap());
    wait_text(&admin, &row, "away").await;
    click(&admin, &format!("{row} button.agent-active")).await;
    wait_text(&admin, "#team-message", "Cleo is deactivated").await;
    wait_text(&admin, &row, "deactivated").await;
    screenshot(&admin, "console-team-deactivated").await;
    wait_text(&colleague, "#signin-error", "Your session has ended").await;
    screenshot(&colleague, "console-signed-out").await;

    // A forgotten password: the form answers the same for any address.
    click(&colleague, "#forgot-password").await;
    find(&colleague, "#reset-request-form").await;
    assert_every_field_is_labelled(&colleague).await;
    type_into(&colleague, "#reset-email", "nobody@example.com").await;
    click(&colleague, "#reset-request-form button[type=submit]").await;
    wait_text(&colleague, "#reset-sent", "If that account exists").await;
    screenshot(&colleague, "console-reset-requested").await;
}
