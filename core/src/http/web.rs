//! The browser side, embedded in the binary: the agent console at
//! `/console`, the visitor widget's page at `/widget?key=…`, and
//! `/widget.js`, which a site includes to show the widget.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route(
            "/console",
            get(|| async { asset("text/html", include_str!("../../web/console.html")) }),
        )
        .route(
            "/widget",
            get(|| async { asset("text/html", include_str!("../../web/widget.html")) }),
        )
        .route(
            "/widget.js",
            get(|| async { asset("text/javascript", include_str!("../../web/widget.js")) }),
        )
        .route(
            "/assets/dom.js",
            get(|| async { asset("text/javascript", include_str!("../../web/dom.js")) }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript", include_str!("../../web/console.js")) }),
        )
        .route(
            "/assets/widget-app.js",
            get(|| async { asset("text/javascript", include_str!("../../web/widget-app.js")) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css", include_str!("../../web/style.css")) }),
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
