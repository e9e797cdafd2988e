//! Compiling uploaded components, bounded.
//!
//! Compiling is the one thing a workspace can make the server do whose cost
//! the sandbox does not meter: one function of a few megabytes can take
//! Cranelift a gigabyte and most of a minute. So an uploaded component is
//! compiled in a child process of the server's own binary
//! (`threadline plugin compile-worker`), with an operating-system limit on
//! its memory (`RLIMIT_DATA`) and CPU, killed at a wall-clock deadline, and
//! only a few at a time (fairly across workspaces, as plugin calls are).
//! The child hands back the serialized component; the server loads it. A
//! compile that hits a limit is refused like any invalid component.
//!
//! The built-in plugins and the local runner compile in process: their code
//! is not a stranger's.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use wasmtime::component::Component;

use super::engine::{compile_engine, engine};
use super::limits;
use super::slots::{SlotSettings, Slots};

/// How the server starts a compile worker: a program and the arguments that
/// make it one. The server's binary is `threadline plugin compile-worker`;
/// an embedding (the tests) can name another binary that calls
/// [`worker_main`].
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl WorkerCommand {
    /// This very binary, as `threadline plugin compile-worker`.
    pub fn current_exe() -> Option<Self> {
        Some(Self {
            program: std::env::current_exe().ok()?,
            args: vec!["plugin".into(), "compile-worker".into()],
        })
    }
}

/// Bounds on compiling uploads.
#[derive(Debug, Clone)]
pub struct CompileSettings {
    pub worker: Option<WorkerCommand>,
    /// Compiles at once, server-wide (one per workspace).
    pub jobs: usize,
    /// The worker's data memory limit.
    pub memory_bytes: u64,
    /// Wall-clock limit of one compile.
    pub timeout: Duration,
    /// How long an upload may wait for a compile slot.
    pub queue_timeout: Duration,
}

impl CompileSettings {
    pub fn defaults() -> Self {
        Self {
            worker: WorkerCommand::current_exe(),
            jobs: (super::engine::cores() / 2).max(1),
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(15),
            queue_timeout: Duration::from_secs(40),
        }
    }
}

/// Why a component was not compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Not a valid component (the client's fault: 422).
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// Valid perhaps, but over a compile limit (422 as well).
    #[error("too costly to compile: {0}")]
    TooCostly(String),
    /// Every compile slot stayed busy (503: try again later).
    #[error("the server is busy compiling other plugins; try again in a minute")]
    Busy,
    /// The worker could not be run (the server's fault: 500).
    #[error("the plugin compiler failed: {0}")]
    Internal(String),
}

/// A compiled component and its serialized form (for the disk cache).
pub struct Compiled {
    pub component: Component,
    pub serialized: Vec<u8>,
}

pub struct Compiler {
    settings: CompileSettings,
    slots: Slots,
}

/// The worker's answer may be this much larger than the upload at most.
const MAX_ARTIFACT_BYTES: usize = 32 * limits::MAX_PLUGIN_BYTES;

impl Compiler {
    pub fn new(settings: CompileSettings) -> Self {
        let slots = Slots::new(SlotSettings {
            total: settings.jobs.max(1),
            per_workspace: 1,
            queue_timeout: settings.queue_timeout,
        });
        Self { settings, slots }
    }

    /// Compiles `wasm` for `tenant_id` in a bounded worker process.
    pub async fn compile(&self, tenant_id: &str, wasm: Arc<Vec<u8>>) -> Result<Compiled, CompileError> {
        let Some(worker) = &self.settings.worker else {
            return Err(CompileError::Internal(
                "no compile worker is configured (the server cannot find its own binary)".into(),
            ));
        };
        let _slot = self.slots.acquire(tenant_id).await.map_err(|_| CompileError::Busy)?;
        let started = Instant::now();
        let limits = WorkerLimits {
            memory_bytes: Some(self.settings.memory_bytes),
            timeout: self.settings.timeout,
        };
        let serialized = self.run_worker(worker, &[], &wasm, limits).await?;
        // SAFETY: the bytes come from our own compile worker (this binary),
        // never from a client, and wasmtime checks they were made for this
        // engine's settings and version.
        let component = unsafe { Component::deserialize(engine(), &serialized) }
            .map_err(|e| CompileError::Internal(format!("the worker's output does not load: {e}")))?;
        tracing::info!(
            tenant = tenant_id,
            ms = started.elapsed().as_millis() as u64,
            bytes = serialized.len(),
            "plugin compiled"
        );
        Ok(Compiled { component, serialized })
    }

    /// Makes the built-in plugin `name`'s compiled code (the JavaScript
    /// plugin pre-initialised first) in a worker process, serialized: what
    /// compiling takes (Cranelift's working memory; for the JavaScript
    /// plugin, a second engine and two compiles, over 100 MiB) goes away
    /// with that process instead of staying in the server's heap. `None`
    /// when the server has no worker.
    pub async fn compile_builtin(&self, name: &str) -> Option<Result<Vec<u8>, CompileError>> {
        let worker = self.settings.worker.as_ref()?;
        // Our own code: no memory limit (the pre-initialising engine
        // reserves address space for its instances), and more time than an
        // upload gets, since pre-initialising takes seconds of CPU.
        let limits = WorkerLimits {
            memory_bytes: None,
            timeout: BUILTIN_TIMEOUT,
        };
        Some(self.run_worker(worker, &["--builtin", name], &[], limits).await)
    }

