//! Tickets made by hand (`POST /api/v1/tickets`): open, numbered on from
//! the conversions' counter, the requester found or created, assigned and
//! filed by the workspace's hooks unless the agent says otherwise, and
//! mailed to the requester only when the agent asks.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, on_both_databases, wasm};

on_both_databases!(
    an_agent_makes_an_open_ticket_for_a_new_or_known_requester,
    the_assignment_and_fields_hooks_decide_unless_the_agent_does,
    the_requester_is_mailed_only_when_the_agent_asks,
    bad_input_is_a_422_and_changes_nothing,
);

async fn an_agent_makes_an_open_ticket_for_a_new_or_known_requester(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    // A chat's conversion takes TK-1001 and makes Grace a requester.
    let (chat, _) = app.simple_chat(&t).await;
    let r = app
        .convert(&bob.token, &chat, json!({"visitor_email": "grace@navy.mil"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let grace = r.body["requester"]["id"].as_str().unwrap().to_owned();

    let r = app
        .post(
            "/api/v1/tickets",
            &bob.token,
            json!({"requester_email": "GRACE@navy.mil", "requester_name": "Someone Else",
                   "subject": "Follow-up on the COBOL manual", "body": "She called about page 12."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ticket = &r.body;
    assert_eq!(ticket["number"], "TK-1002");
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["channel"], "agent");
    assert!(ticket["origin"].is_null());
    assert_eq!(ticket["subject"], "Follow-up on the COBOL manual");
    assert_eq!(ticket["description"], "She called about page 12.");
    assert_eq!(ticket["requester"]["id"], grace.as_str(), "found by address, any case");
    assert_eq!(
        ticket["requester"]["name"], "Grace Hopper",
        "a known requester keeps her name"
    );
    assert_eq!(
        ticket["assignee"]["id"],
        bob.id.as_str(),
        "the default rule: whoever makes it"
    );
    assert_eq!(ticket["priority"], "normal");
    assert!(ticket["first_response_at"].is_null());
    assert_eq!(ticket["comments"], json!([]));
    let hooks: Vec<&str> = ticket["receipt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hook"].as_str().unwrap())
        .collect();
    assert_eq!(hooks, ["assignment", "fields"]);

    // A new requester, named from the address when no name is given.
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            json!({"requester_email": "ada@example.com", "subject": "Engine notes", "body": "Notes G.",
                   "priority": "urgent"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["number"], "TK-1003");
    assert_eq!(r.body["requester"]["name"], "ada");
    assert_eq!(r.body["requester"]["email"], "ada@example.com");
    assert_eq!(r.body["priority"], "urgent");

    // It is a ticket like any other: listed, found by its words, worked.
    let list = app.get("/api/v1/tickets?q=cobol", &t.admin.token).await.body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["number"], "TK-1002");
    let list = app.get("/api/v1/tickets?q=page%2012", &t.admin.token).await.body;
    assert_eq!(list[0]["number"], "TK-1002", "the body is searchable");
    let r = app
        .patch("/api/v1/tickets/TK-1002", &bob.token, json!({"status": "solved"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Another workspace neither sees it nor shares the counter.
    let other = app.tenant("Other").await;
    let r = app.get("/api/v1/tickets/TK-1002", &other.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            "/api/v1/tickets",
            &other.admin.token,
            json!({"requester_email": "x@example.com", "subject": "First", "body": "One"}),
        )
        .await;
    assert_eq!(r.body["number"], "TK-1001");
}

async fn the_assignment_and_fields_hooks_decide_unless_the_agent_does(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob Builder").await;
    let carol = app.agent(&t, "Carol Clerk").await;
    let pick = app
        .install_plugin(&t.admin.token, "foreign-agent", wasm::FOREIGN_AGENT)
        .await;
    let probe = app.install_plugin(&t.admin.token, "probe", wasm::PROBE_V2).await;
    app.set_pipeline(
        &t.admin.token,
        json!({"assignment": {"plugin": pick, "policy": "reject", "config": {"agent_id": bob.id}},
               "fields": {"plugin": probe, "policy": "reject", "config": {"priority": "high", "tags": "VIP"}}}),
    )
    .await;
    let new = |extra: serde_json::Value| {
        let mut body = json!({"requester_email": "grace@navy.mil", "subject": "Hello", "body": "Hi"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let r = app.post("/api/v1/tickets", &t.admin.token, new(json!({}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["assignee"]["id"], bob.id.as_str(), "the hook's pick");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["tags"], json!(["vip"]));
    assert_eq!(r.body["receipt"][0]["outcome"], "ok");

    // The agent's own choices win, and the assignment hook does not run.
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            new(json!({"assignee_id": carol.id, "priority": "low"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["assignee"]["id"], carol.id.as_str());
    assert_eq!(r.body["priority"], "low");
    assert_eq!(r.body["tags"], json!(["vip"]), "the fields hook still files it");
    assert_eq!(r.body["receipt"][0]["outcome"], "typed");

    // A hook that names someone outside the workspace fails the request
    // under `reject`, and nothing is made.
    let other = app.tenant("Elsewhere").await;
    app.set_pipeline(
        &t.admin.token,
        json!({"assignment": {"plugin": pick, "policy": "reject", "config": {"agent_id": other.admin.id}}}),
    )
    .await;
    let r = app.post("/api/v1/tickets", &t.admin.token, new(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
    assert!(
        r.error_message().contains("not an agent of this workspace"),
        "{:?}",
        r.body
    );
    let list = app.get("/api/v1/tickets", &t.admin.token).await.body;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

async fn the_requester_is_mailed_only_when_the_agent_asks(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let quiet = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            json!({"requester_email": "quiet@example.com", "subject": "Noted", "body": "For us only"}),
        )
        .await;
    assert_eq!(quiet.status, StatusCode::CREATED, "{:?}", quiet.body);
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            json!({"requester_email": "grace@navy.mil", "subject": "Your manual",
                   "body": "Hello Grace,\nthe manual is on its way.", "notify": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let number = r.body["number"].as_str().unwrap().to_owned();
    assert!(
        r.body["first_response_at"].is_string(),
        "the mail is the first response"
    );
    let comments = r.body["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["internal"], false);

    let mails = smtp.mails_to("grace@navy.mil", 1).await;
    assert_eq!(mails.len(), 1);
    let subject = mails[0].header("Subject").unwrap();
    assert!(subject.contains(&format!("[{number}]")), "{subject}");
    assert!(
        mails[0].text().contains("the manual is on its way."),
        "{}",
        mails[0].text()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        smtp.received().iter().all(|m| m.to != ["quiet@example.com"]),
        "no mail without notify"
    );
}

async fn bad_input_is_a_422_and_changes_nothing(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Elsewhere").await;
    let gone = app.agent(&t, "Gone").await;
    let r = app
        .patch(
            &format!("/api/v1/agents/{}", gone.id),
            &t.admin.token,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let good = json!({"requester_email": "grace@navy.mil", "subject": "Hello", "body": "Hi"});
    let cases = [
        ("requester_email", json!({"requester_email": "not an address"})),
        ("requester_email", json!({"requester_email": null})),
        ("subject", json!({"subject": ""})),
        ("subject", json!({"subject": "x".repeat(256)})),
        ("body", json!({"body": "  "})),
        ("priority", json!({"priority": "whenever"})),
        ("assignee_id", json!({"assignee_id": other.admin.id})),
        ("assignee_id", json!({"assignee_id": gone.id})),
        ("requester_name", json!({"requester_name": "Eve\u{202E}evE"})),
    ];
    for (field, change) in cases {
        let mut body = good.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let r = app.post("/api/v1/tickets", &t.admin.token, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{:?}", r.body);
    }
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin.token,
            json!({"requester_email": "a@b.co", "surprise": 1}),
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    let r = app.post_anonymous("/api/v1/tickets", good.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/tickets", &t.admin.token).await.body, json!([]));
    // The counter did not move.
    let r = app.post("/api/v1/tickets", &t.admin.token, good).await;
    assert_eq!(r.body["number"], "TK-1001", "{:?}", r.body);
}
