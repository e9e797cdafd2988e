//! `threadline serve`: the server's settings as flags (each also an
//! environment variable), and running it until it is asked to stop.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::DbArgs;
use crate::domain::hosting::Quotas;
use crate::http::AccessSettings;
use crate::http::rate::RateSettings;
use crate::mail::MailSettings;
use crate::plugins::HostSettings;
use crate::server::{Config, HttpSettings, Server};

/// Everything `threadline serve` takes.
#[derive(clap::Args)]
pub(super) struct ServeArgs {
    #[arg(long, env = "THREADLINE_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    rates: RateArgs,
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    mail: MailArgs,
    #[command(flatten)]
    quotas: QuotaArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    #[command(flatten)]
    automation: AutomationArgs,
    /// Also create a demo workspace with a chat to try, and print how.
    #[arg(long)]
    demo: bool,
}

pub(super) async fn run(args: ServeArgs) -> Result<()> {
    let config = Config {
        bind: args.bind,
        database_url: args.db.database_url,
        plugins: args.plugins.settings(),
        http: args.http.settings(args.rates.forwarded_for_hops > 0),
        access: args.access.settings(),
        rates: args.rates.settings(),
        mail: args.mail.settings(),
        quotas: args.quotas.defaults(),
        retention: args.retention.settings(),
        automation: args.automation.settings(),
    };
    serve(config, args.demo).await
}

/// Every workspace's quotas unless the operator sets its own (see
/// `PATCH /api/operator/v1/workspaces/{id}`). Unset, a quota is unlimited:
/// a server run for one team needs none, and a host sets its plans.
#[derive(clap::Args)]
pub(super) struct QuotaArgs {
    /// Active agents (pending invitations count too).
    #[arg(long, env = "THREADLINE_QUOTA_AGENTS")]
    quota_agents: Option<u64>,
    /// Uploaded plugins.
    #[arg(long, env = "THREADLINE_QUOTA_PLUGINS")]
    quota_plugins: Option<u64>,
    /// Bytes of uploaded plugins, together.
    #[arg(long, env = "THREADLINE_QUOTA_PLUGIN_BYTES")]
    quota_plugin_bytes: Option<u64>,
    /// Mail sent a day (UTC); more waits in the outbox for the next day.
    #[arg(long, env = "THREADLINE_QUOTA_MAILS_PER_DAY")]
    quota_mails_per_day: Option<u64>,
    /// Chats started a day (UTC).
    #[arg(long, env = "THREADLINE_QUOTA_CHATS_PER_DAY")]
    quota_chats_per_day: Option<u64>,
    /// Bytes of text and code stored, as the meter counts them.
    #[arg(long, env = "THREADLINE_QUOTA_STORED_BYTES")]
    quota_stored_bytes: Option<u64>,
}

impl QuotaArgs {
    fn defaults(self) -> Quotas {
        Quotas {
            agents: self.quota_agents,
            plugins: self.quota_plugins,
            plugin_bytes: self.quota_plugin_bytes,
            mails_per_day: self.quota_mails_per_day,
            chats_per_day: self.quota_chats_per_day,
            stored_bytes: self.quota_stored_bytes,
        }
    }
}