    async fn run_worker(
        &self,
        worker: &WorkerCommand,
        extra_args: &[&str],
        wasm: &[u8],
        limits: WorkerLimits,
    ) -> Result<Vec<u8>, CompileError> {
        let mut command = tokio::process::Command::new(&worker.program);
        command
            .args(&worker.args)
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .kill_on_drop(true);
        let (memory, cpu_secs) = (limits.memory_bytes, limits.timeout.as_secs() + 1);
        // SAFETY: only async-signal-safe calls (setrlimit) between fork and
        // exec.
        unsafe {
            command.pre_exec(move || {
                if let Some(memory) = memory {
                    set_limit(libc::RLIMIT_DATA, memory)?;
                }
                set_limit(libc::RLIMIT_CPU, cpu_secs)?;
                // An abort at the memory limit must not write a core file.
                set_limit(libc::RLIMIT_CORE, 0)?;
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| CompileError::Internal(format!("cannot start {}: {e}", worker.program.display())))?;
        let mut stdin = child.stdin.take().expect("piped");
        let input = wasm.to_vec();
        let feed = tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
        let waited = tokio::time::timeout(limits.timeout, child.wait_with_output()).await;
        feed.abort();
        let output = match waited {
            // Dropping the child's future killed it (kill_on_drop).
            Err(_) => {
                return Err(CompileError::TooCostly(format!(
                    "compiling it took longer than the server's limit of {} s",
                    limits.timeout.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(CompileError::Internal(format!("the compile worker failed: {e}"))),
            Ok(Ok(output)) => output,
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        if let Some(peak) = stderr.lines().find_map(|l| l.strip_prefix("peak_rss_kib=")) {
            tracing::debug!(peak_rss_kib = peak, "compile worker finished");
        }
        match output.status.code() {
            Some(0) if output.stdout.len() <= MAX_ARTIFACT_BYTES => Ok(output.stdout),
            Some(0) => Err(CompileError::TooCostly("its compiled code is too large".into())),
            Some(EXIT_INVALID) => {
                let reason: String = stderr
                    .lines()
                    .filter(|l| !l.starts_with("peak_rss_kib="))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(1000)
                    .collect();
                Err(CompileError::Invalid(reason))
            }
            _ => {
                use std::os::unix::process::ExitStatusExt;
                let signal = output.status.signal();
                if signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL) {
                    Err(CompileError::TooCostly(format!(
                        "compiling it took more CPU time than the server's limit of {} s",
                        limits.timeout.as_secs()
                    )))
                } else {
                    // An allocation refused at the limit aborts the worker.
                    tracing::info!(status = %output.status, stderr = %stderr.chars().take(500).collect::<String>(),
                        "compile worker stopped");
                    Err(CompileError::TooCostly(format!(
                        "compiling it needed more memory than the server's limit of {} MiB",
                        self.settings.memory_bytes >> 20
                    )))
                }
            }
        }
    }
}

/// What one worker run may take.
#[derive(Clone, Copy)]
struct WorkerLimits {
    /// `RLIMIT_DATA`, for strangers' code.
    memory_bytes: Option<u64>,
    /// Wall clock (and, plus a second, CPU).
    timeout: Duration,
}

/// How long making a built-in plugin may take: pre-initialising the
/// JavaScript plugin and its two compiles take 5–20 s on a busy 2-core
/// machine.
const BUILTIN_TIMEOUT: Duration = Duration::from_secs(180);

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: a plain system call on a valid struct.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The worker's exit status for a component wasmtime refuses.
const EXIT_INVALID: i32 = 2;

/// The compile worker: reads a component on standard input, writes its
/// serialized compiled form on standard output. Exit 2 (reason on standard
/// error) when it is not a valid component. Its peak memory goes to
/// standard error as `peak_rss_kib=N`. With `builtin`, it makes that
/// built-in plugin's compiled code instead, reading nothing.
pub fn worker_main(builtin: Option<&str>) -> std::process::ExitCode {
    if let Some(name) = builtin {
        let made = super::builtin::make(name, &compile_engine());
        if let Some(peak) = peak_rss_kib() {
            eprintln!("peak_rss_kib={peak}");
        }
        return answer(made);
    }
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(limits::MAX_PLUGIN_BYTES as u64 + 1)
        .read_to_end(&mut wasm)
    {
        eprintln!("cannot read the component: {e}");
        return std::process::ExitCode::FAILURE;
    }
    if wasm.len() > limits::MAX_PLUGIN_BYTES {
        eprintln!("the component is over the size limit");
        return std::process::ExitCode::from(EXIT_INVALID as u8);
    }
    let engine = compile_engine();
    let result = Component::new(&engine, &wasm).and_then(|c| c.serialize());
    if let Some(peak) = peak_rss_kib() {
        eprintln!("peak_rss_kib={peak}");
    }
    answer(result.map_err(|e| format!("{e:#}")))
}

/// Writes the serialized component on standard output, or the reason on
/// standard error with exit 2.
fn answer(result: Result<Vec<u8>, String>) -> std::process::ExitCode {
    match result {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(EXIT_INVALID as u8)
        }
    }
}

/// This process's peak resident memory, from `/proc` (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Compiles in this process: for the built-in plugins and the local runner.
pub fn compile_in_process(wasm: &[u8]) -> Result<Component, CompileError> {
    Component::new(engine(), wasm).map_err(|e| CompileError::Invalid(format!("{e}")))
}
