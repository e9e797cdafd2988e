//! Startup: connect (and migrate) the database, bind, serve until shutdown.
//! Tests call [`Server::build`] with `127.0.0.1:0` and read the bound address.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::conversion::{HookSource, Pipeline};
use crate::http::{AppState, router};
use crate::plugins::{HostSettings, PluginHost};
use crate::realtime::Bus;
use crate::store::Store;

/// The embedded default: a SQLite file under `./data`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/threadline.db?mode=rwc";

#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port`; port 0 picks a free one.
    pub bind: String,
    pub database_url: String,
    /// The plugin cache, slots, compile bounds and memory cache.
    pub plugins: HostSettings,
}

pub struct Server {
    listener: TcpListener,
    store: Store,
    plugins: PluginHost,
    bus: Bus,
}

impl Server {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(&config.database_url)))?;
        let listener = TcpListener::bind(&config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let plugins = PluginHost::new(store.clone(), config.plugins.clone());
        let bus = Bus::start(store.clone(), &config.database_url)
            .await
            .context("cannot listen for events on the database")?;
        Ok(Self {
            listener,
            store,
            plugins,
            bus,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn plugins(&self) -> &PluginHost {
        &self.plugins
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let plugins = self.plugins.clone();
        tokio::spawn(async move { plugins.warm_up().await });
        self.plugins.spawn_housekeeping();
        let checkpoints = self.store.spawn_wal_checkpoints();
        let state = AppState {
            pipeline: Pipeline::new(self.store.clone(), HookSource::Plugins(self.plugins.clone())),
            plugins: self.plugins,
            bus: self.bus,
            store: self.store,
        };
        let app = router(state)
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(TraceLayer::new_for_http());
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        if let Some(task) = checkpoints {
            task.abort();
        }
        served
    }
}

/// A handler that panics is a bug; the client still gets a proper 500 (and
/// a request id to quote) rather than a dropped connection.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    axum::response::IntoResponse::into_response(crate::http::ApiError::Internal(anyhow::anyhow!(
        "handler panicked: {what}"
    )))
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/tl"),
            "postgres://app:***@db:5432/tl"
        );
        assert_eq!(redact("postgres://app@db/tl"), "postgres://app@db/tl");
        assert_eq!(redact("sqlite://./data/t.db"), "sqlite://./data/t.db");
    }
}
