//! Staged rollout of a pipeline (admins only): a candidate runs a share of
//! the workspace's chats beside the current pipeline, with both versions'
//! figures, until it is promoted, abandoned, or gives itself up on faults
//! (see `Store::count_rollout_run`). One at a time per workspace, on every
//! node: the workspace is the rollout's key.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, OrNotFound};
use super::extract::{ApiJson, AuthAdmin};
use super::pipeline::{AgentRefView, PipelineUpdate, PipelineView, checked, checked_update, view};
use crate::domain::InvalidInput;
use crate::plugins::{self, HookSettings, PipelineRecord};
use crate::store::{PipelineChange, RolloutRow, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_rollout, start_rollout, abandon_rollout))
        .routes(routes!(promote_rollout))
}

/// The defaults: a candidate is given up when more than one run in ten of
/// its last twenty faults.
const DEFAULT_MAX_FAULT_RATE: f64 = 0.1;
const DEFAULT_MIN_CALLS: i32 = 20;
const MAX_MIN_CALLS: i32 = 1_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The candidate, in the shape `PUT /api/v1/pipeline` takes. Secrets
    /// left out are the current pipeline's (for a hook with the same
    /// plugin).
    pipeline: PipelineUpdate,
    /// The share of chats that run the candidate, 1 to 99.
    percent: i32,
    /// Give the candidate up when more than this share (0 to 1) of its
    /// last `min_calls` runs faulted; 0.1 unless given.
    max_fault_rate: Option<f64>,
    /// The runs the fault rate is taken over (1 to 1000); 20 unless given.
    min_calls: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct RolloutView {
    id: String,
    percent: i32,
    max_fault_rate: f64,
    min_calls: i32,
    /// The pipeline version whose history entry started it.
    version: i64,
    started_by: AgentRefView,
    started_at: DateTime<Utc>,
    /// The current pipeline's runs (conversions and summaries) since.
    current: ArmView,
    /// The candidate's runs since.
    candidate: ArmView,
    /// The candidate's last `min_calls` runs, which the automatic rollback
    /// judges.
    candidate_recent: ArmView,
    /// The candidate pipeline (secrets' values left out).
    pipeline: PipelineView,
}

#[derive(Serialize, ToSchema)]
pub struct ArmView {
    calls: i64,
    faults: i64,
    /// Faults over calls; 0 before the first call.
    fault_rate: f64,
}

impl ArmView {
    fn of(calls: i64, faults: i64) -> Self {
        Self {
            calls,
            faults,
            fault_rate: if calls == 0 { 0.0 } else { faults as f64 / calls as f64 },
        }
    }
}

fn rollout_view(row: RolloutRow) -> Result<RolloutView, ApiError> {
    let candidate = PipelineRecord::from_stored(&row.hooks)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the rollout's candidate does not read: {e}")))?;
    let recent_faults = row.recent.bytes().filter(|b| *b == b'1').count() as i64;
    Ok(RolloutView {
        id: row.id,
        percent: row.percent,
        max_fault_rate: row.max_fault_rate,
        min_calls: row.min_calls,
        version: row.base_version,
        started_by: AgentRefView {
            id: row.started_by,
            name: row.started_by_name,
        },
        started_at: row.started_at,
        current: ArmView::of(row.current_calls, row.current_faults),
        candidate: ArmView::of(row.candidate_calls, row.candidate_faults),
        candidate_recent: ArmView::of(row.recent.len() as i64, recent_faults),
        pipeline: view(candidate.hooks),
    })
}

/// The workspace's rollout and both versions' figures.
#[utoipa::path(get, path = "/api/v1/pipeline/rollout", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "OK", body = RolloutView),
        (status = 404, description = "No rollout is under way", body = ErrorBody)))]
