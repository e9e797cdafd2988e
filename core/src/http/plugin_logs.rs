//! The workspace's plugin log (admins only): what its plugins wrote with
//! `log`, the host's line for each outbound request, and each call's
//! outcome. A ring of the newest 1,000 lines per workspace; the console's
//! rules page polls it with `since` for a live view.

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::AuthAdmin;
use crate::domain::InvalidInput;
use crate::domain::automation::EventKind;
use crate::domain::hooks::HookKind;
use crate::store::{LogQuery, PLUGIN_LOG_KEPT, PluginLogRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(plugin_logs))
}

/// Lines one answer holds at most.
const MAX_LINES: u64 = 200;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// A plugin's id or built-in name.
    plugin: Option<String>,
    /// `subject`, `transcript`, `assignment`, `summary` or `fields`; or an
    /// event an automation ran on (`ticket_created`, …).
    hook: Option<String>,
    /// The `id` of the last line seen: only newer lines come back (oldest
    /// first). Without it, the newest lines.
    since: Option<i64>,
    /// At most this many lines (1 to 200; 200 unless given).
    limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct LogLineView {
    /// Increasing: pass the last one seen as `since`.
    id: i64,
    at: DateTime<Utc>,
    plugin: String,
    plugin_name: String,
    hook: String,
    /// `debug`, `info`, `warn` or `error` for a line the plugin (or the
    /// host, for a request it made) wrote; `call` for a call's outcome.
    level: String,
    /// Control characters are shown escaped (`\n`, `\u{1b}`).
    message: String,
    chat_id: Option<String>,
    /// For a call: `ok`, or the fault's kind (`fuel`, `deadline`, …).
    outcome: Option<String>,
    fuel: Option<i64>,
    elapsed_ms: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct LogPage {
    /// Oldest first.
    lines: Vec<LogLineView>,
    /// The ring's size: the workspace's newest lines kept.
    kept: u64,
}

fn line_view(r: PluginLogRow) -> LogLineView {
    LogLineView {
        id: r.id,
        at: r.at,
        plugin: r.plugin,
        plugin_name: r.plugin_name,
        hook: r.hook,
        level: r.level,
        message: r.message,
        chat_id: r.chat_id,
        outcome: r.outcome,
        fuel: r.fuel,
        elapsed_ms: r.elapsed_ms,
    }
}

/// The workspace's plugin log, oldest first: the lines after `since`, or
/// the newest ones. Never another workspace's.
#[utoipa::path(get, path = "/api/v1/plugins/logs", tag = "plugins", security(("agent_token" = ["admin"])),
    params(LogParams),
    responses((status = 200, description = "OK", body = LogPage),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn plugin_logs(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Query(p): Query<LogParams>,
) -> Result<axum::Json<LogPage>, ApiError> {
    let limit = p.limit.unwrap_or(MAX_LINES);
    if !(1..=MAX_LINES).contains(&limit) {
        return Err(InvalidInput::new("limit", format!("limit must be between 1 and {MAX_LINES}")).into());
    }
    if let Some(hook) = &p.hook
        && HookKind::parse(hook).is_none()
        && hook.parse::<EventKind>().is_err()
    {
        return Err(InvalidInput::new(
            "hook",
            "hook must be subject, transcript, assignment, summary or fields, or an event an automation runs on              (ticket_created, …)",
        )
        .into());
    }
    // This node's lines not yet written: a reader sees its own calls at once.
    state.plugins.logs().flush(&state.store).await;
    let query = LogQuery {
        plugin: p.plugin,
        hook: p.hook,
        since: p.since,
        limit,
    };
    let rows = state.store.plugin_logs(&admin.tenant_id, &query).await?;
    Ok(axum::Json(LogPage {
        lines: rows.into_iter().map(line_view).collect(),
        kept: PLUGIN_LOG_KEPT,
    }))
}
