//! Startup: connect (and migrate) the database, bind, serve until shutdown.
//! Tests call [`Server::build`] with `127.0.0.1:0` and read the bound address.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::conversion::Pipeline;
use crate::http::rate::{RateLimits, RateSettings};
use crate::http::{AccessSettings, Addresses, AppState, ConnectionHold, router};
use crate::inbound::Receiver;
use crate::mail::{MailSettings, Mailer, Sender};
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
    pub http: HttpSettings,
    pub rates: RateSettings,
    pub access: AccessSettings,
    /// Where replies to requesters are mailed (nowhere by default).
    pub mail: MailSettings,
    /// Every workspace's quotas unless the operator set its own.
    pub quotas: crate::domain::hosting::Quotas,
    /// The retention job's schedule, and how long the audit log is kept.
    pub retention: crate::retention::RetentionSettings,
    /// The scheduler's interval and the webhooks' retries and reach.
    pub automation: crate::automation::AutomationSettings,
}

/// How the server holds up against slow, idle or too many clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// How long a connection may take to send a complete request head,
    /// counted from its opening or from the end of its previous response:
    /// a half-sent head, and a keep-alive connection left idle, are closed
    /// after it.
    pub idle_timeout: Duration,
    /// How long a request may take to send its body.
    pub body_timeout: Duration,
    /// Connections open at once; one over the cap is closed as soon as it
    /// is accepted, so the process always has file descriptors left for
    /// its database and for the clients it serves.
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold open at once,
    /// so one client cannot take every connection slot; 0 for no cap.
    pub max_connections_per_address: usize,
    /// On shutdown, how long requests in flight may take to finish before
    /// the connections left are closed.
    pub shutdown_timeout: Duration,
    /// The origin people reach the console at (`https://help.example.com`),
    /// which links in mail start with; `http://<the bound address>` when
    /// unset.
    pub public_url: Option<String>,
    /// An origin of its own for the widget (`https://chat.example.com`),
    /// so that a script in the widget's page cannot read the console's
    /// storage; unset, the widget shares the console's origin.
    pub widget_origin: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_address: 256,
            shutdown_timeout: Duration::from_secs(20),
            public_url: None,
            widget_origin: None,
        }
    }
}

pub struct Server {
    listener: TcpListener,
    store: Store,
    plugins: PluginHost,
    bus: Bus,
    http: HttpSettings,
    rates: RateSettings,
    access: AccessSettings,
    mailer: Mailer,
    sender: Option<Sender>,
    addresses: Arc<Addresses>,
    mail: MailSettings,
    retention: crate::retention::RetentionSettings,
    automation: crate::automation::AutomationSettings,
    automations: crate::automation::Automations,
    /// This node's name in job leases.
    node: String,
}

impl Server {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(&config.database_url)))?;
        store.set_quota_defaults(config.quotas);
        let listener = TcpListener::bind(&config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let bound = listener.local_addr()?;
        let public_url = match &config.http.public_url {
            Some(url) => origin("--public-url", url)?,
            None => format!("http://{bound}"),
        };
        let widget_origin = config
            .http
            .widget_origin
            .as_deref()
            .map(|o| origin("--widget-origin", o))
            .transpose()?;
        if widget_origin.as_deref() == Some(public_url.as_str()) {
            anyhow::bail!("--widget-origin must differ from --public-url: the point is that they are apart");
        }
        let addresses = Arc::new(Addresses {
            public_url,
            widget_origin,
        });
        let plugins = PluginHost::new(store.clone(), config.plugins.clone());
        let bus = Bus::start(store.clone(), &config.database_url)
            .await
            .context("cannot listen for events on the database")?;
        let (mailer, sender) = Mailer::new(store.clone(), bus.clone(), config.mail.clone())?;
        Ok(Self {
            listener,
            store,
            plugins,
            bus,
            http: config.http.clone(),
            rates: config.rates.clone(),
            access: config.access.clone(),
            mailer,
            sender,
            addresses,
            mail: config.mail.clone(),
            retention: config.retention.clone(),
            automation: config.automation.clone(),
            automations: Default::default(),
            node: format!("node-{}", uuid::Uuid::now_v7()),
        })
    }

    /// The handle on the automation tasks (their bells, the scheduler's
    /// clock).
    pub fn automations(&self) -> &crate::automation::Automations {
        &self.automations
    }

    /// The scheduler of this node, to run once by hand (tests).
    pub fn scheduler(&self) -> crate::automation::scheduler::Scheduler {
        crate::automation::scheduler::Scheduler {
            store: self.store.clone(),
            bus: self.bus.clone(),
            handle: self.automations.clone(),
            interval: self.automation.interval,
            owner: self.node.clone(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The origin links in mail start with.
    pub fn public_url(&self) -> &str {
        &self.addresses.public_url
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn plugins(&self) -> &PluginHost {
        &self.plugins
    }

    /// Serves until `shutdown` resolves, then lets requests in flight
    /// finish for at most the shutdown timeout.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let plugins = self.plugins.clone();
        tokio::spawn(async move { plugins.warm_up().await });
        self.plugins.spawn_housekeeping();
        let checkpoints = self.store.spawn_wal_checkpoints();
        let metering = self.store.spawn_usage_flush();
        let store = self.store.clone();
        let scheduling = tokio::spawn(self.scheduler().run());
        let sending = self.sender.map(|s| tokio::spawn(s.run()));
        let pipeline =
            Pipeline::new(self.store.clone(), Arc::new(self.plugins.clone())).acknowledging(self.mailer.configured());
        let inbound = Receiver::new(
            self.store.clone(),
            pipeline.clone(),
            self.bus.clone(),
            self.mailer.clone(),
            self.mail.inbound.clone(),
            &self.mail.from_address,
        );
        let polling =
            tokio::spawn(crate::imap::Poller::new(self.store.clone(), inbound.clone(), self.mail.imap.clone()).run());
        let retaining = tokio::spawn(crate::retention::run(self.store.clone(), self.retention.clone()));
        let dispatching = tokio::spawn(
            crate::automation::dispatch::Dispatcher {
                store: self.store.clone(),
                bus: self.bus.clone(),
                engine: Arc::new(self.plugins.clone()),
                handle: self.automations.clone(),
                poll: self.automation.poll_interval,
                lease: self.automation.lease,
            }
            .run(),
        );
        let delivering = tokio::spawn(
            crate::automation::webhooks::Sender::new(
                self.store.clone(),
                self.automations.clone(),
                self.automation.clone(),
            )
            .run(),
        );
        let state = AppState {
            inbound,
            pipeline,
            plugins: self.plugins,
            bus: self.bus,
            store: self.store,
            rates: RateLimits::for_store(self.rates, &store),
            metrics: Default::default(),
            access: self.access,
            mailer: self.mailer,
            automations: self.automations,
            webhooks_allow_private: self.automation.webhooks_allow_private,
            addresses: self.addresses,
            password_checks: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
        };
        let app = router(state)
            .layer(RequestBodyTimeoutLayer::new(self.http.body_timeout))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(
                TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    // Filled in as the request goes: its id (edge), its
                    // workspace (authentication).
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = tracing::field::Empty,
                        workspace = tracing::field::Empty,
                    )
                }),
            );
        serve(self.listener, app, &self.http, shutdown).await;
        metering.abort();
        // What this node counted since the last flush.
        if let Err(e) = store.flush_usage().await {
            tracing::warn!(error = %e, "cannot write the last usage counts");
        }
        if let Some(task) = checkpoints {
            task.abort();
        }
        if let Some(task) = sending {
            task.abort();
        }
        polling.abort();
        retaining.abort();
        scheduling.abort();
        dispatching.abort();
        delivering.abort();
        Ok(())
    }
}

