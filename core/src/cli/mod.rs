//! The `threadline` command: run the server, set up workspaces and agents,
//! and the plugin author's tools. Commands that create credentials print
//! JSON, so scripts can use them; the tokens in it are shown only this once.

mod accounts;
mod demo;
mod plugin;
mod serve;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::server::DEFAULT_DATABASE_URL;

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
pub(crate) struct DbArgs {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    #[arg(long, env = "THREADLINE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub(crate) database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<serve::ServeArgs>),
    /// Manage workspaces.
    Tenant {
        #[command(subcommand)]
        command: accounts::TenantCommand,
    },
    /// Manage the hosting operator's API tokens.
    OperatorToken {
        #[command(subcommand)]
        command: accounts::OperatorTokenCommand,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        command: accounts::AgentCommand,
    },
    /// Develop conversion plugins: check and run them locally.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The compile worker is a child of the server: no logging set-up, no
    // runtime, nothing but the compile under its resource limits.
    if let Command::Plugin {
        command: plugin::PluginCommand::CompileWorker { builtin },
    } = &cli.command
    {
        return crate::plugins::compiler::worker_main(builtin.as_deref());
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
        Command::Serve(args) => serve::run(*args).await,
        Command::Tenant { command } => accounts::tenant(command).await,
        Command::Agent { command } => accounts::agent(command).await,
        Command::OperatorToken { command } => accounts::operator_token(command).await,
        Command::Plugin { command } => plugin::run(command).await,
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}
