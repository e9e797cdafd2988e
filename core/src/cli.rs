//! The `threadline` command: run the server, and set up workspaces and
//! agents. Commands that create credentials print JSON, so scripts can use
//! them; the tokens in it are shown only this once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::domain::hooks::HookKind;
use crate::domain::password::Password;
use crate::domain::{EmailAddress, single_line};
use crate::http::AccessSettings;
use crate::http::rate::RateSettings;
use crate::mail::MailSettings;
use crate::plugins::{HostSettings, Limits, local};
use crate::server::{Config, DEFAULT_DATABASE_URL, HttpSettings, Server};
use crate::store::{NewMessage, Store};

#[derive(Parser)]
#[command(name = "threadline", version, about = "Help desk server: live chat and tickets")]
struct Cli {
    /// `text` for people, `json` (one object a line, with the request's id
    /// and workspace) for log collectors.
    #[arg(long, global = true, env = "THREADLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct DbArgs {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    #[arg(long, env = "THREADLINE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

/// How plugins share the server between workspaces. Defaults derive from
/// the number of cores.
#[derive(clap::Args)]
struct PluginArgs {
    /// Where compiled plugins are kept, so a restart does not compile
    /// them again. Only this server should be able to write here.
    #[arg(long, env = "THREADLINE_PLUGIN_CACHE", default_value = "./data/plugin-cache")]
    plugin_cache: PathBuf,
    /// Plugin calls running at once on this server [default: 4 per core, at most 64].
    #[arg(long, env = "THREADLINE_PLUGIN_CALLS", value_parser = clap::value_parser!(u32).range(1..=64))]
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
        s
    }
}

/// How the server holds up against slow, idle or too many clients.
#[derive(clap::Args)]
struct HttpArgs {
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
}

