//! Reports for admins: `GET /api/v1/reports/{report}` as JSON, or as CSV
//! with `format=csv`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::AuthAdmin;
use crate::domain::InvalidInput;
use crate::domain::reports::{self, Range, Report, ReportKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` in the workspace's time zone; by default 29
    /// days before `to`.
    from: Option<String>,
    /// Last day, included; by default today (or 29 days after `from`). A
    /// report covers at most 366 days.
    to: Option<String>,
    /// `json` (the default) or `csv` (a header row, a row a day or agent,
    /// and a `total` row).
    format: Option<String>,
}

/// One report over a range of days of the workspace's calendar:
/// `conversations` (started per day, by channel: `chat`, `agent`),
/// `first-response` (first answers given per day, with the average wait in
/// seconds), `resolution` (tickets solved per day, with the average time
/// from creation), `sla` (targets met and missed per day, by when they were
/// settled) or `ratings` (chat ratings per agent the chat belonged to).
/// Every day of the range has a row; `total` sums the range. Each figure
/// reads one index range of the workspace, so a report costs the same in
/// a workspace of any age.
#[utoipa::path(get, path = "/api/v1/reports/{report}", tag = "reports", security(("agent_token" = ["admin"])),
    params(("report" = String, Path, description = "conversations, first-response, resolution, sla or ratings"), ReportQuery),
    responses((status = 200, description = "`{report, from, to, time_zone, columns, rows: [{day|agent, …}], total}`, or CSV", body = Object, content_type = "application/json"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn report(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(name): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let kind = ReportKind::parse(&name).ok_or(ApiError::NotFound("report"))?;
    let csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(InvalidInput::new("format", "format must be json or csv").into()),
    };
    let tenant = state.store.tenant(&admin.tenant_id).await?;
    let range = Range::parse(q.from.as_deref(), q.to.as_deref(), &tenant.time_zone, Utc::now())?;
    let report = build(&state, &admin.tenant_id, kind, range).await?;
    if !csv {
        return Ok(axum::Json(report.to_json()).into_response());
    }
    let file = format!(
        "attachment; filename=\"threadline-{}-{}-{}.csv\"",
        kind.as_str(),
        report.range.from,
        report.range.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file),
        ],
        report.to_csv(),
    )
        .into_response())
}

async fn build(state: &AppState, tenant_id: &str, kind: ReportKind, range: Range) -> Result<Report, ApiError> {
    let (from, to) = range.bounds();
    let minutes = range.bucket_minutes();
    let store = &state.store;
    Ok(match kind {
        ReportKind::Conversations => {
            reports::conversations(range, &store.report_conversations(tenant_id, from, to, minutes).await?)
        }
        ReportKind::FirstResponse => reports::durations(
            kind,
            range,
            &store.report_first_responses(tenant_id, from, to, minutes).await?,
        ),
        ReportKind::Resolution => reports::durations(
            kind,
            range,
            &store.report_resolutions(tenant_id, from, to, minutes).await?,
        ),
        ReportKind::Sla => reports::sla(range, &store.report_sla(tenant_id, from, to, minutes).await?),
        ReportKind::Ratings => reports::ratings(range, &store.report_ratings(tenant_id, from, to).await?),
    })
}
