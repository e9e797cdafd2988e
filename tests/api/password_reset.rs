//! Password resets by e-mail: one answer, as fast, for every address;
//! three mails an hour at most; a link that works once and ends the
//! agent's sessions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{Database, DatabaseConnection};
use serde_json::json;
use threadline_tests::smtp::SmtpServer;
use threadline_tests::{TestApp, on_both_databases, sql};

on_both_databases!(a_reset_mail_tells_nothing_about_which_accounts_exist_and_works_once);

async fn count(db: &DatabaseConnection, sql_text: &str) -> i64 {
    sql::query(db, sql_text, vec![]).await[0].try_get("", "n").unwrap()
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
    let mails = smtp.mails_to(&t.admin.email, 3).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 3, "{:?}", smtp.received());
    let outbox = count(
        &db,
        "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'password_reset'",
    )
    .await;
    assert_eq!(outbox, 3);
    assert!(mails[0].header("Subject").unwrap().contains("Reset your Acme password"));
    let tokens: Vec<String> = mails.iter().map(|m| m.link_token("reset")).collect();

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
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM password_resets").await, 0);
}