/// What clients may do how often: rate limits, each counted on this node
/// (see README).
#[derive(clap::Args)]
struct RateArgs {
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
    /// Failed sign-ins for one account after which its sign-ins get 429,
    /// until the oldest failure leaves the window.
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
struct AccessArgs {
    /// Hours a session from a sign-in lasts unused; every use moves its end
    /// forward.
    #[arg(long, env = "THREADLINE_SESSION_HOURS", default_value_t = 168, value_parser = clap::value_parser!(u64).range(1..))]
    session_hours: u64,
    /// Days a visitor's token keeps working after their chat closed (it
    /// works again if the chat is reopened).
    #[arg(long, env = "THREADLINE_VISITOR_TOKEN_DAYS", default_value_t = 30)]
    visitor_token_days: u64,
}

/// Where replies to requesters are mailed.
#[derive(clap::Args)]
struct MailArgs {
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
}

impl MailArgs {
    fn settings(self) -> MailSettings {
        MailSettings {
            smtp_url: self.smtp_url.filter(|u| !u.is_empty()),
            from_address: self.smtp_from,
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

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
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
        /// Also create a demo workspace with a chat to try, and print how.
        #[arg(long)]
        demo: bool,
    },
    /// Manage workspaces.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Develop conversion plugins: check and run them locally.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Say which hooks a component exports, or why the server would refuse it.
    Inspect {
        /// The `.wasm` component.
        wasm: PathBuf,
    },
    /// Run one hook of a plugin on a chat described in JSON, with the
    /// server's limits and output checks: its answer (or fault), fuel, peak
    /// memory and time, beside the built-in rule's answer. Exits 1 when the
    /// plugin fails.
    ///
    /// With `--js FILE` instead of a component: the JavaScript rule in FILE
    /// run by the built-in `javascript` plugin, as a pipeline's
    /// `{"plugin": "javascript", "config": {"source": ...}}` runs it (with
    /// JavaScript's default limits). A syntax error is reported at its line
    /// and column.
    Run {
        /// The `.wasm` component.
        #[arg(required_unless_present = "js", conflicts_with = "js")]
        wasm: Option<PathBuf>,
        /// A JavaScript rule (a function named after the hook) instead of
        /// a component.
        #[arg(long, value_name = "FILE")]
        js: Option<PathBuf>,
        /// subject, transcript, assignment, summary or fields.
        #[arg(long)]
        hook: String,
        /// The chat, as JSON (see plugins/README.md; a server exports one
        /// with GET /api/v1/chats/{id}/hook-input).
        #[arg(long)]
        chat: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a plugin on every chat file (`*.json`) of a folder, each hook it
    /// exports (or `--hook`), and report failures and cost. A chat file's
    /// `"expect": {"<hook>": <answer>}` is checked too. Exits 1 when any run
    /// fails.
    Test {
        /// The `.wasm` component.
        wasm: PathBuf,
        /// The folder of chat files.
        #[arg(long)]
        chats: PathBuf,
        /// Only this hook.
        #[arg(long)]
        hook: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Upload a plugin to a running server's workspace and, with --hook,
    /// make that hook of the workspace's pipeline run it.
    Install {
        /// The `.wasm` component.
        wasm: PathBuf,
        /// The server's base URL, such as https://help.example.com.
        #[arg(long, env = "THREADLINE_SERVER")]
        server: String,
        /// A workspace admin's API token.
        #[arg(long, env = "THREADLINE_TOKEN", hide_env_values = true)]
        token: String,
        /// The name the workspace will know it by [default: the file's name
        /// without .wasm].
        #[arg(long)]
        name: Option<String>,
        /// Run it for this hook (subject, transcript, assignment or summary).
        #[arg(long)]
        hook: Option<String>,
        /// The hook's failure policy: fallback (the default) or reject.
        #[arg(long, requires = "hook", value_parser = ["fallback", "reject"])]
        policy: Option<String>,
        /// A setting for the plugin on that hook, `key=value` (repeat for several).
        #[arg(long = "config", value_name = "KEY=VALUE", requires = "hook")]
        config: Vec<String>,
    },
    /// Make a new plugin crate in ./NAME: one hook's logic as one short
    /// function with a test, a sample chat, and the SDK and contract it
    /// builds with (nothing points back into a Threadline checkout).
    New {
        name: String,
        /// subject, transcript, assignment or summary.
        #[arg(long)]
        hook: String,
    },
    /// Build the plugin crate in DIR (default: here) for wasm32-wasip2,
    /// installing the target with rustup if it is missing, and print the
    /// component's path, size and hooks.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Compile a component read on standard input (the server runs this in
    /// a child process with resource limits; not for people).
    #[command(hide = true)]
    CompileWorker,
}

/// How `plugin run` and `plugin test` call the plugin: its settings and the
/// server's limits (the defaults are the server's).
#[derive(clap::Args)]
struct RunArgs {
    /// A setting for the plugin, `key=value` (repeat for several).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// [default: the server's, 100000000; for JavaScript 500000000]
    #[arg(long)]
    fuel: Option<u64>,
    /// [default: the server's, 100; for JavaScript 250]
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// [default: the server's, 33554432; for JavaScript 67108864]
    #[arg(long)]
    memory_bytes: Option<u64>,
    /// Where the compiled JavaScript plugin is kept between runs (making it
    /// takes seconds, loading it milliseconds).
    #[arg(long, env = "THREADLINE_PLUGIN_CACHE", default_value = "./data/plugin-cache")]
    plugin_cache: PathBuf,
}

impl RunArgs {
    fn limits(&self, defaults: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            timeout_ms: self.timeout_ms.unwrap_or(defaults.timeout_ms),
            memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
        }
    }

    /// The component at `wasm`, loaded as the local runner runs it.
    fn load(&self, wasm: &std::path::Path) -> Result<crate::plugins::PluginHook> {
        let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
        let config = key_values(&self.config)?;
        let name = wasm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(local::load(&bytes, &name, config, self.limits(Limits::DEFAULT))?)
    }

    /// The JavaScript rule in `file` for `hook`, checked as the server
    /// checks it before saving.
    async fn load_js(&self, file: &std::path::Path, hook: HookKind) -> Result<crate::plugins::PluginHook> {
        let source = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        if !self.config.is_empty() {
            anyhow::bail!("a JavaScript rule takes no --config: its settings are its source");
        }
        let limits = self.limits(crate::plugins::javascript::LIMITS);
        local::load_javascript(source, hook, limits, Some(self.plugin_cache.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
    }
}

/// `--config key=value` arguments.
fn key_values(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--config {kv:?} is not key=value"))
        })
        .collect()
}

fn parse_hook(hook: &str) -> Result<HookKind> {
    HookKind::parse(hook)
        .with_context(|| format!("unknown hook {hook:?}: subject, transcript, assignment, summary or fields"))
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a workspace and its first admin agent.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_name: String,
        #[arg(long)]
        admin_email: String,
        /// Read the admin's password (one line) from standard input, so it
        /// can sign in to the console; without it, only the printed API token
        /// works until a password is set with `agent set-password`.
        #[arg(long)]
        admin_password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Add an agent to a workspace.
    Create {
        /// The workspace's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Make the agent a workspace admin.
        #[arg(long)]
        admin: bool,
        /// A skill assignment plugins may match on (repeat for several).
        #[arg(long = "skill")]
        skills: Vec<String>,
        /// Read the agent's password (one line) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set (or reset) an agent's password, read as one line from standard
    /// input. The agent's sessions end; API tokens keep working.
    SetPassword {
        /// The workspace's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// One line of standard input: a password, checked and hashed.
fn password_from_stdin(field: &'static str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(Password::parse(field, line)?.hash())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The compile worker is a child of the server: no logging set-up, no
    // runtime, nothing but the compile under its resource limits.
    if let Command::Plugin {
        command: PluginCommand::CompileWorker,
    } = cli.command
    {
        return crate::plugins::compiler::worker_main();
    }
    keep_large_allocations();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "threadline=info,tower_http=warn".into())
    };
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        // Each line carries the fields of the request's span (its id, its
        // workspace once known) beside the event's own.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc serves allocations from 128 KiB up (adjusting upwards as they are
/// freed) with fresh `mmap`s and returns them with `munmap`. A long chat's
/// transcript is a few hundred KiB and is copied a few times per
/// conversion, so each copy paid for its page faults and, on `munmap`, for
/// flushing every core's TLB (seen in `perf`; one A/B run of the
/// conversion bench put it at about 0.75 ms of a 1,000-message conversion's
/// CPU). Up to 4 MiB now come from the heap, which keeps up to 16 MiB of
/// free memory for reuse.
fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            bind,
            db,
            plugins,
            http,
            rates,
            access,
            mail,
            demo,
        } => {
            let config = Config {
                bind,
                database_url: db.database_url,
                plugins: plugins.settings(),
                http: http.settings(rates.forwarded_for_hops > 0),
                access: access.settings(),
                rates: rates.settings(),
                mail: mail.settings(),
            };
            serve(config, demo).await
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    admin_name,
                    admin_email,
                    admin_password_stdin,
                    db,
                },
        } => {
            let name = single_line("name", &name, 100)?;
            let admin_name = single_line("admin-name", &admin_name, 100)?;
            let email = EmailAddress::parse("admin-email", &admin_email)?;
            let password = admin_password_stdin
                .then(|| password_from_stdin("admin password"))
                .transpose()?;
            let store = Store::connect(&db.database_url).await?;
            let created = store.create_tenant(&name, &admin_name, &email).await?;
            if let Some(hash) = password {
                store
                    .set_password(&created.tenant.id, &created.admin.agent.id, &hash)
                    .await?;
            }
            print_json(&json!({
                "tenant_id": created.tenant.id,
                "slug": created.tenant.slug,
                "widget_key": created.tenant.widget_key,
                "admin_agent_id": created.admin.agent.id,
                "admin_token": created.admin.token,
            }));
            Ok(())
        }
        Command::Agent {
            command:
                AgentCommand::Create {
                    tenant,
                    name,
                    email,
                    admin,
                    skills,
                    password_stdin,
                    db,
                },
        } => {
            let skills = skills
                .iter()
                .map(|s| single_line("skill", s, 64))
                .collect::<Result<Vec<_>, _>>()?;
            let name = single_line("name", &name, 100)?;
            let email = EmailAddress::parse("email", &email)?;
            let password = password_stdin.then(|| password_from_stdin("password")).transpose()?;
            let store = Store::connect(&db.database_url).await?;
            let tenant = store
                .tenant_by_slug(&tenant)
                .await
                .with_context(|| format!("no workspace with slug {tenant:?}"))?;
            let created = store.create_agent(&tenant.id, &name, &email, admin).await?;
            store.set_agent_skills(&tenant.id, &created.agent.id, &skills).await?;
            if let Some(hash) = password {
                store.set_password(&tenant.id, &created.agent.id, &hash).await?;
            }
            print_json(&json!({
                "agent_id": created.agent.id,
                "token": created.token,
                "admin": created.agent.is_admin,
                "skills": skills,
            }));
            Ok(())
        }
        Command::Agent {
            command: AgentCommand::SetPassword { tenant, email, db },
        } => {
            let email = EmailAddress::parse("email", &email)?;
            let hash = password_from_stdin("password")?;
            let store = Store::connect(&db.database_url).await?;
            let account = store
                .account(&tenant, email.normalized())
                .await?
                .with_context(|| format!("no agent {} in a workspace with slug {tenant:?}", email.as_str()))?;
            let agent = account.agent;
            store.set_password(&agent.tenant_id, &agent.id, &hash).await?;
            let ended = store.end_sessions(&agent.tenant_id, &agent.id, None).await?;
            print_json(&json!({ "agent_id": agent.id, "sessions_ended": ended.len() }));
            Ok(())
        }
        Command::Plugin { command } => plugin_command(command).await,
    }
}

/// `threadline plugin …`.
async fn plugin_command(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::CompileWorker => unreachable!("handled before the runtime starts"),
        PluginCommand::Inspect { wasm } => {
            let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let hooks =
                local::exports(&bytes).map_err(|reason| anyhow::anyhow!("the server would refuse it: {reason}"))?;
            let hooks: Vec<&str> = hooks.iter().map(|h| h.as_str()).collect();
            print_json(&json!({ "hooks": hooks, "size_bytes": bytes.len() }));
            Ok(())
        }
        PluginCommand::Run {
            wasm,
            js,
            hook,
            chat,
            run,
        } => {
            let hook = parse_hook(&hook)?;
            let input = local::ChatFile::read(&chat)?.into_input().map_err(anyhow::Error::msg)?;
            let plugin = match (&wasm, &js) {
                (_, Some(js)) => run.load_js(js, hook).await?,
                (Some(wasm), None) => {
                    let plugin = run.load(wasm)?;
                    if !plugin.exports(hook) {
                        anyhow::bail!("{} does not export the {hook} hook", wasm.display());
                    }
                    plugin
                }
                (None, None) => unreachable!("clap requires a component or --js"),
            };
            let result = local::run(&plugin, hook, &input).await;
            print_json(&result);
            if let Some(reason) = result["fault"]["reason"].as_str() {
                anyhow::bail!("the plugin failed: {reason}");
            }
            Ok(())
        }
        PluginCommand::Test { wasm, chats, hook, run } => {
            let plugin = run.load(&wasm)?;
            let hooks = match hook {
                Some(h) => vec![parse_hook(&h)?],
                None => HookKind::ALL.into_iter().filter(|h| plugin.exports(*h)).collect(),
            };
            if let Some(h) = hooks.iter().find(|h| !plugin.exports(**h)) {
                anyhow::bail!("{} does not export the {h} hook", wasm.display());
            }
            let report = local::test(&plugin, &hooks, &chats).await?;
            print_json(&report);
            let failed = report["failed"].as_u64().unwrap_or(0);
            if failed > 0 {
                anyhow::bail!(
                    "{failed} of {} runs failed",
                    report["runs"].as_array().map_or(0, Vec::len)
                );
            }
            Ok(())
        }
        PluginCommand::Install {
            wasm,
            server,
            token,
            name,
            hook,
            policy,
            config,
        } => {
            if let Some(h) = &hook {
                parse_hook(h)?;
            }
            let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let name = match name {
                Some(n) => n,
                None => wasm
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .context("name the plugin with --name")?,
            };
            let installed = crate::client::install(crate::client::Install {
                server: &server,
                token: &token,
                name: &name,
                wasm: bytes,
                hook: match hook.as_deref() {
                    Some(hook) => Some(crate::client::HookChoice {
                        hook,
                        policy: policy.as_deref(),
                        config: key_values(&config)?,
                    }),
                    None => None,
                },
            })
            .await;
            print_json(&installed?);
            Ok(())
        }
        PluginCommand::New { name, hook } => {
            let hook = parse_hook(&hook)?;
            let dir = std::path::PathBuf::from(&name);
            let files = crate::plugins::scaffold::new_plugin(&dir, &name, hook)?;
            print_json(&json!({ "dir": dir, "hook": hook.as_str(), "files": files }));
            Ok(())
        }
        PluginCommand::Build { dir } => {
            let built = local::build(&dir)?;
            print_json(&built);
            Ok(())
        }
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

async fn serve(config: Config, demo: bool) -> Result<()> {
    let server = Server::build(&config).await?;
    let addr = server.local_addr();
    if demo {
        seed_demo(server.store(), &format!("http://{addr}")).await?;
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

/// A fresh demo workspace: an admin agent, and a visitor's chat with a reply
/// and an internal note, ready to convert.
async fn seed_demo(store: &Store, base: &str) -> Result<()> {
    let email = EmailAddress::parse("email", "alex@demo.threadline.test")?;
    let created = store.create_tenant("Demo", "Alex Agent", &email).await?;
    let tenant = &created.tenant;
    // A fresh password each run: a demo left listening must not share one
    // with every other demo.
    let password = format!("demo-{:016x}", rand::random::<u64>());
    store
        .set_password(
            &tenant.id,
            &created.admin.agent.id,
            &Password::parse("password", &password)?.hash(),
        )
        .await?;
    let (chat, visitor_token) = store
        .start_chat(
            tenant,
            "Ada Lovelace",
            Some("ada@example.com"),
            Some("Refund for order #4521"),
            "Hi! I was charged twice for order #4521.",
        )
        .await?;
    let agent = &created.admin.agent;
    let reply = |body: &str, internal| NewMessage {
        kind: if internal {
            crate::domain::MessageKind::InternalNote
        } else {
            crate::domain::MessageKind::Agent
        },
        author_name: agent.name.clone(),
        agent_id: Some(agent.id.clone()),
        body: body.to_owned(),
    };
    store
        .post_message(
            &tenant.id,
            &chat.id,
            &reply("Sorry about that! Let me check with billing.", false),
        )
        .await?;
    store
        .post_message(
            &tenant.id,
            &chat.id,
            &reply("Billing needs a day: convert to a ticket.", true),
        )
        .await?;
    let token = &created.admin.token;
    println!(
        "\nDemo workspace {slug:?} is ready.\n\
         \n  Workspace:     {slug}\
         \n  Email:         {email}\
         \n  Password:      {password}\
         \n  API token:     {token}\
         \n  Widget key:    {wk}\
         \n  Visitor token: {visitor_token}\
         \n  A chat to convert: {chat_id}\n\
         \nIn a browser:\n  Agent console:  {base}/console (sign in with the workspace, email and password above)\
         \n  Visitor widget: {base}/widget?key={wk}\n\
         \nTry:\n  curl -s {base}/api/v1/chats/{chat_id} -H 'Authorization: Bearer {token}'\n  \
         curl -s -X POST {base}/api/v1/chats/{chat_id}/conversion -H 'Authorization: Bearer {token}' \
         -H 'Content-Type: application/json' -d '{{\"visitor_email\": \"ada@example.com\"}}'\n",
        slug = tenant.slug,
        email = email.as_str(),
        wk = tenant.widget_key,
        chat_id = chat.id,
    );
    Ok(())
}
