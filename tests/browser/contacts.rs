//! A contact's page: an admin opens the requester of a ticket, sees their
//! earlier conversation, exports their data and erases them; the ticket
//! and the chat then show the placeholder.

use serde_json::json;

use crate::axe::{audit, screenshot};
use crate::page::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_opens_a_contact_from_a_ticket_exports_and_erases_them() {
    let Some((driver, app, t)) = acme().await else { return };
    let person = json!({"visitor_name": "Zelda Quimbywright", "visitor_email": "zelda.q@example.org",
        "message": "Hello, my parcel number is PX-88213-QQ"});
    let (chat, _) = app.start_chat(&t, person.clone()).await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "zelda.q@example.org"}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    // An earlier chat of hers.
    app.start_chat(
        &t,
        json!({"visitor_name": "Zelda Quimbywright", "visitor_email": "zelda.q@example.org",
        "message": "Is the shop open on Sunday?"}),
    )
    .await;

    let c = crate::driver::browser(&driver).await;
    sign_in(&c, &app, &t).await;
    c.goto(&app.url(&format!("/console#/tickets/{number}"))).await.unwrap();
    wait_text(&c, "#contact-link", "Zelda Quimbywright").await;
    wait_text(&c, "#contact-earlier", "1 earlier conversation").await;
    click(&c, "#contact-link").await;
    wait_text(&c, "#contact-name", "Zelda Quimbywright").await;
    wait_text(&c, "#contact-tickets", &number).await;
    wait_text(&c, "#contact-chats", "Chat").await;
    audit(&c, "console-contact").await;
    screenshot(&c, "console-contact").await;

    click(&c, "#contact-export").await;
    wait_text(&c, "#contact-message", "Exported.").await;
    let log = app.get("/api/v1/audit?action=contact.exported", &t.admin.token).await;
    assert_eq!(log.body.as_array().unwrap().len(), 1, "{:?}", log.body);

    c.execute("window.confirm = () => true; return true", vec![])
        .await
        .unwrap();
    click(&c, "#contact-erase").await;
    wait_text(&c, "#contact-message", "Erased.").await;
    wait_text(&c, "#contact-name", "Erased contact").await;
    find(&c, "#contact-erased").await;

    // The ticket and the chat show the placeholder, not her.
    c.goto(&app.url(&format!("/console#/tickets/{number}"))).await.unwrap();
    wait_text(&c, "#contact-link", "Erased contact").await;
    let description = text_of(&c, "#ticket-description").await;
    assert!(!description.contains("PX-88213"), "{description}");
    assert!(!description.contains("Zelda"), "{description}");
    c.goto(&app.url(&format!("/console#/chats/{chat}"))).await.unwrap();
    wait_text(&c, "#messages", "[erased]").await;
    wait_text(&c, "#contact-link", "Erased contact").await;
    let messages = text_of(&c, "#messages").await;
    assert!(!messages.contains("PX-88213"), "{messages}");
    c.close().await.unwrap();
}
