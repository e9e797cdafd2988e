//! Trying a pipeline on real chats without converting them (admins only):
//! what a hook gets for a chat (the local runner's chat file), and a shadow
//! run of the pipeline in use beside a candidate.

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, AuthAdmin};
use super::pipeline::{HookUpdate, MAX_PIPELINE_BODY, checked_update};
use crate::domain::ChatStatus;
use crate::domain::InvalidInput;
use crate::domain::hooks::HookKind;
use crate::plugins::{self, Trial};
use crate::store::ChatListing;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hook_input))
        .routes(routes!(shadow_run))
        .layer(DefaultBodyLimit::max(MAX_PIPELINE_BODY))
}

#[derive(Deserialize, IntoParams)]
pub struct HookInputQuery {
    /// subject, transcript, assignment or summary.
    #[param(value_type = String)]
    hook: Option<String>,
}

/// What a hook gets (or would get) for this chat, converted by the caller,
/// in the chat-file format `threadline plugin run --chat` reads: a plugin
/// author replays production. Internal notes are left out, as they are for
/// every plugin (admins).
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/hook-input", tag = "plugins", security(("agent_token" = ["admin"])),
    params(("chat_id" = String, Path), HookInputQuery),
    responses((status = 200, description = "The chat file", body = Object),
        (status = 404, description = "No such chat in this workspace", body = ErrorBody),
        (status = 422, description = "No such hook", body = ErrorBody)))]
async fn hook_input(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    Path(chat_id): Path<String>,
    Query(q): Query<HookInputQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let hook = q
        .hook
        .as_deref()
        .and_then(HookKind::parse)
        .ok_or_else(|| InvalidInput::new("hook", "hook must be subject, transcript, assignment or summary"))?;
    let (chat, agent, candidates) = state.pipeline.hook_input(&admin.tenant_id, &admin, &chat_id).await?;
    let file = crate::plugins::local::ChatFile::exported(hook, &chat, &agent, &candidates);
    serde_json::to_value(file)
        .map(axum::Json)
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Chats a shadow run may cover at once.
const MAX_SHADOW_CHATS: usize = 200;
/// How long a shadow run may take in all: 200 chats of five hooks run
/// twice, each up to its limit, could otherwise hold the workspace's
/// plugin slots for most of an hour. Past it the run answers with the
/// chats it finished and says it stopped.
pub const SHADOW_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);
/// And at most this much of answers (their text): a thousand transcripts
/// of a megabyte each would otherwise be one response.
pub const MAX_SHADOW_OUTPUT_BYTES: usize = 8 << 20;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// The candidate pipeline, as `PUT /api/v1/pipeline` takes it.
    hooks: BTreeMap<String, HookUpdate>,
    /// The workspace's last N closed (or converted) chats, newest first.
    last: Option<u32>,
    /// Or these chats of the workspace.
    chat_ids: Option<Vec<String>>,
    /// Only this hook (a rule being tried); every hook when absent.
    hook: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowView {
    chats: Vec<ShadowChat>,
    /// Chats where at least one hook answered differently.
    changed: usize,
    /// Why the run stopped before its last chat (its overall deadline, or
    /// the size of its answers); absent when it ran them all.
    stopped: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowChat {
    chat_id: String,
    hooks: Vec<ShadowHook>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowHook {
    hook: String,
    /// Under the pipeline in use.
    current: TrialView,
    /// Under the candidate pipeline.
    candidate: TrialView,
    /// The output or the fault differs.
    changed: bool,
}

/// Runs the pipeline in use and a candidate side by side on recent chats,
/// without a policy between a plugin and its answer: each hook's output or
/// fault, fuel and time. Writes nothing (no ticket, no number, no fault).
#[utoipa::path(post, path = "/api/v1/pipeline/shadow", tag = "plugins", security(("agent_token" = ["admin"])),
    request_body = ShadowRequest,
    responses((status = 200, description = "OK", body = ShadowView),
        (status = 404, description = "A chat named is not in this workspace", body = ErrorBody),
        (status = 422, description = "Invalid input; the error names the field", body = ErrorBody)))]