/// How plugins share the server between workspaces. Defaults derive from
/// the number of cores.
#[derive(clap::Args)]
pub(super) struct PluginArgs {
    /// Where compiled plugins are kept, so a restart does not compile
    /// them again. Only this server should be able to write here.
    #[arg(long, env = "THREADLINE_PLUGIN_CACHE", default_value = "./data/plugin-cache")]
    plugin_cache: PathBuf,
    /// Plugin calls running at once on this server [default: 4 per core,
    /// at most 48; summaries run in a quarter as many slots of their own].
    #[arg(long, env = "THREADLINE_PLUGIN_CALLS", value_parser = clap::value_parser!(u32).range(1..=48))]
    plugin_calls: Option<u32>,
    /// Plugin calls one workspace may run at once [default: half the cores, at least 1].
    #[arg(long, env = "THREADLINE_PLUGIN_CALLS_PER_WORKSPACE", value_parser = clap::value_parser!(u32).range(1..=64))]
    plugin_calls_per_workspace: Option<u32>,
    /// How long a plugin call may wait for a slot before it is a fault
    /// (then its hook's failure policy applies).
    #[arg(long, env = "THREADLINE_PLUGIN_QUEUE_TIMEOUT_MS", default_value_t = 1000)]
    plugin_queue_timeout_ms: u64,
    /// Uploads compiled at once [default: half the cores, at least 1].
    #[arg(long, env = "THREADLINE_PLUGIN_COMPILE_JOBS", value_parser = clap::value_parser!(u32).range(1..=64))]
    plugin_compile_jobs: Option<u32>,
    /// Memory one compile may use, in MiB; a component that needs more is refused.
    #[arg(long, env = "THREADLINE_PLUGIN_COMPILE_MEMORY_MB", default_value_t = 1024)]
    plugin_compile_memory_mb: u64,
    /// Time one compile may take, in seconds; a component that needs more is refused.
    #[arg(long, env = "THREADLINE_PLUGIN_COMPILE_TIMEOUT_SECS", default_value_t = 15)]
    plugin_compile_timeout_secs: u64,
    /// Compiled code of uploaded plugins kept in memory, in MiB (least
    /// recently used out first).
    #[arg(long, env = "THREADLINE_PLUGIN_MEMORY_CACHE_MB", default_value_t = 256)]
    plugin_memory_cache_mb: usize,
    /// Let plugins call hosts on loopback, private and link-local addresses
    /// (refused otherwise, whatever a workspace allows): a model served on
    /// this machine or network, tests.
    #[arg(long, env = "THREADLINE_PLUGINS_ALLOW_PRIVATE")]
    plugins_allow_private: bool,
    /// A host (`host` or `host:port`) plugins may reach over plain HTTP
    /// rather than HTTPS; repeat for more.
    #[arg(
        long = "plugins-http-host",
        env = "THREADLINE_PLUGINS_HTTP_HOSTS",
        value_delimiter = ','
    )]
    plugins_http_hosts: Vec<String>,
}

impl PluginArgs {
    fn settings(self) -> HostSettings {
        let mut s = HostSettings::defaults(Some(self.plugin_cache));
        if let Some(n) = self.plugin_calls {
            s.slots.total = n as usize;
        }
        if let Some(n) = self.plugin_calls_per_workspace {
            s.slots.per_workspace = n as usize;
        }
        s.slots.queue_timeout = Duration::from_millis(self.plugin_queue_timeout_ms);
        if let Some(n) = self.plugin_compile_jobs {
            s.compile.jobs = n as usize;
        }
        s.compile.memory_bytes = self.plugin_compile_memory_mb << 20;
        s.compile.timeout = Duration::from_secs(self.plugin_compile_timeout_secs);
        s.memory_cache_bytes = self.plugin_memory_cache_mb << 20;
        s.outbound_allow_private = self.plugins_allow_private;
        s.outbound_http_hosts = self.plugins_http_hosts;
        s
    }
}

/// How the server holds up against slow, idle or too many clients.
#[derive(clap::Args)]
pub(super) struct HttpArgs {
    /// Seconds a connection may take to send a complete request head,
    /// counted from its opening or from its previous response (so also how
    /// long an idle keep-alive connection stays open).
    #[arg(long, env = "THREADLINE_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    http_idle_timeout_secs: u64,
    /// Seconds a request may take to send its body.
    #[arg(long, env = "THREADLINE_HTTP_BODY_TIMEOUT_SECS", default_value_t = 30)]
    http_body_timeout_secs: u64,
    /// Connections open at once; more are closed as soon as they are
    /// accepted [default: 4096, or three quarters of the open-file limit if
    /// that is lower].
    #[arg(long, env = "THREADLINE_HTTP_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    http_max_connections: Option<u32>,
    /// Connections one client address (an IPv6 /64) may hold open at once;
    /// 0 for no cap [default: 256, or none with --forwarded-for-hops, since
    /// then every connection comes from a proxy].
    #[arg(long, env = "THREADLINE_HTTP_MAX_CONNECTIONS_PER_ADDRESS")]
    http_max_connections_per_address: Option<u32>,
    /// Seconds requests in flight may take to finish once the server is
    /// asked to stop (SIGTERM, Ctrl-C); connections still open then are
    /// closed.
    #[arg(long, env = "THREADLINE_SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    shutdown_timeout_secs: u64,
    /// The origin people reach the console at, e.g.
    /// `https://help.example.com`: every link the server mails
    /// (invitations, password resets) starts with it [default:
    /// http://<the address bound>, right only on this machine].
    #[arg(long, env = "THREADLINE_PUBLIC_URL")]
    public_url: Option<String>,
    /// An origin of its own for the visitor widget, e.g.
    /// `https://chat.example.com` (a name for this same server): `/widget`
    /// is then served only there and the console never is, so a script in
    /// a widget page cannot read an agent's session [default: the widget
    /// shares the console's origin].
    #[arg(long, env = "THREADLINE_WIDGET_ORIGIN")]
    widget_origin: Option<String>,
}

