//! A workspace runs its own team: invitations mailed over a real SMTP
//! server on loopback and accepted once; roles and the last admin;
//! deactivation that ends sessions, tokens and sockets (on every node) and
//! takes the agent out of assignment; password resets that tell nothing
//! about which accounts exist; availability; the workspace's own sender.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{Database, DatabaseConnection};
use serde_json::{Value, json};
use threadline_tests::smtp::{ReceivedMail, SmtpServer};
use threadline_tests::{Backend, TestApp, TestDb, TestTenant, on_both_databases, sql};

on_both_databases!(
    an_invitation_is_mailed_from_the_workspace_and_accepted_once,
    a_used_revoked_expired_or_superseded_invitation_makes_nobody,
    roles_change_but_the_last_active_admin_stays,
    deactivation_ends_every_credential_and_takes_the_agent_out_of_assignment,
    a_reset_mail_tells_nothing_about_which_accounts_exist_and_works_once,
    availability_decides_who_is_online_for_assignment_and_the_widget,
);

const PATIENCE: Duration = Duration::from_secs(20);

/// The token in a mailed link (`…/console#invitation=<token>`).
fn link_token(mail: &ReceivedMail, what: &str) -> String {
    let text = mail.text();
    let marker = format!("/console#{what}=");
    let at = text.find(&marker).unwrap_or_else(|| panic!("no {what} link: {text}")) + marker.len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The mails to `to`, once there are `n` of them.
async fn mails_to(smtp: &SmtpServer, to: &str, n: usize) -> Vec<ReceivedMail> {
    let start = Instant::now();
    loop {
        let got: Vec<_> = smtp.received().into_iter().filter(|m| m.to == [to]).collect();
        if got.len() >= n {
            return got;
        }
        assert!(start.elapsed() < PATIENCE, "{n} mails to {to} never came: {got:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn invite(app: &TestApp, t: &TestTenant, body: Value) -> threadline_tests::Reply {
    app.post("/api/v1/agents/invitations", &t.admin.token, body).await
}

async fn accept(app: &TestApp, token: &str, password: &str) -> threadline_tests::Reply {
    app.post_anonymous("/api/v1/auth/invitation", json!({"token": token, "password": password}))
        .await
}

async fn db(app: &TestApp) -> DatabaseConnection {
    Database::connect(&app.db.url).await.unwrap()
}

async fn count(db: &DatabaseConnection, sql_text: &str, values: Vec<sea_orm::Value>) -> i64 {
    sql::query(db, sql_text, values).await[0].try_get("", "n").unwrap()
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
    let mail = &mails_to(&smtp, "Cleo@Example.com", 1).await[0];
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
    let token = link_token(mail, "invitation");

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
    let db = db(&app).await;
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
    let db = db(&app).await;
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
    let token = link_token(&mails_to(&smtp, "dan@example.com", 1).await[0], "invitation");
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
    let fresh = link_token(&mails_to(&smtp, "dan@example.com", 2).await[1], "invitation");
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
    let token = link_token(&mails_to(&smtp, "eve@example.com", 1).await[0], "invitation");
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

async fn change(app: &TestApp, token: &str, agent: &str, body: Value) -> threadline_tests::Reply {
    app.patch(&format!("/api/v1/agents/{agent}"), token, body).await
}

async fn roles_change_but_the_last_active_admin_stays(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let ada = &t.admin;

    assert_eq!(
        change(&app, &bob.token, &ada.id, json!({"role": "agent"})).await.status,
        StatusCode::FORBIDDEN
    );
    let r = change(&app, &ada.token, &ada.id, json!({"role": "agent"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(r.error_message().contains("last active admin"), "{:?}", r.body);
    assert_eq!(
        change(&app, &ada.token, &ada.id, json!({"active": false})).await.status,
        StatusCode::CONFLICT
    );

    let r = change(&app, &ada.token, &bob.id, json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["role"], "admin");
    // Bob is an admin at once: he reads the settings.
    assert_eq!(app.get("/api/v1/settings", &bob.token).await.status, StatusCode::OK);
    // Now Ada may step down; then Bob is the last one.
    assert_eq!(
        change(&app, &ada.token, &ada.id, json!({"role": "agent"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/settings", &ada.token).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        change(&app, &bob.token, &bob.id, json!({"active": false})).await.status,
        StatusCode::CONFLICT
    );
    // An inactive admin does not count: a deactivated admin keeps the role
    // but the workspace still needs an active one.
    assert_eq!(
        change(&app, &bob.token, &ada.id, json!({"role": "admin", "active": false}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        change(&app, &bob.token, &bob.id, json!({"role": "agent"})).await.status,
        StatusCode::CONFLICT
    );

    // Bad input changes nothing.
    change(&app, &bob.token, &bob.id, json!({"role": "owner"}))
        .await
        .assert_invalid("role");
    change(&app, &bob.token, &bob.id, json!({}))
        .await
        .assert_invalid("role");
    let other = app.tenant("Other").await;
    assert_eq!(
        change(&app, &bob.token, &other.admin.id, json!({"role": "agent"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        change(&app, &bob.token, "nobody", json!({"role": "agent"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let agents = app.get("/api/v1/agents", &bob.token).await;
    let roles: Vec<(String, bool)> = agents
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["role"].as_str().unwrap().to_owned(), a["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(roles, [("admin".to_owned(), false), ("admin".to_owned(), true)]);
}

async fn deactivation_ends_every_credential_and_takes_the_agent_out_of_assignment(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let session = app.session(&t, &bob).await;
    let (chat, _) = app.simple_chat(&t).await;
    assert_eq!(
        app.agent_says(&session, &chat, "Bob here", false).await.status,
        StatusCode::CREATED
    );

    // Everyone online; least loaded, and Bob has the fewest tickets.
    for token in [&t.admin.token, &bob.token] {
        app.put(
            "/api/v1/agents/me/availability",
            token,
            json!({"availability": "online"}),
        )
        .await;
    }
    let strategy = |s: &str| json!({"assignment": {"plugin": "assign-converting-agent", "config": {"strategy": s}}});
    app.set_pipeline(&t.admin.token, strategy("least_loaded")).await;
    app.converted(&t, "grace@example.com").await;
    let number = app.converted(&t, "alan@example.com").await;
    assert_eq!(app.ticket(&t.admin.token, &number).await["assignee"]["name"], "Bob");

    let mut by_session = app.events("/api/v1/events", &session).await;
    let mut by_token = app.events("/api/v1/events", &bob.token).await;
    let r = change(&app, &t.admin.token, &bob.id, json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["active"].as_bool(), r.body["availability"].as_str()),
        (Some(false), Some("offline"))
    );
    assert_eq!(by_session.close_code().await, 4401);
    assert_eq!(by_token.close_code().await, 4401);
    assert_eq!(
        app.get("/api/v1/chats", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/chats", &bob.token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.sign_in(&t.slug, &bob.email, "a long enough password").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.error_message().contains("deactivated"));
    // A wrong password still says only that.
    assert_eq!(
        app.sign_in(&t.slug, &bob.email, "not his password!").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .post(
            "/api/v1/tokens",
            &t.admin.token,
            json!({"name": "for Bob", "agent_id": bob.id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);

    // Out of every pool: least loaded and round robin pass him by, and he
    // cannot be given a ticket by hand.
    let mut adas = String::new();
    for s in ["least_loaded", "round_robin", "least_loaded"] {
        app.set_pipeline(&t.admin.token, strategy(s)).await;
        adas = app.converted(&t, "grace@example.com").await;
        assert_eq!(
            app.ticket(&t.admin.token, &adas).await["assignee"]["name"],
            "Ada Admin",
            "{s}"
        );
    }
    app.patch(
        &format!("/api/v1/tickets/{adas}"),
        &t.admin.token,
        json!({"assignee_id": bob.id}),
    )
    .await
    .assert_invalid("assignee_id");
    // What he did keeps his name.
    let thread = app.chat(&t.admin.token, &chat).await;
    assert!(
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["author_name"] == "Bob"),
        "{thread}"
    );
    assert_eq!(app.ticket(&t.admin.token, &number).await["assignee"]["name"], "Bob");

    // Reactivated, he signs in with his password again (his old API token
    // stays revoked).
    let r = change(&app, &t.admin.token, &bob.id, json!({"active": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.sign_in(&t.slug, &bob.email, "a long enough password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.get("/api/v1/chats", &bob.token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// On two nodes over one PostgreSQL, deactivating through one closes the
/// agent's socket on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_closes_the_agents_socket_on_another_node() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let one = TestApp::spawn(db).await;
    let two = TestApp::spawn_on(one.db.clone()).await;
    let t = one.tenant("Acme").await;
    let bob = one.agent(&t, "Bob").await;
    let session = one.session(&t, &bob).await;
    let mut on_one = one.events("/api/v1/events", &session).await;
    let mut token_on_one = one.events("/api/v1/events", &bob.token).await;
    let r = change(&two, &t.admin.token, &bob.id, json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(on_one.close_code().await, 4401);
    assert_eq!(token_on_one.close_code().await, 4401);
    assert_eq!(
        one.get("/api/v1/chats", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn reset(app: &TestApp, workspace: &str, email: &str) -> (StatusCode, String, Duration) {
    let start = Instant::now();
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({"workspace": workspace, "email": email}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    (status, body, start.elapsed())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn a_reset_mail_tells_nothing_about_which_accounts_exist_and_works_once(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(app.db.clone()).mailing(&smtp.url()).spawn().await;
    let t = app.tenant("Acme").await;
    let old_session = app.session(&t, &t.admin).await;

    // The same answer, as fast, for a real account and a made-up one
    // (alternating, so that both see the same machine).
    let (mut real, mut made_up) = (Vec::new(), Vec::new());
    for i in 0..12 {
        let (status, body, took) = reset(&app, &t.slug, &t.admin.email).await;
        assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""));
        real.push(took);
        let (status, body, took) = reset(&app, &t.slug, &format!("nobody{i}@example.com")).await;
        assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""));
        made_up.push(took);
    }
    let (real, made_up) = (median(real), median(made_up));
    let gap = real.abs_diff(made_up);
    assert!(
        gap < Duration::from_millis(5) + real.max(made_up) / 2,
        "medians {real:?} (real) and {made_up:?} (made up) tell the accounts apart"
    );
    // Bad input answers the same too; a wrong workspace as well.
    for (workspace, email) in [
        (t.slug.as_str(), "not an address"),
        ("no-such-workspace", t.admin.email.as_str()),
    ] {
        assert_eq!(reset(&app, workspace, email).await.0, StatusCode::ACCEPTED);
    }

    // Of twelve asked, three are mailed (three an hour), and only to the
    // real account.
    let mails = mails_to(&smtp, &t.admin.email, 3).await;
    let db = db(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 3, "{:?}", smtp.received());
    let outbox = count(
        &db,
        "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'password_reset'",
        vec![],
    )
    .await;
    assert_eq!(outbox, 3);
    assert!(mails[0].header("Subject").unwrap().contains("Reset your Acme password"));
    let tokens: Vec<String> = mails.iter().map(|m| link_token(m, "reset")).collect();

    let complete = |token: &str, password: &str| {
        let body = json!({"token": token, "new_password": password});
        let app = &app;
        async move { app.post_anonymous("/api/v1/auth/password-reset/complete", body).await }
    };
    complete(&tokens[0], "short").await.assert_invalid("new_password");
    let r = complete(&tokens[0], "a brand new password").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/auth/session", &session).await.status, StatusCode::OK);
    // The other sessions ended; the API token (a script's) did not.
    assert_eq!(
        app.get("/api/v1/chats", &old_session).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/v1/chats", &t.admin.token).await.status, StatusCode::OK);
    assert_eq!(
        app.sign_in(&t.slug, &t.admin.email, "a long enough password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&t.slug, &t.admin.email, "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    // Once: that token and the other two mailed with it are spent.
    for token in &tokens {
        assert_eq!(complete(token, "yet another password").await.status, StatusCode::GONE);
    }
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM password_resets", vec![]).await, 0);
}

async fn availability_decides_who_is_online_for_assignment_and_the_widget(app: TestApp) {
    let t = app.tenant("Acme").await;
    let bob = app.agent(&t, "Bob").await;
    let presence = || async {
        let r = app
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/widget/{}/presence", t.widget_key),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["available"].as_bool().unwrap()
    };
    let availability = |token: &str, value: &str| {
        let (app, token, body) = (&app, token.to_owned(), json!({"availability": value}));
        async move { app.put("/api/v1/agents/me/availability", &token, body).await }
    };
    let shown = |who: &str| {
        let (app, t, who) = (&app, &t, who.to_owned());
        async move {
            let agents = app.get("/api/v1/agents", &t.admin.token).await;
            let me = agents
                .body
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == who.as_str())
                .unwrap()
                .clone();
            me["availability"].as_str().unwrap().to_owned()
        }
    };

    // Nobody has used the desk yet: nobody is here.
    assert!(!presence().await);
    let r = availability(&t.admin.token, "online").await;
    assert_eq!(
        (r.status, r.body["availability"].as_str()),
        (StatusCode::OK, Some("online"))
    );
    assert!(presence().await);
    availability(&t.admin.token, "away").await;
    assert!(!presence().await);
    assert_eq!(shown("Ada Admin").await, "away");
    availability(&t.admin.token, "busy")
        .await
        .assert_invalid("availability");

    // Bob online, Ada away: least loaded without offline agents goes to
    // Bob; Ada's own conversions too.
    availability(&bob.token, "online").await;
    let strategy = json!({"assignment": {"plugin": "assign-converting-agent", "config": {"strategy": "least_loaded"}}});
    app.set_pipeline(&t.admin.token, strategy).await;
    for email in ["grace@example.com", "alan@example.com"] {
        let n = app.converted(&t, email).await;
        assert_eq!(app.ticket(&t.admin.token, &n).await["assignee"]["name"], "Bob");
    }

    // Bob's console goes quiet for ten minutes: he is away, and nobody is here.
    let db = db(&app).await;
    let quiet = chrono::Utc::now() - chrono::Duration::minutes(10);
    sql::exec(
        &db,
        "UPDATE agents SET last_seen_at = $1 WHERE id = $2",
        vec![quiet.into(), bob.id.as_str().into()],
    )
    .await;
    assert!(!presence().await);
    assert_eq!(shown("Bob").await, "away");
    // An unknown widget key is a 404.
    let r = app
        .call(reqwest::Method::GET, "/api/v1/widget/wk_nope/presence", None, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// With `--widget-origin`, the console is never served on the widget's
/// origin and the widget only there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_and_the_console_keep_to_their_own_origins() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let app = TestApp::builder(std::sync::Arc::new(db))
        .widget_origin("http://chat.acme.test:8443")
        .spawn()
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, host: Option<&str>| {
        let mut request = client.get(app.url(path));
        if let Some(host) = host {
            request = request.header("Host", host);
        }
        async move { request.send().await.unwrap() }
    };
    let r = get("/console", Some("chat.acme.test:8443")).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], app.url("/console").as_str());
    let r = get("/widget?key=wk_1", None).await;
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "http://chat.acme.test:8443/widget?key=wk_1");
    assert_eq!(
        get("/widget?key=wk_1", Some("chat.acme.test:8443")).await.status(),
        StatusCode::OK
    );
    assert_eq!(get("/console", None).await.status(), StatusCode::OK);
}
