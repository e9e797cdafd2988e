//! What a browser is told about every response: the pages' strict
//! Content-Security-Policy (no inline script, the console never framed, the
//! widget framed by the sites that embed it), no content sniffing, and no
//! referrer to other sites (issue 24).

use reqwest::StatusCode;
use threadline_tests::{TestApp, on_both_databases};

on_both_databases!(pages_and_the_api_send_the_browser_security_headers);

async fn pages_and_the_api_send_the_browser_security_headers(app: TestApp) {
    let t = app.tenant("Acme").await;
    let get = |path: String| {
        let app = &app;
        async move { app.client.get(app.url(&path)).send().await.unwrap() }
    };
    let console = get("/console".into()).await;
    let widget = get(format!("/widget?key={}", t.widget_key)).await;
    let script = get("/assets/console.js".into()).await;
    for r in [&console, &widget, &script] {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["referrer-policy"], "same-origin");
    }
    let policy = |r: &reqwest::Response| r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for (page, ancestors) in [(&console, "frame-ancestors 'none'"), (&widget, "frame-ancestors *")] {
        let csp = policy(page);
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            ancestors,
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    }
    assert_eq!(console.headers()["x-frame-options"], "DENY");
    assert!(
        widget.headers().get("x-frame-options").is_none(),
        "the widget is framed"
    );

    // The API: JSON never sniffed as something else, errors included.
    let r = app.get("/api/v1/chats", &t.admin.token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["referrer-policy"], "same-origin");
    let r = app.get("/api/v1/chats", "not-a-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
}