/// What clients may do how often: rate limits, each counted on this node
/// (see README).
#[derive(clap::Args)]
pub(super) struct RateArgs {
    /// Chats one client address may start in a workspace in a burst.
    #[arg(long, env = "THREADLINE_RATE_CHATS_BURST", default_value_t = 100)]
    rate_chats_burst: u32,
    /// Chats one client address may then start per hour in a workspace.
    #[arg(long, env = "THREADLINE_RATE_CHATS_PER_HOUR", default_value_t = 600)]
    rate_chats_per_hour: u32,
    /// Messages one visitor may send in a burst.
    #[arg(long, env = "THREADLINE_RATE_MESSAGES_BURST", default_value_t = 30)]
    rate_messages_burst: u32,
    /// Messages one visitor may then send per minute.
    #[arg(long, env = "THREADLINE_RATE_MESSAGES_PER_MINUTE", default_value_t = 60)]
    rate_messages_per_minute: u32,
    /// Behind reverse proxies: take the client's address from
    /// X-Forwarded-For, this many entries from the end (1: the one the
    /// nearest proxy added). 0 (the default) trusts no header.
    #[arg(long, env = "THREADLINE_FORWARDED_FOR_HOPS", default_value_t = 0)]
    forwarded_for_hops: usize,
    /// Sign-in attempts one client address may make in a burst.
    #[arg(long, env = "THREADLINE_RATE_SIGN_INS_BURST", default_value_t = 30)]
    rate_sign_ins_burst: u32,
    /// Sign-in attempts one client address may then make per minute.
    #[arg(long, env = "THREADLINE_RATE_SIGN_INS_PER_MINUTE", default_value_t = 30)]
    rate_sign_ins_per_minute: u32,
    /// Failed sign-ins for one account from one client network after which
    /// that network's sign-ins to it get 429, until the oldest failure
    /// leaves the window; past twice as many from all networks, the
    /// account's sign-ins are slowed down (1, 2, 4, ... s apart, at most 60).
    #[arg(long, env = "THREADLINE_SIGN_IN_FAILURES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    sign_in_failures: u32,
    /// The window failed sign-ins are counted over, in minutes.
    #[arg(long, env = "THREADLINE_SIGN_IN_FAILURE_WINDOW_MINS", default_value_t = 15)]
    sign_in_failure_window_mins: u64,
}

impl RateArgs {
    fn settings(self) -> RateSettings {
        RateSettings {
            chats_burst: self.rate_chats_burst,
            chats_per_hour: self.rate_chats_per_hour,
            messages_burst: self.rate_messages_burst,
            messages_per_minute: self.rate_messages_per_minute,
            sign_ins_burst: self.rate_sign_ins_burst,
            sign_ins_per_minute: self.rate_sign_ins_per_minute,
            sign_in_failures: self.sign_in_failures,
            sign_in_failure_window: Duration::from_secs(self.sign_in_failure_window_mins.saturating_mul(60)),
            forwarded_for_hops: self.forwarded_for_hops,
        }
    }
}

