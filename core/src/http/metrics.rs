//! `GET /metrics`: this node's counters in Prometheus' text format. No
//! label names a workspace, so a scrape stays small however many there are
//! and shows nothing of any workspace's data.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Requests and conversions counted by this node since it started.
#[derive(Default)]
pub struct HttpMetrics {
    /// (route pattern, method, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// outcome → conversions.
    conversions: Mutex<BTreeMap<&'static str, u64>>,
}

impl HttpMetrics {
    /// A conversion request's outcome: `created`, `repeated` (the chat had
    /// its ticket already) or the error's code.
    pub fn conversion(&self, outcome: &'static str) {
        *self.conversions.lock().unwrap().entry(outcome).or_default() += 1;
    }
}

/// Counts every request by its route's pattern (never its raw path, whose
/// ids would make a series per chat).
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Any token is a valid method; a bot sending made-up ones must not
    // make a series each.
    let method = match *req.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            req.method().as_str().to_owned()
        }
        _ => "other".to_owned(),
    };
    let response = next.run(req).await;
    let key = (route, method, response.status().as_u16());
    *state.metrics.requests.lock().unwrap().entry(key).or_default() += 1;
    response
}

pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    family(
        &mut out,
        "threadline_http_requests_total",
        "counter",
        "HTTP requests by route, method and status.",
    );
    for ((route, method, status), n) in state.metrics.requests.lock().unwrap().iter() {
        let _ = writeln!(
            out,
            "threadline_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
            escape(route)
        );
    }
    family(
        &mut out,
        "threadline_conversions_total",
        "counter",
        "Conversion requests by outcome.",
    );
    for (outcome, n) in state.metrics.conversions.lock().unwrap().iter() {
        let _ = writeln!(out, "threadline_conversions_total{{outcome=\"{outcome}\"}} {n}");
    }
    let totals = state.plugins.usage_totals();
    let per_hook = [
        ("threadline_plugin_calls_total", "Plugin calls by hook."),
        ("threadline_plugin_fuel_total", "Fuel plugin calls used, by hook."),
        ("threadline_plugin_seconds_total", "Time plugin calls ran, by hook."),
        (
            "threadline_plugin_slot_wait_seconds_total",
            "Time plugin calls waited for a slot, by hook.",
        ),
    ];
    for (i, (name, help)) in per_hook.iter().enumerate() {
        family(&mut out, name, "counter", help);
        for f in &totals {
            let value = match i {
                0 => f.calls as f64,
                1 => f.fuel as f64,
                2 => f.wall_ms / 1000.0,
                _ => f.wait_ms / 1000.0,
            };
            let _ = writeln!(out, "{name}{{hook=\"{}\"}} {value}", f.hook);
        }
    }
    family(
        &mut out,
        "threadline_plugin_faults_total",
        "counter",
        "Plugin faults by hook and kind.",
    );
    for f in &totals {
        for (kind, n) in &f.faults {
            let _ = writeln!(
                out,
                "threadline_plugin_faults_total{{hook=\"{}\",kind=\"{kind}\"}} {n}",
                f.hook
            );
        }
    }
    family(
        &mut out,
        "threadline_db_connections",
        "gauge",
        "Database connections by pool and state.",
    );
    for (pool, open, idle) in state.store.pool_use() {
        let busy = (open as usize).saturating_sub(idle);
        let _ = writeln!(
            out,
            "threadline_db_connections{{pool=\"{pool}\",state=\"busy\"}} {busy}"
        );
        let _ = writeln!(
            out,
            "threadline_db_connections{{pool=\"{pool}\",state=\"idle\"}} {idle}"
        );
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
