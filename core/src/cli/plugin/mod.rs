//! `threadline plugin …`: the plugin author's tools. Inspect, run and test
//! a component locally with the server's limits, make a new plugin crate,
//! build it, and install it on a running server.

mod build;
mod report;
mod scaffold;
mod test;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::print_json;
use crate::domain::hooks::HookKind;
use crate::plugins::{Limits, local};

#[derive(Subcommand)]
pub(super) enum PluginCommand {
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
        /// Depend on the SDK in this folder (`plugins/sdk` of a Threadline
        /// checkout) instead of a copy under `vendor/`.
        #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
        sdk_path: Option<PathBuf>,
        /// Depend on the SDK of this git repository (a Threadline
        /// repository; cargo finds the package in it) instead of a copy.
        #[arg(long, value_name = "URL")]
        sdk_git: Option<String>,
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
    CompileWorker {
        /// Make this built-in plugin's compiled code instead.
        #[arg(long)]
        builtin: Option<String>,
    },
}

/// How `plugin run` and `plugin test` call the plugin: its settings and the
/// server's limits (the defaults are the server's).
#[derive(clap::Args)]
pub(super) struct RunArgs {
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
    /// A host (`host` or `host:port`) the plugin may call, as a hook's
    /// `allowed_hosts` lets it on a server (repeat for several). Locally,
    /// loopback and plain HTTP are allowed too: the mock of an API you run
    /// beside it.
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
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
        let grant = local::grant(&self.allow_hosts).map_err(|e| anyhow::anyhow!("--allow-host: {e}"))?;
        Ok(local::load(&bytes, &name, config, self.limits(Limits::DEFAULT))?.with_outbound(grant))
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

/// `threadline plugin …`.
pub(super) async fn run(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::CompileWorker { .. } => unreachable!("handled before the runtime starts"),
        PluginCommand::Inspect { wasm } => {
            let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let hooks = local::exports(&bytes)
                .await
                .map_err(|reason| anyhow::anyhow!("the server would refuse it: {reason}"))?;
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
            let result = report::run(&plugin, hook, &input).await;
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
            let report = test::run(&plugin, &hooks, &chats).await?;
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
        PluginCommand::New {
            name,
            hook,
            sdk_path,
            sdk_git,
        } => {
            let hook = parse_hook(&hook)?;
            let dir = std::path::PathBuf::from(&name);
            let sdk = match (sdk_path, sdk_git) {
                (Some(path), _) => {
                    let path = path
                        .canonicalize()
                        .with_context(|| format!("no SDK at {}", path.display()))?;
                    anyhow::ensure!(
                        path.join("Cargo.toml").is_file(),
                        "{} holds no Cargo.toml: point --sdk-path at plugins/sdk of a Threadline checkout",
                        path.display()
                    );
                    scaffold::Sdk::Path(path)
                }
                (None, Some(url)) => scaffold::Sdk::Git(url),
                (None, None) => scaffold::Sdk::Vendored,
            };
            let files = scaffold::new_plugin(&dir, &name, hook, &sdk)?;
            print_json(&json!({ "dir": dir, "hook": hook.as_str(), "files": files }));
            Ok(())
        }
        PluginCommand::Build { dir } => {
            let built = build::build(&dir).await?;
            print_json(&built);
            Ok(())
        }
    }
}
