//! The Automations page: an admin sets up close-pending and a webhook,
//! sees the webhook's secret once, and reads a delivery in its log; the
//! rule closes a pending ticket when its time comes.

use std::time::Duration;

use serde_json::json;
use threadline_tests::webhooks::{Receiver, verify};

use crate::axe::{audit, screenshot};
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_close_pending_and_a_webhook_and_reads_its_deliveries() {
    let Some((driver, app, t)) = acme().await else { return };
    let receiver = Receiver::start().await;
    let c = crate::driver::browser(&driver).await;
    sign_in(&c, &app, &t).await;
    click(&c, "#automations-link").await;
    wait_text(&c, "#rule-list", "No automations yet.").await;

    type_into(&c, "#builtin-name", "Close stale").await;
    choose(&c, "#builtin-plugin", "close-pending").await;
    type_into(&c, "#builtin-days", "2").await;
    click(&c, "#builtin-add").await;
    wait_text(&c, "#automations-message", "Added Close stale.").await;
    wait_text(&c, "#rule-list", "close-pending (on the schedule)").await;

    type_into(&c, "#webhook-url", &receiver.url).await;
    click(&c, "#webhook-add").await;
    wait_text(&c, "#automations-message", "signing secret").await;
    let secret = text_of(&c, "#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    wait_text(&c, "#webhook-list", &receiver.url).await;
    assert_every_field_is_labelled(&c).await;
    audit(&c, "console-automations").await;

    // A conversion: ticket_created reaches the receiver, signed.
    let number = app.converted(&t, "grace@example.com").await;
    let got = receiver.wait_for(1, Some("ticket_created")).await;
    assert!(verify(&got[0], &secret));
    let hooks = app.get("/api/v1/webhooks", &t.admin.token).await.body;
    let id = hooks[0]["id"].as_str().unwrap().to_owned();
    click(&c, &format!("#deliveries-{id}")).await;
    wait_text(&c, "#delivery-table", "ticket_created").await;
    wait_text(&c, "#delivery-table", "delivered").await;
    wait_text(&c, "#delivery-table", "204").await;
    screenshot(&c, "console-automations").await;

    // The rule at its time: pending two days and more, then closed.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{number}"),
            &t.admin.token,
            json!({"status": "pending"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    assert_eq!(
        app.run_schedule_after(Duration::from_secs(3 * 24 * 3600)).await.acted,
        1
    );
    assert_eq!(app.ticket(&t.admin.token, &number).await["status"], "closed");
    c.close().await.unwrap();
}
