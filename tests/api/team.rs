//! The team: roles and the last admin; deactivation that ends sessions,
//! tokens and sockets (on every node) and takes the agent out of
//! assignment; availability; the widget on an origin of its own.

use reqwest::StatusCode;
use sea_orm::Database;
use serde_json::{Value, json};
use threadline_tests::{Backend, Events, ServerProcess, TestApp, TestDb, on_both_databases, sql};

on_both_databases!(
    roles_change_but_the_last_active_admin_stays,
    deactivation_ends_every_credential_and_takes_the_agent_out_of_assignment,
    availability_decides_who_is_online_for_assignment_and_the_widget,
);

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

/// On two server processes over one PostgreSQL, deactivating through one
/// closes the agent's sockets on the other at once, and its requests fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_closes_the_agents_socket_on_another_node() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let one = TestApp::spawn(db).await;
    let t = one.tenant("Acme").await;
    let bob = one.agent(&t, "Bob").await;
    let session = one.session(&t, &bob).await;
    let cache = threadline_tests::warm_plugin_cache().await;
    let two = ServerProcess::start(&one.db.url, cache.path(), &[]);
    let socket = |token: &str| {
        let url = format!("{}/api/v1/events", two.base.replacen("http://", "ws://", 1));
        let token = token.to_owned();
        async move { Events::open(&url, &token).await }
    };
    let (mut by_session, mut by_token) = (socket(&session).await, socket(&bob.token).await);
    let r = change(&one, &t.admin.token, &bob.id, json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(by_session.close_code().await, 4401);
    assert_eq!(by_token.close_code().await, 4401);
    let chats = reqwest::Client::new()
        .get(format!("{}/api/v1/chats", two.base))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(chats.status(), StatusCode::UNAUTHORIZED);
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
    let db = Database::connect(&app.db.url).await.unwrap();
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
