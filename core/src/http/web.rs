//! The browser side, embedded in the binary: the agent console at
//! `/console`, the visitor widget's page at `/widget?key=…`, and
//! `/widget.js`, which a site includes to show the widget.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::{Addresses, AppState};

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
const ASSETS: [(&str, &str, &str); 24] = [
    ("/console", "text/html", include_str!("../../web/console.html")),
    ("/widget", "text/html", include_str!("../../web/widget.html")),
    ("/widget.js", "text/javascript", include_str!("../../web/widget.js")),
    asset!("account.js", "text/javascript"),
    asset!("automations.js", "text/javascript"),
    asset!("rollout.js", "text/javascript"),
    asset!("api.js", "text/javascript"),
    asset!("canned.js", "text/javascript"),
    asset!("console.js", "text/javascript"),
    asset!("contacts.js", "text/javascript"),
    asset!("dom.js", "text/javascript"),
    asset!("keys.js", "text/javascript"),
    asset!("live.js", "text/javascript"),
    asset!("newticket.js", "text/javascript"),
    asset!("presence.js", "text/javascript"),
    asset!("notify.js", "text/javascript"),
    asset!("reports.js", "text/javascript"),
    asset!("rules.js", "text/javascript"),
    asset!("state.js", "text/javascript"),
    asset!("team.js", "text/javascript"),
    asset!("tickets.js", "text/javascript"),
    asset!("typing.js", "text/javascript"),
    asset!("widget-app.js", "text/javascript"),
    asset!("style.css", "text/css"),
];

pub fn router() -> axum::Router<AppState> {
    ASSETS.into_iter().fold(
        axum::Router::new().route("/", get(|| async { Redirect::to("/console") })),
        |router, (path, content_type, body)| {
            router.route(
                path,
                get(
                    move |State(state): State<AppState>, headers: HeaderMap, uri: Uri| async move {
                        match elsewhere(&state.addresses, &headers, &uri) {
                            Some(there) => Redirect::to(&there).into_response(),
                            None => asset(content_type, body),
                        }
                    },
                ),
            )
        },
    )
}

/// Where a page must be served instead, when the widget has an origin of
/// its own (`--widget-origin`): the console is never served on the
/// widget's origin (so nothing there can hold an agent's session), and the
/// widget page only there (so no script of a widget page runs beside the
/// console's storage). `None`: serve it here.
fn elsewhere(addresses: &Addresses, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let widget_origin = addresses.widget_origin.as_deref()?;
    let widget_host = widget_origin.split_once("://").map_or(widget_origin, |(_, host)| host);
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let on_widget_origin = host.eq_ignore_ascii_case(widget_host);
    match uri.path() {
        "/console" if on_widget_origin => Some(format!("{}/console", addresses.public_url)),
        "/widget" if !on_widget_origin => {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            Some(format!("{widget_origin}/widget{query}"))
        }
        _ => None,
    }
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
