//! Signing in with a password, sessions that slide and end, the lock after
//! repeated failures, and admins' named API tokens.

use reqwest::StatusCode;
use sea_orm::Database;
use serde_json::json;
use threadline::http::rate::RateSettings;
use threadline_migrations::Migrator;
use threadline_migrations::sea_orm_migration::MigratorTrait;
use threadline_tests::{TestApp, on_both_databases, sql};

on_both_databases!(
    a_password_signs_in_and_signing_out_ends_the_session,
    wrong_workspace_email_or_password_all_get_the_same_401,
    ten_failed_sign_ins_lock_the_account_with_a_429,
    guesses_sent_all_at_once_cannot_slip_past_the_lock,
    a_strangers_guesses_from_one_network_do_not_keep_the_owner_out,
    one_address_cannot_try_sign_ins_without_end,
    a_session_slides_forward_as_it_is_used_and_ends_when_left_unused,
    admins_make_list_and_revoke_named_api_tokens,
    changing_a_password_ends_the_other_sessions,
    tokens_made_before_the_upgrade_keep_working,
    converting_checks_the_token_as_every_other_route_does,
);

const PASSWORD: &str = "correct horse battery staple";

async fn a_password_signs_in_and_signing_out_ends_the_session(app: TestApp) {
    let t = app.tenant("Acme").await;
    app.set_password(&t.admin, PASSWORD).await;
    // The email as the agent might type it: case does not matter.
    let r = app.sign_in(&t.slug, &t.admin.email.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let session = r.body["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("tls_"), "{session}");
    assert_eq!(r.body["agent"]["id"], t.admin.id.as_str());
    assert_eq!(r.body["agent"]["admin"], true);
    let expires: chrono::DateTime<chrono::Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    let week = chrono::Utc::now() + chrono::Duration::days(7);
    assert!(
        (expires - week).num_seconds().abs() < 60,
        "{expires}: a week from now by default"
    );

    assert_eq!(app.get("/api/v1/chats", &session).await.status, StatusCode::OK);
    let me = app.get("/api/v1/auth/session", &session).await;
    assert_eq!(me.body["kind"], "session");
    assert_eq!(me.body["agent"]["email"], t.admin.email.as_str());

    // Neither the password nor the token is stored as given.
    let db = Database::connect(&app.db.url).await.unwrap();
    let rows = sql::query(
        &db,
        "SELECT password_hash FROM agents WHERE id = $1",
        vec![t.admin.id.as_str().into()],
    )
    .await;
    let stored: String = rows[0].try_get("", "password_hash").unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let rows = sql::query(
        &db,
        "SELECT COUNT(*) AS n FROM agent_credentials WHERE token_hash = $1",
        vec![session.as_str().into()],
    )
    .await;
    assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 0);

    let out = app.post_empty("/api/v1/auth/sign-out", &session).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = app.get("/api/v1/chats", &session).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["error"]["code"], "unauthorized");
    // The agent's API token is another credential: it still works.
    assert_eq!(app.get("/api/v1/chats", &t.admin.token).await.status, StatusCode::OK);
}

