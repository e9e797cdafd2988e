//! The Reports page: a chart a report over the workspace's last 30 days,
//! the figures beneath each, and a notice for an agent who is not an admin.

use serde_json::json;

use crate::axe::screenshot;
use crate::driver::browser;
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_draws_its_charts() {
    let Some((driver, app, t)) = acme().await else { return };
    let bob = app.agent(&t, "Bob").await;
    // Today: three chats answered, one converted and solved, one rated,
    // and a ticket made by hand.
    for i in 0..3 {
        let (chat, visitor) = app.simple_chat(&t).await;
        app.agent_says(&bob.token, &chat, "Hello!", false).await;
        if i == 0 {
            app.convert(&bob.token, &chat, json!({"visitor_email": "grace@example.com"}))
                .await;
            app.patch("/api/v1/tickets/TK-1001", &bob.token, json!({"status": "solved"}))
                .await;
            app.post(
                &format!("/api/v1/widget/chats/{chat}/rating"),
                &visitor,
                json!({"score": 4}),
            )
            .await;
        }
    }
    app.post(
        "/api/v1/tickets",
        &bob.token,
        json!({"requester_email": "ada@example.com", "subject": "By hand", "body": "Hi"}),
    )
    .await;

    let agent = browser(&driver).await;
    sign_in(&agent, &app, &t).await;
    click(&agent, "#reports-link").await;
    wait_text(&agent, "#reports-status", "From ").await;
    // A bar a day for each daily report.
    for name in ["conversations", "first-response", "resolution", "sla"] {
        wait_until_count(&agent, &format!("#report-{name} svg.chart rect"), 30).await;
    }
    wait_text(&agent, "#report-conversations .report-total", "4").await;
    wait_text(&agent, "#report-ratings .report-total", "4").await;
    wait_text(&agent, "#report-sla .report-total", "—").await;
    click(&agent, "#report-conversations summary").await;
    wait_text(&agent, "#report-conversations table", "total").await;
    assert_every_field_is_labelled(&agent).await;
    screenshot(&agent, "console-reports").await;

    // A narrower range redraws every chart.
    let today = text_of(&agent, "#reports-status").await;
    let last = today.split(" to ").nth(1).unwrap()[..10].to_owned();
    find(&agent, "#reports-from").await.clear().await.unwrap();
    agent
        .execute(
            "document.getElementById('reports-from').value = arguments[0]",
            vec![json!(last)],
        )
        .await
        .unwrap();
    click(&agent, "#reports-update").await;
    wait_until_count(&agent, "#report-conversations svg.chart rect", 1).await;

    // Bob is no admin: the page says so.
    let other = browser(&driver).await;
    sign_in_agent(&other, &app, &t, &bob).await;
    other.goto(&app.url("/console#/reports")).await.unwrap();
    wait_text(&other, "#reports-status", "Reports are for workspace admins.").await;
}