async fn shadow_run(
    State(state): State<AppState>,
    AuthAdmin(admin): AuthAdmin,
    ApiJson(req): ApiJson<ShadowRequest>,
) -> Result<axum::Json<ShadowView>, ApiError> {
    let only = match req.hook.as_deref() {
        None => None,
        Some(h) => Some(HookKind::parse(h).ok_or_else(|| {
            InvalidInput::new(
                "hook",
                "hook must be subject, transcript, assignment, summary or fields",
            )
        })?),
    };
    let candidate = checked_update(&state, &admin.tenant_id, req.hooks).await?;
    let chat_ids: Vec<String> = match (req.last, req.chat_ids) {
        (Some(n), None) if (1..=MAX_SHADOW_CHATS as u32).contains(&n) => state
            .store
            .list_chats(
                &admin.tenant_id,
                &ChatListing {
                    status: Some(ChatStatus::Closed),
                    limit: u64::from(n),
                    ..ChatListing::default()
                },
            )
            .await?
            .into_iter()
            .map(|c| c.chat.id)
            .collect(),
        (Some(_), None) => {
            return Err(InvalidInput::new("last", format!("last must be 1 to {MAX_SHADOW_CHATS}")).into());
        }
        (None, Some(ids)) if (1..=MAX_SHADOW_CHATS).contains(&ids.len()) => ids,
        (None, Some(_)) => {
            return Err(InvalidInput::new("chat_ids", format!("give 1 to {MAX_SHADOW_CHATS} chat ids")).into());
        }
        _ => return Err(InvalidInput::new("last", "give either last or chat_ids").into()),
    };
    let current = plugins::pipeline_settings(&state.store, &admin.tenant_id).await?;
    let deadline = tokio::time::Instant::now() + SHADOW_DEADLINE;
    let asked = chat_ids.len();
    let mut chats = Vec::with_capacity(asked);
    let mut output_bytes = 0;
    let mut stopped = None;
    'chats: for chat_id in chat_ids {
        if output_bytes > MAX_SHADOW_OUTPUT_BYTES {
            stopped = Some(format!(
                "stopped after {} of {asked} chats: their answers passed {} MiB",
                chats.len(),
                MAX_SHADOW_OUTPUT_BYTES >> 20
            ));
            break;
        }
        let (chat, agent, candidates) = state.pipeline.hook_input(&admin.tenant_id, &admin, &chat_id).await?;
        let input = plugins::local::Input {
            chat,
            agent,
            candidates,
        };
        let mut hooks = Vec::with_capacity(HookKind::ALL.len());
        for hook in HookKind::ALL.into_iter().filter(|h| only.is_none_or(|o| o == *h)) {
            // A call cut short here still ends under its own limit, in its
            // slot; the answer does not wait for it.
            let both = async {
                let now = state
                    .plugins
                    .trial(&admin.tenant_id, hook, &current[&hook], &input)
                    .await;
                let next = state
                    .plugins
                    .trial(&admin.tenant_id, hook, &candidate[&hook], &input)
                    .await;
                (now, next)
            };
            let Ok((now, next)) = tokio::time::timeout_at(deadline, both).await else {
                stopped = Some(format!(
                    "stopped after {} of {asked} chats: a shadow run takes at most {} s",
                    chats.len(),
                    SHADOW_DEADLINE.as_secs()
                ));
                break 'chats;
            };
            output_bytes += now.output_bytes() + next.output_bytes();
            hooks.push(ShadowHook {
                hook: hook.as_str().to_owned(),
                changed: now.differs_from(&next),
                current: now.into(),
                candidate: next.into(),
            });
        }
        chats.push(ShadowChat { chat_id, hooks });
    }
    let changed = chats.iter().filter(|c| c.hooks.iter().any(|h| h.changed)).count();
    Ok(axum::Json(ShadowView {
        chats,
        changed,
        stopped,
    }))
}

/// One hook's run on one chat.
#[derive(Serialize, ToSchema)]
pub struct TrialView {
    /// The plugin as the pipeline names it: a built-in's name or an
    /// upload's id.
    plugin: String,
    /// Its name, when it loaded.
    plugin_name: Option<String>,
    /// The hook's answer: a string (subject, transcript, assignee id), a
    /// string or null (summary), or `{priority, tags, custom}` (fields).
    #[schema(value_type = Object)]
    output: Option<serde_json::Value>,
    fault: Option<TrialFaultView>,
    /// Fuel used, when the call ran to its end.
    fuel: Option<u64>,
    peak_memory_bytes: Option<usize>,
    elapsed_ms: f64,
}

#[derive(Serialize, ToSchema)]
pub struct TrialFaultView {
    /// load, queue, deadline, fuel, memory, trap, output or error.
    kind: String,
    reason: String,
}

impl From<Trial> for TrialView {
    fn from(t: Trial) -> Self {
        Self {
            plugin: t.plugin,
            plugin_name: t.plugin_name,
            // An answer is plain strings and lists: it always serializes.
            output: t.output.map(|o| serde_json::to_value(o).unwrap_or_default()),
            fault: t.fault.map(|f| TrialFaultView {
                kind: f.kind.as_str().to_owned(),
                reason: f.reason,
            }),
            fuel: t.fuel,
            peak_memory_bytes: t.peak_memory_bytes,
            elapsed_ms: t.elapsed.as_secs_f64() * 1000.0,
        }
    }
}
