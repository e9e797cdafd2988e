//! Invitations: mailed over a real SMTP server on loopback from the
//! workspace's own sender, accepted once; used, revoked, expired or
//! superseded links make nobody.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::Database;
use serde_json::{Value, json};
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, TestTenant, on_both_databases, sql};

on_both_databases!(
    an_invitation_is_mailed_from_the_workspace_and_accepted_once,
    a_used_revoked_expired_or_superseded_invitation_makes_nobody,
);

const PATIENCE: Duration = Duration::from_secs(20);

async fn invite(app: &TestApp, t: &TestTenant, body: Value) -> threadline_tests::Reply {
    app.post("/api/v1/agents/invitations", &t.admin.token, body).await
}

async fn accept(app: &TestApp, token: &str, password: &str) -> threadline_tests::Reply {
    app.post_anonymous("/api/v1/auth/invitation", json!({"token": token, "password": password}))
        .await
}

async fn an_invitation_is_mailed_from_the_workspace_and_accepted_once(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let r = app
        .settings(&t, json!({"sender_name": "Acme Support", "reply_to": "help@acme.test"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["sender_name"], "Acme Support");
    assert_eq!(r.body["reply_to"], "help@acme.test");
    app.settings(&t, json!({"reply_to": "not an address"}))
        .await
        .assert_invalid("reply_to");

    let r = invite(
        &app,
        &t,
        json!({"email": "Cleo@Example.com", "name": "Cleo", "role": "agent"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["email"], "Cleo@Example.com");
    assert_eq!(r.body["expired"], false);
    let expires: chrono::DateTime<chrono::Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    let week = chrono::Utc::now() + chrono::Duration::days(7);
    assert!((expires - week).num_seconds().abs() < 60, "{expires}: in 7 days");
    let pending = app.get("/api/v1/agents/invitations", &t.admin.token).await;
    assert_eq!(pending.body.as_array().unwrap().len(), 1);

    // The same address again, any case, or an agent's address: 409.
    assert_eq!(
        invite(&app, &t, json!({"email": "cleo@example.com"})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        invite(&app, &t, json!({"email": t.admin.email})).await.status,
        StatusCode::CONFLICT
    );
    invite(&app, &t, json!({"email": "cleo"})).await.assert_invalid("email");
    invite(&app, &t, json!({"email": "dan@example.com", "role": "owner"}))
        .await
        .assert_invalid("role");
    // Only admins invite.
    let bob = app.agent(&t, "Bob").await;
    let r = app
        .post(
            "/api/v1/agents/invitations",
            &bob.token,
            json!({"email": "x@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The mail: from the workspace's sender, answers to its address, a
    // link to this server's console with the token in the fragment.
    let mail = &smtp.mails_to("Cleo@Example.com", 1).await[0];
    assert_eq!(mail.from, "support@acme.test", "--smtp-from stays the envelope");
    assert!(
        mail.header("From").unwrap().contains("Acme Support"),
        "{:?}",
        mail.header("From")
    );
    assert!(
        mail.header("Reply-To").unwrap().contains("help@acme.test"),
        "{:?}",
        mail.header("Reply-To")
    );
    assert!(mail.header("Subject").unwrap().contains("invited you to Acme"));
    assert!(
        mail.text().contains(&app.url("/console#invitation=tli_")),
        "{}",
        mail.text()
    );
    let token = mail.link_token("invitation");

    // A password too short is refused and uses nothing up.
    accept(&app, &token, "short").await.assert_invalid("password");
    let r = accept(&app, &token, "cleo's long password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["agent"]["name"], "Cleo");
    assert_eq!(r.body["agent"]["role"], "agent");
    let session = r.body["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/auth/session", &session).await;
    assert_eq!(me.body["agent"]["email"], "Cleo@Example.com");

    // Once only.
    let again = accept(&app, &token, "another long password").await;
    assert_eq!(again.status, StatusCode::GONE, "{:?}", again.body);
    assert!(again.error_message().contains("used, revoked or has expired"));
    let r = app.sign_in(&t.slug, "cleo@example.com", "cleo's long password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(
        app.get("/api/v1/agents/invitations", &t.admin.token)
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    let agents = app.get("/api/v1/agents", &session).await;
    let cleo = agents
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Cleo")
        .unwrap()
        .clone();
    assert_eq!(
        (cleo["role"].as_str(), cleo["active"].as_bool()),
        (Some("agent"), Some(true))
    );

    // Once sent, the outbox keeps no working link.
    let db = Database::connect(&app.db.url).await.unwrap();
    let start = Instant::now();
    loop {
        let rows = sql::query(
            &db,
            "SELECT state, body FROM mail_outbox WHERE kind = 'invitation'",
            vec![],
        )
        .await;
        let state: String = rows[0].try_get("", "state").unwrap();
        let body: String = rows[0].try_get("", "body").unwrap();
        if state == "sent" {
            assert!(!body.contains(&token), "{body}");
            break;
        }
        assert!(start.elapsed() < PATIENCE, "never marked sent");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_used_revoked_expired_or_superseded_invitation_makes_nobody(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let agents = || async {
        app.get("/api/v1/agents", &t.admin.token)
            .await
            .body
            .as_array()
            .unwrap()
            .len()
    };

    // Expired.
    let r = invite(&app, &t, json!({"email": "dan@example.com"})).await;
    let dan = r.body["id"].as_str().unwrap().to_owned();
    let token = smtp.mails_to("dan@example.com", 1).await[0].link_token("invitation");
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    sql::exec(
        &db,
        "UPDATE agent_invitations SET expires_at = $1 WHERE id = $2",
        vec![past.into(), dan.as_str().into()],
    )
    .await;
    assert_eq!(
        accept(&app, &token, "dan's long password").await.status,
        StatusCode::GONE
    );
    let listed = app.get("/api/v1/agents/invitations", &t.admin.token).await;
    assert_eq!(listed.body[0]["expired"], true, "shown as expired, to resend");

    // Resent: a new link, the old one dead; not twice in a minute.
    let resend = format!("/api/v1/agents/invitations/{dan}/resend");
    let minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(2);
    sql::exec(
        &db,
        "UPDATE agent_invitations SET sent_at = $1 WHERE id = $2",
        vec![minutes_ago.into(), dan.as_str().into()],
    )
    .await;
    let r = app.post_empty(&resend, &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["expired"], false);
    assert_eq!(
        app.post_empty(&resend, &t.admin.token).await.status,
        StatusCode::CONFLICT
    );
    let fresh = smtp.mails_to("dan@example.com", 2).await[1].link_token("invitation");
    assert_ne!(fresh, token);
    assert_eq!(
        accept(&app, &token, "dan's long password").await.status,
        StatusCode::GONE
    );
    assert_eq!(agents().await, 1, "nobody was made");
    assert_eq!(accept(&app, &fresh, "dan's long password").await.status, StatusCode::OK);
    assert_eq!(agents().await, 2);

    // Revoked.
    let r = invite(&app, &t, json!({"email": "eve@example.com", "role": "admin"})).await;
    let eve = r.body["id"].as_str().unwrap().to_owned();
    let token = smtp.mails_to("eve@example.com", 1).await[0].link_token("invitation");
    let revoke = format!("/api/v1/agents/invitations/{eve}");
    // Another workspace cannot touch it.
    let other = app.tenant("Other").await;
    assert_eq!(
        app.delete(&revoke, &other.admin.token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&revoke, &t.admin.token).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&revoke, &t.admin.token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        accept(&app, &token, "eve's long password").await.status,
        StatusCode::GONE
    );
    assert_eq!(agents().await, 2);
    // A made-up token, likewise.
    assert_eq!(
        accept(&app, "tli_madeup", "a long enough password").await.status,
        StatusCode::GONE
    );
}
