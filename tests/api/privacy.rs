//! Personal data: a person's contact found from a chat or a ticket, their
//! export holding all of theirs and nothing of anyone else's, their
//! erasure leaving no trace in any table of the schema while the tickets,
//! numbers, agents' replies and figures stay, and the audit log of it.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{Database, DbBackend};
use serde_json::{Value, json};
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    an_erased_person_leaves_no_trace_and_the_workspace_keeps_its_tickets,
    contacts_are_found_by_address_name_chat_or_ticket_and_stay_in_their_workspace,
    the_audit_log_records_sign_ins_roles_settings_the_pipeline_and_the_operator,
);

const NAME: &str = "Zelda Quimbywright";
const EMAIL: &str = "zelda.q@example.org";
/// Something only she typed.
const PHRASE: &str = "my parcel number is PX-88213-QQ";
/// The workspace's rating figures, before and after.
const RATINGS: &str = "/api/v1/reports/ratings?from=2026-01-01&to=2027-12-31";

/// Zelda: a chat (with an agent's reply, an internal note and a rated
/// close) converted to a ticket with a public reply, and a mail that opens
/// a second ticket. Returns her converted ticket's number and her chat.
async fn seed_zelda(app: &TestApp, t: &TestTenant) -> (String, String) {
    let (chat, visitor) = app
        .start_chat(
            t,
            json!({"visitor_name": NAME, "visitor_email": EMAIL, "message": format!("Hello, {PHRASE}")}),
        )
        .await;
    app.agent_says(&t.admin.token, &chat, "Sorry Zelda, I will look into it.", false)
        .await;
    app.agent_says(&t.admin.token, &chat, &format!("courier says {EMAIL} moved"), true)
        .await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": EMAIL}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/widget/chats/{chat}/rating"),
            &visitor,
            json!({"score": 2, "comment": "Zelda here: still waiting for the parcel PX-88213-QQ"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &t.admin.token,
            json!({"body": format!("Dear {NAME}, we found it.")}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let mail = format!(
        "From: {NAME} <{EMAIL}>\r\nTo: support@acme.test\r\nSubject: Second parcel\r\n\
         Message-ID: <zelda-2@example.org>\r\nDate: Mon, 07 Dec 2026 09:12:00 +0000\r\n\r\n\
         Again: {PHRASE}, and the second one too.\r\n"
    );
    app.receive_mail(t, mail).await;
    (number, chat)
}

/// Bob: another person with a converted chat.
async fn seed_bob(app: &TestApp, t: &TestTenant) -> String {
    let (chat, _) = app
        .start_chat(
            t,
            json!({"visitor_name": "Bob Otherperson", "visitor_email": "bob@example.net", "message": "Order BOB-UNIQUE-771 is late"}),
        )
        .await;
    let r = app
        .convert(&t.admin.token, &chat, json!({"visitor_email": "bob@example.net"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["number"].as_str().unwrap().to_owned()
}

async fn contact_id(app: &TestApp, t: &TestTenant, email: &str) -> String {
    let r = app.get(&format!("/api/v1/contacts?q={email}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body.as_array().unwrap().len(), 1, "{:?}", r.body);
    r.body[0]["id"].as_str().unwrap().to_owned()
}

/// Every table and text column of the schema (read from the database, so
/// a table added later is searched too).
async fn text_columns(db: &sea_orm::DatabaseConnection) -> Vec<(String, String)> {
    let sql_text = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb') \
             AND $1 = $1"
        }
        _ => {
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND $1 = $1"
        }
    };
    sql::query(db, sql_text, vec!["".into()])
        .await
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<String>(1).unwrap(),
            )
        })
        .collect()
}

/// Where in the database `needle` (lowercase) still is: `table.column`s.
async fn traces(db: &sea_orm::DatabaseConnection, columns: &[(String, String)], needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (table, column) in columns {
        let q = format!("SELECT COUNT(*) FROM \"{table}\" WHERE lower(CAST(\"{column}\" AS TEXT)) LIKE $1");
        let n: i64 = sql::query(db, &q, vec![format!("%{needle}%").into()]).await[0]
            .try_get_by_index(0)
            .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column} ({n})"));
        }
    }
    found
}