/// How long credentials last.
#[derive(clap::Args)]
pub(super) struct AccessArgs {
    /// Hours a session from a sign-in lasts unused; every use moves its end
    /// forward.
    #[arg(long, env = "THREADLINE_SESSION_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..))]
    session_hours: u64,
    /// Days a visitor's token keeps working after their newest chat
    /// closed (it works again if one is reopened).
    #[arg(long, env = "THREADLINE_VISITOR_TOKEN_DAYS", default_value_t = 30)]
    visitor_token_days: u64,
}

/// Where replies to requesters are mailed.
#[derive(clap::Args)]
pub(super) struct MailArgs {
    /// SMTP server for replies to requesters, e.g.
    /// `smtp://user:password@mail.example.com:587?tls=required` or
    /// `smtps://…:465`. Without it, replies wait in the outbox (and the
    /// console says e-mail is not configured) until a server started with
    /// it sends them.
    #[arg(long, env = "THREADLINE_SMTP_URL")]
    smtp_url: Option<String>,
    /// The address replies come from; the name shown is the agent's and
    /// the workspace's.
    #[arg(long, env = "THREADLINE_SMTP_FROM", default_value = "threadline@localhost")]
    smtp_from: String,
    /// The largest mail received, in bytes (larger is refused with 413).
    #[arg(long, env = "THREADLINE_INBOUND_MAX_BYTES", default_value_t = crate::inbound::DEFAULT_MAX_BYTES)]
    inbound_max_bytes: usize,
    /// Mails one sender may send a workspace in an hour before their mail
    /// stops opening tickets (it is still kept and listed).
    #[arg(long, env = "THREADLINE_INBOUND_PER_SENDER_PER_HOUR", default_value_t = 30)]
    inbound_per_sender_per_hour: u64,
    /// The longest wait between two reads of a workspace's IMAP mailbox, in
    /// seconds (a server with IDLE hands new mail over at once).
    #[arg(long, env = "THREADLINE_IMAP_POLL_SECS", default_value_t = 60)]
    imap_poll_secs: u64,
    /// Let workspaces read IMAP mailboxes on loopback, private or
    /// link-local addresses (a mail server beside Threadline); refused by
    /// default, so a workspace admin cannot make the server probe its own
    /// network.
    #[arg(long, env = "THREADLINE_IMAP_ALLOW_PRIVATE_HOSTS")]
    imap_allow_private_hosts: bool,
}

impl MailArgs {
    fn settings(self) -> MailSettings {
        MailSettings {
            smtp_url: self.smtp_url.filter(|u| !u.is_empty()),
            from_address: self.smtp_from,
            inbound: crate::inbound::InboundSettings {
                max_bytes: self.inbound_max_bytes,
                per_sender_per_hour: self.inbound_per_sender_per_hour.max(1),
            },
            imap: crate::imap::ImapSettings {
                poll_interval: Duration::from_secs(self.imap_poll_secs.max(1)),
                lease: Duration::from_secs(self.imap_poll_secs.max(1) * 3),
                allow_private: self.imap_allow_private_hosts,
                ..Default::default()
            },
            ..MailSettings::default()
        }
    }
}

impl AccessArgs {
    fn settings(self) -> AccessSettings {
        AccessSettings {
            visitor_token_ttl: Duration::from_secs(self.visitor_token_days.saturating_mul(86_400)),
            session_ttl: Duration::from_secs(self.session_hours.saturating_mul(3_600)),
        }
    }
}

impl HttpArgs {
    fn settings(self, behind_proxies: bool) -> HttpSettings {
        let defaults = HttpSettings::default();
        HttpSettings {
            max_connections_per_address: match self.http_max_connections_per_address {
                Some(n) => n as usize,
                None if behind_proxies => 0,
                None => defaults.max_connections_per_address,
            },
            idle_timeout: Duration::from_secs(self.http_idle_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(self.http_body_timeout_secs.max(1)),
            max_connections: match self.http_max_connections {
                Some(n) => n as usize,
                None => defaults.max_connections.min(open_file_limit() * 3 / 4).max(1),
            },
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            public_url: self.public_url.filter(|u| !u.is_empty()),
            widget_origin: self.widget_origin.filter(|u| !u.is_empty()),
        }
    }
}

/// Raises this process's open-file limit to its hard limit and returns it.
fn open_file_limit() -> usize {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                }
            }
            return usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
        }
    }
    1024
}

