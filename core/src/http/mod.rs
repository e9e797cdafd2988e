//! The HTTP API: one router per resource, merged over one state. Only this
//! module knows HTTP and JSON shapes; handlers parse, call the store or the
//! conversion pipeline, and map errors.

mod account;
mod audit;
mod auth;
mod automations;
mod canned;
mod chats;
mod contacts;
mod edge;
mod error;
mod events;
mod extract;
mod inbound;
pub mod metrics;
mod moderation;
mod operator;
mod pagination;
mod pipeline;
mod plugin_logs;
mod plugins;
pub mod rate;
mod reports;
mod rollout;
mod settings;
mod shadow;
mod team;
mod tickets;
mod views;
mod web;
mod webhooks;
mod widget;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use edge::ConnectionHold;
pub use error::ApiError;

use crate::conversion::Pipeline;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub pipeline: Pipeline,
    pub plugins: crate::plugins::PluginHost,
    pub bus: crate::realtime::Bus,
    pub rates: std::sync::Arc<rate::RateLimits>,
    pub metrics: std::sync::Arc<metrics::HttpMetrics>,
    pub access: AccessSettings,
    /// Sends public ticket comments to requesters (if configured).
    pub mailer: crate::mail::Mailer,
    /// Rings the event dispatcher and the webhook sender.
    pub automations: crate::automation::Automations,
    /// `--webhooks-allow-private`: webhooks may post to private addresses.
    pub webhooks_allow_private: bool,
    /// Turns received mail into tickets and comments.
    pub inbound: crate::inbound::Receiver,
    /// Where the server is reached, for links it mails and for telling
    /// the widget's origin from the console's.
    pub addresses: std::sync::Arc<Addresses>,
    /// Password hashes checked at once: each takes tens of milliseconds of
    /// CPU and 19 MiB, so a sign-in flood queues here instead of taking
    /// every core and the memory with it.
    pub password_checks: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Where the server is reached from outside.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    /// The console's origin as people reach it (`https://help.example.com`,
    /// no trailing slash): every link the server mails starts with it.
    pub public_url: String,
    /// Another origin the widget is served from, if any (see
    /// `web::Origins`): the console is never served there.
    pub widget_origin: Option<String>,
}

/// How long credentials last.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// A visitor's token stops working this long after their chat closed
    /// (until it is reopened).
    pub visitor_token_ttl: std::time::Duration,
    /// A session from a sign-in ends when it goes unused this long; every
    /// use moves its end forward.
    pub session_ttl: std::time::Duration,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            visitor_token_ttl: std::time::Duration::from_secs(30 * 86_400),
            session_ttl: std::time::Duration::from_secs(7 * 86_400),
        }
    }
}

impl AccessSettings {
    /// Chats closed before this have visitors whose tokens no longer work.
    pub fn visitor_chats_closed_before(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() - chrono::Duration::from_std(self.visitor_token_ttl).unwrap_or(chrono::Duration::MAX)
    }

    /// The session lifetime, as chrono counts it.
    pub fn session_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.session_ttl).unwrap_or(chrono::Duration::days(365))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Threadline API", description = "Help desk: live chat and tickets, with convert chat to ticket."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Signing in, sessions, and API tokens"),
        (name = "chats", description = "Agents' view of chats"),
        (name = "conversion", description = "Convert chat to ticket"),
        (name = "tickets"),
        (name = "contacts", description = "The people a workspace serves: looked up, exported, erased"),
        (name = "team", description = "The workspace's agents, their roles and availability, and invitations"),
        (name = "widget", description = "Visitors' chat widget"),
        (name = "settings", description = "Workspace settings (admins)"),
        (name = "mail", description = "Receiving e-mail: a relay posts a workspace's mail; what admins see of it"),
        (name = "plugins", description = "Conversion plugins and the pipeline (admins)"),
        (name = "automations", description = "Rules on events and on a schedule, and webhooks (admins)"),
        (name = "operator", description = "The hosting operator's API: workspaces, their status, quotas and usage (operator tokens only)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for name in ["agent_token", "visitor_token", "operator_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The whole API, with its OpenAPI document served at `/api/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(account::router())
        .merge(team::router())
        .merge(canned::router())
        .merge(moderation::router())
        .merge(chats::router())
        .merge(widget::router())
        .merge(tickets::router())
        .merge(contacts::router())
        .merge(audit::router())
        .merge(reports::router())
        .merge(settings::router())
        .merge(plugins::router())
        .merge(pipeline::router())
        .merge(rollout::router())
        .merge(plugin_logs::router())
        .merge(shadow::router())
        .merge(operator::router())
        .merge(inbound::router())
        .merge(automations::router())
        .merge(webhooks::router())
        .split_for_parts();
    let mut doc = doc;
    error::document_shared_errors(&mut doc);
    let doc = std::sync::Arc::new(doc);
    api.route(
        "/api/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .route("/healthz", get(healthz))
    .route("/readyz", get(readyz))
    .route("/metrics", get(metrics::render))
    .merge(events::router())
    .merge(web::router())
    .fallback(|| async { ApiError::NotFound("route") })
    .layer(axum::middleware::map_response(edge::security_headers))
    .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
    .layer(axum::middleware::from_fn_with_state(state.clone(), wake_automations))
    .layer(axum::middleware::from_fn(edge::guard))
    .with_state(state)
}

/// After a request that queued an event, the event dispatcher looks at its
/// queue at once rather than at its next poll: the request's writes are
/// committed by now. A request that queued none rings nothing.
async fn wake_automations(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (response, queued) = crate::store::noting_events(next.run(req)).await;
    if queued {
        state.automations.wake();
    }
    response
}

/// Alive: the process answers (and its database, as it always said).
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ok")
}

/// Ready for traffic: the database answers and has every migration this
/// server knows of (a node started beside an older schema is not ready).
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.store.pending_migrations().await {
        Ok(0) => "ready".into_response(),
        Ok(n) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {n} migrations not applied"),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unreachable",
            )
                .into_response()
        }
    }
}