async fn an_erased_person_leaves_no_trace_and_the_workspace_keeps_its_tickets(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let agent = app.agent(&t, "Ana").await;
    let (number, chat) = seed_zelda(&app, &t).await;
    let bob_number = seed_bob(&app, &t).await;
    // The acknowledgements and the reply are sent before the erasure.
    for _ in 0..100 {
        if smtp.received().iter().filter(|m| m.to == [EMAIL]).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let zelda = contact_id(&app, &t, EMAIL).await;

    // Access: everything of hers, nothing of Bob's, no internal note.
    let r = app.get(&format!("/api/v1/contacts/{zelda}/export"), &agent.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "admins only");
    let r = app
        .get(&format!("/api/v1/contacts/{zelda}/export"), &t.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let doc = r.body.clone();
    let text = doc.to_string();
    assert_eq!(doc["format"], "threadline-contact");
    assert_eq!(doc["contact"]["name"], NAME);
    assert_eq!(doc["contact"]["email"], EMAIL);
    let chats = doc["chats"].as_array().unwrap();
    assert_eq!(chats.len(), 1, "{doc}");
    assert_eq!(chats[0]["ticket"], number.as_str());
    assert!(chats[0]["messages"][0]["body"].as_str().unwrap().contains(PHRASE));
    assert_eq!(chats[0]["rating"]["score"], 2);
    let tickets = doc["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2, "her converted ticket and her mailed one: {doc}");
    assert!(tickets[0]["description"].as_str().unwrap().contains(PHRASE));
    assert!(
        tickets[0]["comments"][0]["body"]
            .as_str()
            .unwrap()
            .contains("we found it")
    );
    assert!(tickets[1]["description"].as_str().unwrap().contains("second one too"));
    assert_eq!(doc["mail_received"].as_array().unwrap().len(), 1, "{doc}");
    assert!(doc["mail_sent"].as_array().unwrap().len() >= 2, "{doc}");
    assert!(
        doc["mail_sent"].as_array().unwrap().iter().all(|m| m["to"] == EMAIL),
        "{doc}"
    );
    for other in ["Bob", "BOB-UNIQUE-771", "bob@example.net", "courier says"] {
        assert!(!text.contains(other), "{other} is not hers: {text}");
    }
    let cd = r.headers["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment"), "{cd}");

    // Erasure, by another workspace's admin: not found, nothing changes.
    let other = app.tenant("Other").await;
    let r = app
        .delete(&format!("/api/v1/contacts/{zelda}"), &other.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app.delete(&format!("/api/v1/contacts/{zelda}"), &agent.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let before = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await.body;
    assert_eq!(before["requester"]["name"], NAME);
    let rating_before = app.get(RATINGS, &t.admin.token).await;

    // A plugin that quoted her in its log while it ran on her chat (no
    // shipped plugin does: the line is written as a plugin's would be).
    app.store
        .write_plugin_logs(vec![threadline::store::NewLogLine {
            tenant_id: t.id.clone(),
            at: chrono::Utc::now(),
            plugin: "javascript".into(),
            plugin_name: "javascript".into(),
            hook: "summary".into(),
            level: "info".into(),
            message: format!("summarizing {NAME}: still waiting for the parcel"),
            chat_id: Some(chat.clone()),
            outcome: None,
            fuel: None,
            elapsed_ms: None,
        }])
        .await
        .unwrap();

    // Her name, its words, her address, her words: all over the schema.
    let db = Database::connect(&app.db.url).await.unwrap();
    let columns = text_columns(&db).await;
    assert!(columns.len() > 100, "the schema's columns: {}", columns.len());
    let needles = [
        "zelda",
        "quimbywright",
        EMAIL,
        "px-88213-qq",
        "88213",
        "second one too",
        "still waiting for the parcel",
    ];
    for needle in needles {
        let found = traces(&db, &columns, needle).await;
        assert!(!found.is_empty(), "the scan finds {needle:?} before the erasure");
    }

    let r = app.delete(&format!("/api/v1/contacts/{zelda}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["contact_id"], zelda.as_str());
    assert_eq!(r.body["tickets"], 2);

    // And no trace of any of it in any table after.
    for needle in needles {
        let found = traces(&db, &columns, needle).await;
        assert!(found.is_empty(), "{needle:?} is still in {found:?}");
    }

    // The tickets stay, with their numbers, the agents' replies and Bob.
    let after = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await.body;
    assert_eq!(after["number"], before["number"]);
    assert_eq!(after["status"], before["status"]);
    assert_eq!(after["requester"]["name"], "Erased contact");
    assert!(
        after["requester"]["email"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid")
    );
    let comments = &after["comments"];
    assert!(
        comments.to_string().contains("Dear Erased contact, we found it."),
        "{comments}"
    );
    let chat_view = app.chat(&t.admin.token, &chat).await;
    let messages = chat_view["messages"].to_string();
    assert!(
        messages.contains("Sorry Erased contact, I will look into it."),
        "{messages}"
    );
    assert!(messages.contains("[erased]"), "{messages}");
    let bob = app
        .get(&format!("/api/v1/tickets/{bob_number}"), &t.admin.token)
        .await
        .body;
    assert_eq!(bob["requester"]["name"], "Bob Otherperson");
    assert!(bob["description"].as_str().unwrap().contains("BOB-UNIQUE-771"));
    let r = app.get("/api/v1/tickets?q=BOB-UNIQUE", &t.admin.token).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "Bob is still found");
    let r = app.get("/api/v1/tickets?q=quimbywright", &t.admin.token).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "she is not: {:?}", r.body);
    let rating_after = app.get(RATINGS, &t.admin.token).await;
    assert_eq!(rating_after.status, rating_before.status);
    assert_eq!(rating_after.body, rating_before.body, "the figures stay");

    // Erasing again changes nothing more.
    let r = app.delete(&format!("/api/v1/contacts/{zelda}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let again = app.get(&format!("/api/v1/tickets/{number}"), &t.admin.token).await.body;
    assert_eq!(again["comments"], after["comments"]);
    assert_eq!(again["description"], after["description"]);

    // The contact reads as erased; the audit log says who did what, to
    // which contact id, without her data (the scan above covered it too).
    let c = app.get(&format!("/api/v1/contacts/{zelda}"), &t.admin.token).await;
    assert_eq!(c.body["erased"], true, "{:?}", c.body);
    let log = app.get("/api/v1/audit", &t.admin.token).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let actions: Vec<&str> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        ["contact.erased", "contact.erased", "contact.exported"],
        "{actions:?}"
    );
    assert_eq!(log.body[0]["target"], zelda.as_str());
    assert_eq!(log.body[0]["actor_id"], t.admin.id.as_str());
    let r = app.get("/api/v1/audit", &agent.token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get("/api/v1/audit", &other.admin.token).await;
    assert!(
        r.body.as_array().unwrap().iter().all(|e| e["target"] != zelda.as_str()),
        "another workspace's log: {:?}",
        r.body
    );
}

async fn contacts_are_found_by_address_name_chat_or_ticket_and_stay_in_their_workspace(app: TestApp) {
    let t = app.tenant("Acme").await;
    let agent = app.agent(&t, "Ana").await;
    let (number, chat) = seed_zelda(&app, &t).await;
    seed_bob(&app, &t).await;
    let zelda = contact_id(&app, &t, &EMAIL.to_uppercase()).await;

    let by_name = app.get("/api/v1/contacts?q=zel", &agent.token).await;
    assert_eq!(by_name.status, StatusCode::OK, "{:?}", by_name.body);
    assert_eq!(by_name.body.as_array().unwrap().len(), 1, "{:?}", by_name.body);
    assert_eq!(by_name.body[0]["id"], zelda.as_str());
    let none = app.get("/api/v1/contacts?q=zz", &agent.token).await;
    assert_eq!(none.body, json!([]));
    let r = app.get("/api/v1/contacts?q=", &agent.token).await;
    r.assert_invalid("q");

    // From the ticket (its requester) and from the chat (its visitor).
    let ticket = app.ticket(&agent.token, &number).await;
    let from_ticket = app
        .get(
            &format!("/api/v1/contacts/{}", ticket["requester"]["id"].as_str().unwrap()),
            &agent.token,
        )
        .await;
    assert_eq!(from_ticket.status, StatusCode::OK, "{:?}", from_ticket.body);
    let visitor_id = app.chat(&agent.token, &chat).await["visitor"]["id"].clone();
    let from_chat = app
        .get(
            &format!("/api/v1/contacts/{}", visitor_id.as_str().unwrap()),
            &agent.token,
        )
        .await;
    assert_eq!(from_chat.status, StatusCode::OK, "{:?}", from_chat.body);
    for c in [&from_ticket.body, &from_chat.body] {
        assert_eq!(c["id"], zelda.as_str());
        assert_eq!(c["name"], NAME);
        assert_eq!(c["erased"], false);
        assert_eq!(c["chats"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(c["tickets"].as_array().unwrap().len(), 2, "{c}");
        // The chat and its ticket are one conversation; the mail another.
        assert_eq!(c["conversations"], 2, "{c}");
    }

    // Another workspace cannot see her, even by her id or address.
    let other = app.tenant("Other").await;
    let r = app.get(&format!("/api/v1/contacts/{zelda}"), &other.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("/api/v1/contacts?q={EMAIL}"), &other.admin.token)
        .await;
    assert_eq!(r.body, json!([]));
    let r = app.get("/api/v1/contacts/no-such-id", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _: Value = r.body;
}

async fn the_audit_log_records_sign_ins_roles_settings_the_pipeline_and_the_operator(app: TestApp) {
    let t = app.tenant("Acme").await;
    let cleo = app.agent(&t, "Cleo").await;
    app.set_password(&cleo, "a long enough password").await;
    let r = app.sign_in(&t.slug, &cleo.email, "a long enough password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .patch(
            &format!("/api/v1/agents/{}", cleo.id),
            &t.admin.token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.settings(&t, json!({"time_zone": "Europe/Paris"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.set_pipeline(&t.admin.token, json!({"subject": {"plugin": "subject-default"}}))
        .await;
    let op = app.operator_token("ops").await;
    let exported = crate::moving::export(&app, &op, &t.id).await;

    let log = app.get("/api/v1/audit", &t.admin.token).await.body;
    let entries: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_name"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("workspace.exported", "ops", t.id.as_str()),
        ("pipeline.changed", t.admin.name.as_str(), ""),
        ("settings.changed", t.admin.name.as_str(), ""),
        ("agent.changed", t.admin.name.as_str(), cleo.id.as_str()),
        ("agent.signed_in", "Cleo", cleo.id.as_str()),
    ];
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, expected, "{log}");
    assert_eq!(log[2]["detail"]["fields"], json!(["time_zone"]));
    assert_eq!(log[3]["detail"]["role"], "admin");
    // Paged by id, filtered by action; part of the workspace's export.
    let page = app.get("/api/v1/audit?limit=2", &t.admin.token).await;
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    let next = page.headers["link"].to_str().unwrap().to_owned();
    assert!(
        next.contains(&format!("before={}", log[1]["id"].as_str().unwrap())),
        "{next}"
    );
    let r = app.get("/api/v1/audit?action=agent.signed_in", &t.admin.token).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = app.get("/api/v1/audit?action=DROP%20TABLE", &t.admin.token).await;
    r.assert_invalid("action");
    assert!(
        exported
            .lines()
            .any(|l| l.contains("\"table\":\"audit_log\"") && l.contains("agent.signed_in")),
        "the export holds the log"
    );
}