async fn wrong_workspace_email_or_password_all_get_the_same_401(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    app.set_password(&t.admin, PASSWORD).await;
    let bob = app.agent(&t, "Bob").await; // no password yet
    for (workspace, email, password) in [
        (t.slug.as_str(), t.admin.email.as_str(), "wrong password!"),
        ("no-such-workspace", t.admin.email.as_str(), PASSWORD),
        (other.slug.as_str(), t.admin.email.as_str(), PASSWORD),
        (t.slug.as_str(), "nobody@example.com", PASSWORD),
        (t.slug.as_str(), bob.email.as_str(), PASSWORD),
        (t.slug.as_str(), bob.email.as_str(), ""),
        ("", "", ""),
    ] {
        let r = app.sign_in(workspace, email, password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{workspace} {email}");
        assert_eq!(r.body["error"]["code"], "wrong_credentials");
        assert_eq!(r.body["error"]["message"], "wrong workspace, email or password");
        assert!(r.body.get("token").is_none());
    }
    // Malformed requests are told what is wrong.
    let r = app
        .post_anonymous("/api/v1/auth/sign-in", json!({"workspace": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn ten_failed_sign_ins_lock_the_account_with_a_429(app: TestApp) {
    let t = app.tenant("Acme").await;
    app.set_password(&t.admin, PASSWORD).await;
    let bob = app.agent(&t, "Bob").await;
    app.set_password(&bob, PASSWORD).await;
    for attempt in 1..=10 {
        let r = app.sign_in(&t.slug, &t.admin.email, "not the password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Locked: even the right password waits now, so guessing gains nothing.
    let r = app.sign_in(&t.slug, &t.admin.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (800..=901).contains(&retry),
        "Retry-After {retry}: until the first failure is 15 minutes old"
    );
    // Another account of the same workspace is not affected.
    let r = app.sign_in(&t.slug, &bob.email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    // An account that does not exist answers the same way, so the lock
    // tells nobody which accounts exist.
    for _ in 1..=10 {
        let r = app.sign_in(&t.slug, "ghost@example.com", "not the password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.sign_in(&t.slug, "ghost@example.com", "not the password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Thirty wrong passwords at once: each is counted as it starts, so no more
/// than ten are checked, however the password checks interleave.
async fn guesses_sent_all_at_once_cannot_slip_past_the_lock(app: TestApp) {
    let t = app.tenant("Acme").await;
    app.set_password(&t.admin, PASSWORD).await;
    let guesses = (0..30).map(|i| {
        let (app, t) = (&app, &t);
        async move {
            app.sign_in(&t.slug, &t.admin.email, &format!("guess number {i}"))
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (10, 20), "{statuses:?}");
}

async fn one_address_cannot_try_sign_ins_without_end(app: TestApp) {
    let rates = RateSettings {
        sign_ins_burst: 5,
        sign_ins_per_minute: 1,
        ..RateSettings::default()
    };
    let app = TestApp::builder(app.db.clone())
        .plugins(threadline_tests::plugin_settings())
        .rates(rates)
        .spawn()
        .await;
    let t = app.tenant("Acme").await;
    for i in 0..5 {
        let r = app
            .sign_in(&t.slug, &format!("guess{i}@example.com"), "guess guess guess")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Every account different, the address the same.
    let r = app.sign_in(&t.slug, "guess5@example.com", "guess guess guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
}

async fn a_session_slides_forward_as_it_is_used_and_ends_when_left_unused(app: TestApp) {
    let t = app.tenant("Acme").await;
    let session = app.session(&t, &t.admin).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let expiry = || async {
        let rows = sql::query(
            &db,
            "SELECT expires_at FROM agent_credentials WHERE agent_id = $1 AND kind = 'session'",
            vec![t.admin.id.as_str().into()],
        )
        .await;
        rows[0]
            .try_get::<chrono::DateTime<chrono::Utc>>("", "expires_at")
            .unwrap()
    };
    // As if the session had gone unused for all but ten seconds of its week.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(10);
    end_sessions_at(&db, &t.admin.id, soon).await;
    assert_eq!(app.get("/api/v1/chats", &session).await.status, StatusCode::OK);
    let slid = expiry().await;
    assert!(
        slid > chrono::Utc::now() + chrono::Duration::days(6),
        "{slid}: a week from this use"
    );
    let me = app.get("/api/v1/auth/session", &session).await;
    let shown: chrono::DateTime<chrono::Utc> = me.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown, slid);
    // Used again at once: nothing to write, the end stays where it is.
    app.get("/api/v1/chats", &session).await;
    assert_eq!(expiry().await, slid);

    // Left unused past its end, it is over.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    end_sessions_at(&db, &t.admin.id, past).await;
    assert_eq!(
        app.get("/api/v1/chats", &session).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Signing in again clears the expired session away.
    app.session(&t, &t.admin).await;
    let rows = sql::query(
        &db,
        "SELECT COUNT(*) AS n FROM agent_credentials WHERE agent_id = $1 AND kind = 'session'",
        vec![t.admin.id.as_str().into()],
    )
    .await;
    assert_eq!(rows[0].try_get::<i64>("", "n").unwrap(), 1);
}

async fn admins_make_list_and_revoke_named_api_tokens(app: TestApp) {
    let t = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    let bob = app.agent(&t, "Bob").await;

    let r = app
        .post("/api/v1/tokens", &t.admin.token, json!({"name": "CRM sync"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let crm = r.body["token"].as_str().unwrap().to_owned();
    let crm_id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["agent_id"], t.admin.id.as_str());
    assert_eq!(app.get("/api/v1/chats", &crm).await.status, StatusCode::OK);

    // One acting as Bob, for a bot that answers in his name.
    let r = app
        .post(
            "/api/v1/tokens",
            &t.admin.token,
            json!({"name": "Bob's bot", "agent_id": bob.id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let bot = r.body["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/auth/session", &bot).await;
    assert_eq!(
        (me.body["agent"]["id"].as_str(), me.body["kind"].as_str()),
        (Some(bob.id.as_str()), Some("api"))
    );

    let list = app.get("/api/v1/tokens", &t.admin.token).await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Bob's bot",
            "CRM sync",
            "created with the agent",
            "created with the agent"
        ]
    );
    assert!(
        list.body.as_array().unwrap().iter().all(|x| x.get("token").is_none()),
        "tokens are shown once"
    );

    // Admins only; another workspace's agents and tokens are out of reach.
    assert_eq!(
        app.get("/api/v1/tokens", &bob.token).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(
            "/api/v1/tokens",
            &t.admin.token,
            json!({"name": "x", "agent_id": other.admin.id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .delete(&format!("/api/v1/tokens/{crm_id}"), &other.admin.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post("/api/v1/tokens", &t.admin.token, json!({"name": "CRM\u{202E}cnys"}))
        .await;
    r.assert_invalid("name");

    let r = app.delete(&format!("/api/v1/tokens/{crm_id}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/chats", &crm).await.status, StatusCode::UNAUTHORIZED);
    let r = app.delete(&format!("/api/v1/tokens/{crm_id}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The other tokens are untouched.
    assert_eq!(app.get("/api/v1/chats", &bot).await.status, StatusCode::OK);
    // A session is not an API token: the tokens route cannot end it.
    let session = app.session(&t, &bob).await;
    let me = app.get("/api/v1/auth/session", &session).await;
    assert_eq!(me.body["kind"], "session");
    assert_eq!(app.get("/api/v1/chats", &session).await.status, StatusCode::OK);
}

async fn changing_a_password_ends_the_other_sessions(app: TestApp) {
    let t = app.tenant("Acme").await;
    let laptop = app.session(&t, &t.admin).await;
    let phone = app.session(&t, &t.admin).await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let r = app
        .put(
            "/api/v1/auth/password",
            &laptop,
            change("wrong password!", "a brand new passphrase"),
        )
        .await;
    r.assert_invalid("current_password");
    let r = app
        .put(
            "/api/v1/auth/password",
            &laptop,
            change("a long enough password", "short"),
        )
        .await;
    r.assert_invalid("new_password");
    assert_eq!(
        app.get("/api/v1/chats", &phone).await.status,
        StatusCode::OK,
        "nothing changed yet"
    );

    let r = app
        .put(
            "/api/v1/auth/password",
            &laptop,
            change("a long enough password", "a brand new passphrase"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(app.get("/api/v1/chats", &laptop).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/chats", &phone).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.sign_in(&t.slug, &t.admin.email, "a long enough password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in(&t.slug, &t.admin.email, "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

/// The upgrade moves every agent's token into the credentials table: a
/// script's token keeps working, and going back restores it where it was.
async fn tokens_made_before_the_upgrade_keep_working(app: TestApp) {
    let t = app.tenant("Acme").await;
    let db = Database::connect(&app.db.url).await.unwrap();
    // Back to before the credentials migration: it and every later one.
    let all = Migrator::migrations();
    let credentials = all
        .iter()
        .position(|m| m.name() == "m20261126_000006_credentials")
        .unwrap();
    Migrator::down(&db, Some((all.len() - credentials) as u32))
        .await
        .unwrap();
    let rows = sql::query(
        &db,
        "SELECT token_hash FROM agents WHERE id = $1",
        vec![t.admin.id.as_str().into()],
    )
    .await;
    let restored: String = rows[0].try_get("", "token_hash").unwrap();
    assert!(!restored.starts_with("retired:"), "the token is back on the agent");
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(app.get("/api/v1/chats", &t.admin.token).await.status, StatusCode::OK);
    let list = app.get("/api/v1/tokens", &t.admin.token).await;
    assert_eq!(list.body[0]["name"], "created with the agent");
}

/// Ten wrong passwords from one network lock that network out of the
/// account, not its owner elsewhere: the right password from another
/// address signs in (issue 24). An IPv6 /64 is one network. Past twenty
/// failures from all networks together, the account's sign-ins are slowed
/// down, one a second at first, and the right password still gets in.
async fn a_strangers_guesses_from_one_network_do_not_keep_the_owner_out(app: TestApp) {
    let rates = RateSettings {
        forwarded_for_hops: 1,
        sign_ins_burst: 1_000_000,
        ..RateSettings::default()
    };
    let app = TestApp::builder(app.db.clone()).rates(rates).spawn().await;
    let t = app.tenant("Acme").await;
    app.set_password(&t.admin, PASSWORD).await;
    let from = |address: String, password: &'static str| {
        let (app, t) = (&app, &t);
        async move {
            let body = json!({"workspace": t.slug, "email": t.admin.email, "password": password});
            let r = app
                .client
                .post(app.url("/api/v1/auth/sign-in"))
                .header("x-forwarded-for", address)
                .json(&body)
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (r.status(), retry)
        }
    };
    let stranger = "203.0.113.7".to_owned();
    for attempt in 1..=10 {
        let (status, _) = from(stranger.clone(), "not the password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let (status, retry) = from(stranger.clone(), PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger's network is locked"
    );
    assert!(retry.is_some_and(|s| s > 800), "{retry:?}");
    let (status, _) = from("2001:db8:1:2::9".into(), PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the owner, elsewhere, signs in");

    // One /64 is one network, whichever of its addresses a guess comes from.
    for i in 1..=10 {
        let (status, _) = from(format!("2001:db8:5:6::{i:x}"), "not the password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, _) = from("2001:db8:5:6::ffff".into(), "not the password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Ten more from ten other networks: twenty in all. Now every network
    // waits a growing delay after each failure, the owner's included.
    for i in 1..=10 {
        let (status, _) = from(format!("198.51.100.{i}"), "not the password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, retry) = from("198.51.100.50".into(), "not the password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a second after the last failure");
    assert!(retry.is_some_and(|s| s <= 2), "a short wait, not a lockout: {retry:?}");
    tokio::time::sleep(std::time::Duration::from_secs(retry.unwrap())).await;
    let (status, _) = from("198.51.100.51".into(), "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "checked after the wait");
    let (status, retry) = from("198.51.100.52".into(), "not the password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "and the next wait is longer");
    assert!(retry.is_some_and(|s| (2..=3).contains(&s)), "{retry:?}");
    tokio::time::sleep(std::time::Duration::from_secs(retry.unwrap())).await;
    let (status, _) = from("192.0.2.1".into(), PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the owner gets in after the wait");
}

/// A conversion reads the caller's token together with the chat (one
/// query), then admits the caller as every other route does: an expired
/// session, a revoked token and a suspended workspace are refused before
/// anything is written, a live session slides forward as it converts, and
/// a bad token comes before a bad body in the answer.
async fn converting_checks_the_token_as_every_other_route_does(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let path = format!("/api/v1/chats/{chat}/conversion");
    let body = json!({"visitor_email": "g@navy.mil"});
    let db = Database::connect(&app.db.url).await.unwrap();
    let unconverted = || async {
        let chat = app.chat(&t.admin.token, &chat).await;
        assert_eq!(chat["ticket"], serde_json::Value::Null, "{chat}");
    };

    // A session past its end.
    let session = app.session(&t, &t.admin).await;
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    end_sessions_at(&db, &t.admin.id, past).await;
    assert_eq!(
        app.post(&path, &session, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    unconverted().await;

    // A revoked API token.
    let r = app.post("/api/v1/tokens", &t.admin.token, json!({"name": "bot"})).await;
    let (bot, bot_id) = (r.body["token"].as_str().unwrap(), r.body["id"].as_str().unwrap());
    let r = app.delete(&format!("/api/v1/tokens/{bot_id}"), &t.admin.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.post(&path, bot, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    unconverted().await;

    // A bad token with a bad body: the token is what is wrong first.
    let r = app.post(&path, "tl_wrong", json!({"visitor_email": 7})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A suspended workspace.
    let op = app.operator_token("ops").await;
    let workspace = format!("/api/operator/v1/workspaces/{}", t.id);
    let r = app.patch(&workspace, &op, json!({"status": "suspended"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&path, &t.admin.token, body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "workspace_suspended");
    let r = app.patch(&workspace, &op, json!({"status": "active"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    unconverted().await;

    // A live session near its end converts, and its end moves on.
    let session = app.session(&t, &t.admin).await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(10);
    end_sessions_at(&db, &t.admin.id, soon).await;
    let r = app.post(&path, &session, body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let rows = sql::query(
        &db,
        "SELECT expires_at FROM agent_credentials WHERE agent_id = $1 AND kind = 'session'",
        vec![t.admin.id.as_str().into()],
    )
    .await;
    let slid: chrono::DateTime<chrono::Utc> = rows[0].try_get("", "expires_at").unwrap();
    assert!(slid > chrono::Utc::now() + chrono::Duration::days(6), "{slid}");
    // Once more: the same ticket.
    let again = app.post(&path, &session, body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["number"], r.body["number"]);
}

/// Moves the end of every session of the agent to `at`, as if they had gone
/// unused until then.
async fn end_sessions_at(db: &sea_orm::DatabaseConnection, agent_id: &str, at: chrono::DateTime<chrono::Utc>) {
    sql::exec(
        db,
        "UPDATE agent_credentials SET expires_at = $1 WHERE agent_id = $2 AND kind = 'session'",
        vec![at.into(), agent_id.into()],
    )
    .await;
}
