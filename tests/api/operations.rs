//! What an operator's tooling reads: readiness and metrics.

use reqwest::StatusCode;
use serde_json::json;
use threadline_migrations::Migrator;
use threadline_migrations::sea_orm_migration::MigratorTrait;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(
    metrics_count_requests_conversions_and_plugin_calls,
    ready_only_with_every_migration_applied,
);

async fn metrics_text(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    r.text().await.unwrap()
}

/// The value of the series `series` (name and labels, exactly as printed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_requests_conversions_and_plugin_calls(app: TestApp) {
    let t = app.tenant("Acme").await;
    let (chat, _) = app.simple_chat(&t).await;
    let r = app.admin_converts(&t, &chat, json!({"visitor_email": "nope"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .admin_converts(&t, &chat, json!({"visitor_email": "ada@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    for made_up in ["FROB", "XYZZY", "PLUGH"] {
        let method = reqwest::Method::from_bytes(made_up.as_bytes()).unwrap();
        app.client
            .request(method, app.url("/api/v1/chats"))
            .send()
            .await
            .unwrap();
    }

    let text = metrics_text(&app).await;
    assert!(!text.contains("FROB") && !text.contains("PLUGH"), "{text}");
    let other: f64 = text
        .lines()
        .filter(|l| l.starts_with("threadline_http_requests_total{") && l.contains("method=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        other, 3.0,
        "made-up methods share the series of method=\"other\": {text}"
    );
    assert_eq!(
        value(&text, "threadline_conversions_total{outcome=\"created\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "threadline_conversions_total{outcome=\"repeated\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "threadline_conversions_total{outcome=\"invalid_input\"}"),
        Some(1.0)
    );
    let route = "route=\"/api/v1/chats/{chat_id}/conversion\",method=\"POST\"";
    assert_eq!(
        value(
            &text,
            &format!("threadline_http_requests_total{{{route},status=\"201\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &format!("threadline_http_requests_total{{{route},status=\"422\"}}")
        ),
        Some(1.0)
    );
    assert!(!text.contains(&chat), "no series names a chat");
    assert!(!text.contains(&t.id), "no series names a workspace");
    for hook in ["subject", "transcript", "assignment"] {
        let calls = value(&text, &format!("threadline_plugin_calls_total{{hook=\"{hook}\"}}"));
        assert!(calls.is_some_and(|n| n >= 1.0), "{hook}: {text}");
        let fuel = value(&text, &format!("threadline_plugin_fuel_total{{hook=\"{hook}\"}}"));
        assert!(fuel.is_some_and(|n| n > 0.0), "{hook}: {text}");
    }
    assert!(
        text.contains("threadline_db_connections{pool=\"read\",state=\"idle\"}"),
        "{text}"
    );
}

async fn ready_only_with_every_migration_applied(app: TestApp) {
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ready");

    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    Migrator::down(&db, Some(1)).await.unwrap();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("1 migrations not applied"));
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "alive all the same");

    Migrator::up(&db, None).await.unwrap();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `--log-format json`: one JSON object a line, and a request's lines carry
/// its id (the one its response names) and its workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_the_workspace() {
    let db = threadline_tests::TestDb::create(threadline_tests::Backend::Sqlite)
        .await
        .unwrap();
    let cache = threadline_tests::warm_plugin_cache().await;
    let server = threadline_tests::ServerProcess::start_with_env(
        &db.url,
        cache.path(),
        &["--log-format", "json"],
        &[("RUST_LOG", "threadline=info")],
    );
    let store = threadline::store::Store::connect(&db.url).await.unwrap();
    let email = threadline::domain::EmailAddress::parse("email", "ada@example.com").unwrap();
    let created = store.create_tenant("Acme", "Ada", &email).await.unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!(
            "{}/api/v1/widget/{}/chats",
            server.base, created.tenant.widget_key
        ))
        .json(&json!({"visitor_name": "Grace", "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let chat = r.json::<serde_json::Value>().await.unwrap()["chat_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .post(format!("{}/api/v1/chats/{chat}/conversion", server.base))
        .bearer_auth(&created.admin.token)
        .json(&json!({"visitor_email": "grace@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();

    let mut found = None;
    for _ in 0..50 {
        found = server.log_lines().into_iter().find(|l| l.contains("chat converted"));
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = found.expect("the conversion is logged");
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(entry["span"]["request_id"], request_id.as_str(), "{line}");
    assert_eq!(entry["span"]["workspace"], created.tenant.id.as_str(), "{line}");
    for line in server.log_lines() {
        serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
}