async fn get_rollout(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<RolloutView>, ApiError> {
    let row = under_way(&state, &admin.tenant_id).await?;
    Ok(axum::Json(rollout_view(row)?))
}

/// Starts sending `percent` of the chats (chosen per chat, the same on
/// every node and for the whole rollout) to a candidate pipeline, checked
/// as `PUT /api/v1/pipeline` checks one. Each ticket's receipt says which
/// pipeline ran. A 409 while another rollout is under way.
#[utoipa::path(post, path = "/api/v1/pipeline/rollout", tag = "plugins", security(("agent_token" = ["admin"])),
    request_body = RolloutRequest,
    responses((status = 201, description = "Started", body = RolloutView),
        (status = 409, description = "A rollout is under way already", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn start_rollout(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(req): ApiJson<RolloutRequest>,
) -> Result<(StatusCode, axum::Json<RolloutView>), ApiError> {
    if !(1..=99).contains(&req.percent) {
        return Err(InvalidInput::new("percent", "percent must be between 1 and 99").into());
    }
    let max_fault_rate = req.max_fault_rate.unwrap_or(DEFAULT_MAX_FAULT_RATE);
    if !(0.0..=1.0).contains(&max_fault_rate) {
        return Err(InvalidInput::new("max_fault_rate", "max_fault_rate must be between 0 and 1").into());
    }
    let min_calls = req.min_calls.unwrap_or(DEFAULT_MIN_CALLS);
    if !(1..=MAX_MIN_CALLS).contains(&min_calls) {
        return Err(InvalidInput::new("min_calls", format!("min_calls must be between 1 and {MAX_MIN_CALLS}")).into());
    }
    if state.store.rollout(&admin.tenant_id).await?.is_some() {
        return Err(ApiError::Conflict(
            "a rollout is under way already: promote it or abandon it first".to_owned(),
        ));
    }
    let candidate = checked_update(&state, &admin.tenant_id, req.pipeline.hooks)
        .await
        .map_err(|e| prefix_field(e, "pipeline."))?;
    let row = RolloutRow {
        tenant_id: admin.tenant_id.clone(),
        id: crate::store::new_id(),
        hooks: PipelineRecord::new(candidate).to_stored(),
        percent: req.percent,
        max_fault_rate,
        min_calls,
        base_version: 0,
        started_by: admin.id.clone(),
        started_by_name: admin.name.clone(),
        started_at: Utc::now(),
        current_calls: 0,
        current_faults: 0,
        candidate_calls: 0,
        candidate_faults: 0,
        recent: String::new(),
    };
    let change = PipelineChange {
        hooks: current_record(&state, &admin.tenant_id).await?,
        agent_id: admin.id.clone(),
        agent_name: admin.name.clone(),
        note: Some(format!(
            "rollout started: {}% of chats run a candidate pipeline (given up past {:.0}% faults over {} runs)",
            req.percent,
            max_fault_rate * 100.0,
            min_calls
        )),
    };
    let row = state.store.start_rollout(row, change).await?;
    let entry = crate::store::Audit::new(
        "pipeline.rollout_started",
        None,
        serde_json::json!({"rollout": row.id, "percent": row.percent}),
    );
    super::audit::record(&state, &admin, entry).await;
    Ok((StatusCode::CREATED, axum::Json(rollout_view(row)?)))
}

/// Makes the candidate the pipeline (a new version of the history) and
/// ends the rollout. Its plugins are checked again: one deleted since is a
/// 422 naming it, and nothing changes.
#[utoipa::path(post, path = "/api/v1/pipeline/rollout/promote", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 200, description = "The pipeline now", body = PipelineView),
        (status = 404, description = "No rollout is under way", body = ErrorBody),
        (status = 422, description = "A plugin of the candidate cannot run now", body = ErrorBody)))]
async fn promote_rollout(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
) -> Result<axum::Json<PipelineView>, ApiError> {
    let row = under_way(&state, &admin.tenant_id).await?;
    let record = PipelineRecord::from_stored(&row.hooks)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the rollout's candidate does not read: {e}")))?;
    let settings = checked(&state, &admin.tenant_id, record.hooks).await?;
    let rows = settings
        .iter()
        .filter(|(h, s)| **s != HookSettings::default_for(**h))
        .map(|(h, s)| s.to_row(&admin.tenant_id, *h))
        .collect();
    let change = PipelineChange {
        hooks: PipelineRecord::new(settings.clone()).to_stored(),
        agent_id: admin.id.clone(),
        agent_name: admin.name.clone(),
        note: Some(format!(
            "rollout promoted: the candidate ran {} times with {} faults; the current pipeline {} times with {}",
            row.candidate_calls, row.candidate_faults, row.current_calls, row.current_faults
        )),
    };
    state
        .store
        .end_rollout(&admin.tenant_id, &row.id, Some(rows), change)
        .await
        .or_not_found("rollout")?;
    let entry = crate::store::Audit::new(
        "pipeline.rollout_promoted",
        None,
        serde_json::json!({"rollout": row.id}),
    );
    super::audit::record(&state, &admin, entry).await;
    Ok(axum::Json(view(settings)))
}

/// Abandons the rollout: every chat runs the current pipeline again, and
/// the history records who gave the candidate up.
#[utoipa::path(delete, path = "/api/v1/pipeline/rollout", tag = "plugins", security(("agent_token" = ["admin"])),
    responses((status = 204, description = "Abandoned"),
        (status = 404, description = "No rollout is under way", body = ErrorBody)))]
async fn abandon_rollout(State(state): State<AppState>, AuthAdmin(admin): AuthAdmin) -> Result<StatusCode, ApiError> {
    let row = under_way(&state, &admin.tenant_id).await?;
    let change = PipelineChange {
        hooks: current_record(&state, &admin.tenant_id).await?,
        agent_id: admin.id.clone(),
        agent_name: admin.name.clone(),
        note: Some(format!(
            "rollout abandoned by {}: the candidate ran {} times with {} faults",
            admin.name, row.candidate_calls, row.candidate_faults
        )),
    };
    state
        .store
        .end_rollout(&admin.tenant_id, &row.id, None, change)
        .await
        .or_not_found("rollout")?;
    let entry = crate::store::Audit::new(
        "pipeline.rollout_abandoned",
        None,
        serde_json::json!({"rollout": row.id}),
    );
    super::audit::record(&state, &admin, entry).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's rollout, or the 404 for none.
async fn under_way(state: &AppState, tenant_id: &str) -> Result<RolloutRow, ApiError> {
    state
        .store
        .rollout(tenant_id)
        .await?
        .ok_or(StoreError::NotFound)
        .or_not_found("rollout")
}

/// The pipeline in use as the history stores it: what a rollout's start
/// and abandonment record (they leave it as it is).
async fn current_record(state: &AppState, tenant_id: &str) -> Result<String, ApiError> {
    let current = plugins::pipeline_settings(&state.store, tenant_id).await?;
    Ok(PipelineRecord::new(current).to_stored())
}

/// A candidate's errors name their field under `pipeline.`.
fn prefix_field(e: ApiError, prefix: &str) -> ApiError {
    match e {
        ApiError::Invalid(mut invalid) => {
            invalid.field = format!("{prefix}{}", invalid.field).into();
            ApiError::Invalid(invalid)
        }
        other => other,
    }
}