/// Accepts connections until `shutdown`, each served by hyper (HTTP/1.1
/// with upgrades for websockets, or HTTP/2) under `http`'s limits; then
/// stops accepting, asks every connection to finish its request in flight
/// and close, and waits for them at most the shutdown timeout.
async fn serve(listener: TcpListener, app: axum::Router, http: &HttpSettings, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(http.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(http.idle_timeout));
    let builder = Arc::new(builder);
    let per_address = Arc::new(PerAddress::default());
    let mut warned_at_cap: Option<std::time::Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some
                    // to close rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = per_address.hold(peer.ip(), http.max_connections_per_address) else {
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Said at most every 10 s: a flood must not flood the log too.
            if warned_at_cap.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max = http.max_connections,
                    "at the connection cap: closing new connections"
                );
                warned_at_cap = Some(std::time::Instant::now());
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Released when the connection ends, or the websocket it became.
        let hold = ConnectionHold {
            place: Arc::new((slot, held)),
            stopping: stopping.clone(),
        };
        // Handlers that count per client (rate limits) read its address;
        // websockets keep the connection's place.
        let request_hold = hold.clone();
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req.extensions_mut().insert(request_hold.clone());
                req
            },
        ));
        let (builder, mut stopping) = (builder.clone(), stopping.clone());
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(hold);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(http.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(http.shutdown_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        let open = http.max_connections - slots.available_permits();
        tracing::warn!(open, "shutdown timeout: closing the connections still open");
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open connection of an address; dropping it counts the connection
/// closed.
struct Held {
    by: Arc<PerAddress>,
    address: std::net::IpAddr,
}

impl PerAddress {
    /// Counts a new connection from `ip`, unless the address already holds
    /// `cap` (0: no cap).
    fn hold(self: &Arc<Self>, ip: std::net::IpAddr, cap: usize) -> Option<Held> {
        let address = crate::http::rate::network_of(ip);
        let mut open = self.open.lock().unwrap();
        let n = open.entry(address).or_default();
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(Held {
            by: self.clone(),
            address,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.by.open.lock().unwrap();
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
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

/// `value` as an origin (`https://host[:port]`, nothing after), which
/// `flag` must be: links are made by appending paths to it.
fn origin(flag: &str, value: &str) -> anyhow::Result<String> {
    let uri: axum::http::Uri = value
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{flag} {value:?} is not a URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    let Some(authority) = uri.authority().filter(|_| scheme == "http" || scheme == "https") else {
        anyhow::bail!("{flag} {value:?} must start with http:// or https:// and name a host");
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() || authority.as_str().contains('@') {
        anyhow::bail!("{flag} {value:?} must be an origin only, such as https://help.example.com");
    }
    Ok(format!("{scheme}://{}", authority.as_str().to_ascii_lowercase()))
}

#[cfg(test)]
mod origin_tests {
    use super::origin;

    #[test]
    fn an_origin_is_a_scheme_and_a_host_and_nothing_else() {
        assert_eq!(
            origin("--public-url", "https://Help.Example.com/").unwrap(),
            "https://help.example.com"
        );
        assert_eq!(
            origin("--public-url", "http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "help.example.com",
            "ftp://x",
            "https://x/console",
            "https://x?a=1",
            "https://u@x",
        ] {
            assert!(origin("--public-url", bad).is_err(), "{bad}");
        }
    }
}