async fn serve(config: Config, demo: bool) -> Result<()> {
    let server = Server::build(&config).await?;
    let addr = server.local_addr();
    if demo {
        super::demo::seed(server.store(), server.public_url()).await?;
    }
    tracing::info!("threadline listening on http://{addr}");
    eprintln!("Threadline is listening on http://{addr} (Ctrl-C to stop)");
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how orchestrators stop a node): either lets in-flight
/// requests finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::Args;

    use super::ServeArgs;

    /// The README's configuration reference names every flag of `serve`,
    /// and no flag `serve` does not have.
    #[test]
    fn the_readme_lists_every_flag_of_serve() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Configuration reference")
            .nth(1)
            .expect("the README has a configuration reference");
        let listed: BTreeSet<String> = table
            .lines()
            .take_while(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with("| `--"))
            .map(|l| l[3..].split('`').next().unwrap().to_owned())
            .collect();
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let mut flags: BTreeSet<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        // A global flag of the `threadline` command, also listed there.
        flags.insert("--log-format".into());
        assert_eq!(listed, flags);
    }
}

/// What the server deletes on schedule: each workspace's own retention
/// (`PUT /api/v1/settings {retention}`), and the audit log.
#[derive(clap::Args)]
pub(super) struct RetentionArgs {
    /// How often the retention job runs, in seconds; one node at a time
    /// runs it.
    #[arg(long, env = "THREADLINE_RETENTION_INTERVAL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    retention_interval_secs: u64,
    /// Days the audit log keeps an entry; 0 keeps entries for ever.
    #[arg(long, env = "THREADLINE_AUDIT_RETENTION_DAYS", default_value_t = 400)]
    audit_retention_days: u32,
}

impl RetentionArgs {
    fn settings(self) -> crate::retention::RetentionSettings {
        crate::retention::RetentionSettings {
            interval: Duration::from_secs(self.retention_interval_secs),
            audit_days: (self.audit_retention_days > 0).then_some(self.audit_retention_days),
            ..Default::default()
        }
    }
}

/// Rules on a schedule, and webhooks.
#[derive(clap::Args)]
pub(super) struct AutomationArgs {
    /// How often the timed rules (close-pending, escalate-before-breach,
    /// chat-wait-reply) and SLA breaches are looked at, in seconds; one
    /// node at a time does it.
    #[arg(long, env = "THREADLINE_AUTOMATION_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    automation_interval_secs: u64,
    /// The wait before a failed webhook delivery's first retry, in
    /// milliseconds; each later wait doubles (at most an hour), for a day.
    #[arg(long, env = "THREADLINE_WEBHOOK_RETRY_BASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    webhook_retry_base_ms: u64,
    /// Lets webhooks post to loopback, private and link-local addresses
    /// (refused otherwise, when saved and when delivered).
    #[arg(long, env = "THREADLINE_WEBHOOKS_ALLOW_PRIVATE")]
    webhooks_allow_private: bool,
    /// How long one webhook post may take, answer included, in seconds.
    #[arg(long, env = "THREADLINE_WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    webhook_timeout_secs: u64,
    /// How long a node's claim on an event (or a delivery) lasts before
    /// another node may take it over, in seconds: after a crash, what the
    /// node held waits this long.
    #[arg(long, env = "THREADLINE_AUTOMATION_LEASE_SECS", default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..))]
    automation_lease_secs: u64,
}

impl AutomationArgs {
    fn settings(self) -> crate::automation::AutomationSettings {
        crate::automation::AutomationSettings {
            interval: Duration::from_secs(self.automation_interval_secs),
            webhook_retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            webhooks_allow_private: self.webhooks_allow_private,
            webhook_timeout: Duration::from_secs(self.webhook_timeout_secs),
            lease: Duration::from_secs(self.automation_lease_secs),
            ..Default::default()
        }
    }
}
