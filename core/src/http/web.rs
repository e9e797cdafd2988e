//! The browser side, embedded in the binary: the agent console at
//! `/console`, the visitor widget's page at `/widget?key=…`, and
//! `/widget.js`, which a site includes to show the widget.

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_FRAME_OPTIONS};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

/// An embedded file of `web/` served under `/assets/`.
macro_rules! asset {
    ($file:literal, $type:literal) => {
        (
            concat!("/assets/", $file),
            $type,
            include_str!(concat!("../../web/", $file)),
        )
    };
}

/// Every embedded file: where it is served, and as what. The console and
/// the widget are ES modules (no build step): the pages load their entry
/// module, which imports the rest.
const ASSETS: [(&str, &str, &str); 13] = [
    ("/console", "text/html", include_str!("../../web/console.html")),
    ("/widget", "text/html", include_str!("../../web/widget.html")),
    ("/widget.js", "text/javascript", include_str!("../../web/widget.js")),
    asset!("api.js", "text/javascript"),
    asset!("console.js", "text/javascript"),
    asset!("dom.js", "text/javascript"),
    asset!("live.js", "text/javascript"),
    asset!("rules.js", "text/javascript"),
    asset!("state.js", "text/javascript"),
    asset!("tickets.js", "text/javascript"),
    asset!("typing.js", "text/javascript"),
    asset!("widget-app.js", "text/javascript"),
    asset!("style.css", "text/css"),
];

pub fn router() -> axum::Router<AppState> {
    ASSETS.into_iter().fold(
        axum::Router::new().route("/", get(|| async { Redirect::to("/console") })),
        |router, (path, content_type, body)| router.route(path, get(move || async move { asset(content_type, body) })),
    )
}

/// What the pages may load: their own scripts, styles and connections
/// only (no inline script or style, no plugins, no other origin), so a
/// string that slipped into the page as markup could still run nothing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (CONTENT_TYPE, format!("{content_type}; charset=utf-8")),
            // Small files that change with the binary: revalidate each time.
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response();
    if content_type == "text/html" {
        // The console is never framed (no other site can dress it up and
        // have an agent click in it); the widget is made to be framed by
        // the sites that embed it.
        let console = body.contains("/assets/console.js");
        let ancestors = if console { "'none'" } else { "*" };
        let policy = format!("{CSP}; frame-ancestors {ancestors}");
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).expect("an ASCII policy"),
        );
        if console {
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    response
}
