//! The browser side, embedded in the binary: the agent console at
//! `/console`, the visitor widget's page at `/widget?key=…`, and
//! `/widget.js`, which a site includes to show the widget.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

/// Every embedded file: where it is served, and as what.
const ASSETS: [(&str, &str, &str); 9] = [
    ("/console", "text/html", include_str!("../../web/console.html")),
    ("/widget", "text/html", include_str!("../../web/widget.html")),
    ("/widget.js", "text/javascript", include_str!("../../web/widget.js")),
    ("/assets/dom.js", "text/javascript", include_str!("../../web/dom.js")),
    (
        "/assets/console.js",
        "text/javascript",
        include_str!("../../web/console.js"),
    ),
    (
        "/assets/rules.js",
        "text/javascript",
        include_str!("../../web/rules.js"),
    ),
    (
        "/assets/tickets.js",
        "text/javascript",
        include_str!("../../web/tickets.js"),
    ),
    (
        "/assets/widget-app.js",
        "text/javascript",
        include_str!("../../web/widget-app.js"),
    ),
    ("/assets/style.css", "text/css", include_str!("../../web/style.css")),
];

pub fn router() -> axum::Router<AppState> {
    ASSETS.into_iter().fold(
        axum::Router::new().route("/", get(|| async { Redirect::to("/console") })),
        |router, (path, content_type, body)| router.route(path, get(move || async move { asset(content_type, body) })),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, format!("{content_type}; charset=utf-8")),
            // Small files that change with the binary: revalidate each time.
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}
