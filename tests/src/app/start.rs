//! Starting a test server: the tests' settings (plugins compiled by
//! `threadline-cli`, the built-ins cached under `target/`), the builder that
//! changes them one at a time, and the server's start on port 0.

use std::time::Duration;

use threadline::domain::hosting::Quotas;
use threadline::http::rate::RateSettings;
use threadline::mail::MailSettings;
use threadline::plugins::{HostSettings, WorkerCommand};
use threadline::server::{Config, HttpSettings, Server};
use tokio::sync::oneshot;

use super::TestApp;
use crate::TestDb;
use crate::process::threadline_cli;

/// The server's default plugin settings, with this package's
/// `threadline-cli` as the compile worker (the test binary itself cannot be
/// one) and no disk cache.
pub fn plugin_settings() -> HostSettings {
    let mut settings = HostSettings::defaults(None);
    settings.compile.worker = Some(WorkerCommand {
        program: threadline_cli(),
        args: vec!["plugin".into(), "compile-worker".into()],
    });
    // The tests' model endpoints listen on loopback, over plain HTTP.
    settings.outbound_allow_private = true;
    settings.outbound_http_hosts = vec!["127.0.0.1".into()];
    settings
}

/// Where the test processes keep the built-in plugins' compiled code
/// between runs (under `target/`): the JavaScript plugin costs seconds of
/// CPU to make, and tests start many servers.
fn builtin_cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache")
}

/// Every built-in plugin loaded into this process, before its first
/// server starts: made at most once per test run (read from
/// `target/test-plugin-cache` after that), and never beside a test that
/// measures time.
pub async fn builtins_ready() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            threadline::plugins::cache_builtins(&builtin_cache_dir())
                .await
                .expect("the built-in plugins load");
        })
        .await;
}

/// A new plugin cache for a server process, holding the built-in plugins
/// already, so the server makes none of them (use a bare temporary folder
/// to test a cold start).
pub async fn warm_plugin_cache() -> tempfile::TempDir {
    builtins_ready().await;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(builtin_cache_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".cwasm") {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// The tests' automation settings: webhooks may post to loopback (the
/// tests' receivers), retries start after 100 ms, the scheduler waits an
/// hour between its own runs (tests run it by hand, on a clock they move).
pub fn test_automation() -> threadline::automation::AutomationSettings {
    threadline::automation::AutomationSettings {
        interval: Duration::from_secs(3600),
        webhook_retry_base: Duration::from_millis(100),
        webhooks_allow_private: true,
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

/// A test server's settings: the defaults of [`TestApp::spawn`], changed
/// one at a time.
pub struct TestAppBuilder {
    db: std::sync::Arc<TestDb>,
    plugins: HostSettings,
    rates: RateSettings,
    mail: MailSettings,
    http: HttpSettings,
    quotas: Quotas,
    retention: threadline::retention::RetentionSettings,
    automation: threadline::automation::AutomationSettings,
}

impl TestAppBuilder {
    /// Automation settings of the test's choosing (webhook retries).
    pub fn automation(mut self, automation: threadline::automation::AutomationSettings) -> Self {
        self.automation = automation;
        self
    }

    /// Default quotas of the test's choosing (`serve --quota-*`).
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Serves the widget from `origin` of its own (`--widget-origin`).
    pub fn widget_origin(mut self, origin: &str) -> Self {
        self.http.widget_origin = Some(origin.to_owned());
        self
    }

    /// Plugin settings of the test's choosing.
    pub fn plugins(mut self, plugins: HostSettings) -> Self {
        self.plugins = plugins;
        self
    }

    /// Rate limits of the test's choosing (the rate-limit tests ask for
    /// the real ones).
    pub fn rates(mut self, rates: RateSettings) -> Self {
        self.rates = rates;
        self
    }

    /// Mails replies through the SMTP server at `smtp_url`, retrying
    /// quickly (from 100 ms, at most 1 s apart). A node stopped between
    /// claiming a mail and recording its attempt leaves it to be retried
    /// when its lease runs out: 5 s here (a loopback send takes
    /// milliseconds), not the 2 minutes that would outlast a test's
    /// patience.
    pub fn mailing(mut self, smtp_url: &str) -> Self {
        self.mail = MailSettings {
            smtp_url: Some(smtp_url.to_owned()),
            from_address: "support@acme.test".into(),
            first_retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(1),
            poll_interval: Duration::from_millis(100),
            lease: Duration::from_secs(5),
            ..MailSettings::default()
        };
        self
    }

    /// Limits on received mail of the test's choosing.
    pub fn inbound(mut self, inbound: threadline::inbound::InboundSettings) -> Self {
        self.mail.inbound = inbound;
        self
    }

    /// Polls IMAP mailboxes as the test says (quickly, for tests).
    pub fn imap(mut self, imap: threadline::imap::ImapSettings) -> Self {
        self.mail.imap = imap;
        self
    }

    /// Runs the retention job as the test says (every second or so).
    pub fn retention(mut self, retention: threadline::retention::RetentionSettings) -> Self {
        self.retention = retention;
        self
    }

    pub async fn spawn(self) -> TestApp {
        TestApp::start(self).await
    }
}

impl TestApp {
    /// A server over `db` with the tests' defaults: plugins compiled by
    /// `threadline-cli`, rate limits out of the way (tests make hundreds of
    /// chats from one address in a moment), no mail.
    pub fn builder(db: std::sync::Arc<TestDb>) -> TestAppBuilder {
        TestAppBuilder {
            db,
            plugins: plugin_settings(),
            rates: RateSettings {
                chats_burst: 1_000_000,
                messages_burst: 1_000_000,
                sign_ins_burst: 1_000_000,
                ..RateSettings::default()
            },
            mail: MailSettings::default(),
            http: HttpSettings::default(),
            quotas: Quotas::default(),
            retention: threadline::retention::RetentionSettings::default(),
            automation: test_automation(),
        }
    }

    async fn start(
        TestAppBuilder {
            db,
            plugins,
            rates,
            mail,
            http,
            quotas,
            retention,
            automation,
        }: TestAppBuilder,
    ) -> Self {
        builtins_ready().await;
        let config = Config {
            bind: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            plugins,
            http,
            rates,
            access: Default::default(),
            mail,
            quotas,
            retention,
            automation,
        };
        let server = Server::build(&config)
            .await
            .unwrap_or_else(|e| panic!("the server does not start: {e:#}"));
        let addr = server.local_addr();
        let store = server.store().clone();
        let plugins = server.plugins().clone();
        let automations = server.automations().clone();
        let scheduler = std::sync::Arc::new(server.scheduler());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            store,
            plugins,
            automations,
            scheduler,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            db,
        }
    }
}
