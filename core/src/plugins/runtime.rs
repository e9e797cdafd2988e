//! The sandbox: one `InstancePre` per loaded plugin, and a fresh `Store`
//! with its own limits for every hook call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::engine::engine;
use super::limits::{self, Limits};
use crate::conversion::hooks::{FaultKind, HookKind};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "threadline:plugin/plugin@0.1.0",
        // Exports are called async, so a call can be raced against its
        // deadline and yield to the plugin runtime at every epoch tick.
        exports: { default: async },
    });
}

use bindings::exports::threadline::plugin::{assignment, subject, summary, transcript};
use bindings::threadline::plugin::log::Level;

/// Fuel between yields: about a millisecond of work.
const YIELD_FUEL: u64 = 2_000_000;

/// The WIT package version this server implements.
pub const WIT_VERSION: &str = "0.1.0";

/// Why a plugin call failed, in words an operator can act on, and what
/// kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PluginError {
    pub kind: FaultKind,
    pub reason: String,
}

impl PluginError {
    pub fn new(kind: FaultKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// What a hook is handed, as WIT records.
pub enum HookInput {
    Subject(wit::ChatHeader),
    Transcript(wit::Chat),
    Assignment {
        chat: wit::ChatHeader,
        agent: wit::Agent,
        candidates: Vec<wit::Candidate>,
    },
    Summary(wit::Chat),
}

impl HookInput {
    pub fn hook(&self) -> HookKind {
        match self {
            Self::Subject(_) => HookKind::Subject,
            Self::Transcript(_) => HookKind::Transcript,
            Self::Assignment { .. } => HookKind::Assignment,
            Self::Summary(_) => HookKind::Summary,
        }
    }
}

/// What a hook answered: text (subject, transcript, assignee id) or a
/// summary that may be absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    Text(String),
    Summary(Option<String>),
}

/// A finished call: its answer or failure, and what it cost.
#[derive(Debug)]
pub struct Finished {
    pub output: Result<HookOutput, PluginError>,
    /// Fuel used, when the call ran to its end (after a trap the count is
    /// not reliable: compiled code keeps it in a register).
    pub fuel: Option<u64>,
    pub wall: Duration,
}

/// A plugin ready to run: its pre-linked component and which hooks it exports.
pub struct LoadedPlugin {
    /// `subject-default` for a built-in plugin, the id of an uploaded one.
    pub key: String,
    /// Shown in faults and logs.
    pub name: String,
    /// Bytes of compiled code it holds in memory (what the cache weighs).
    pub code_bytes: usize,
    pre: InstancePre<CallState>,
    subject: Option<subject::GuestIndices>,
    transcript: Option<transcript::GuestIndices>,
    assignment: Option<assignment::GuestIndices>,
    summary: Option<summary::GuestIndices>,
}

impl LoadedPlugin {
    /// Links a compiled component against the host's imports and finds its
    /// hooks. Fails when it imports something the host does not give (a
    /// filesystem, sockets of its own, another package) or exports no hook.
    pub fn prepare(key: String, name: String, component: &Component) -> Result<Self, String> {
        let pre = linker()
            .instantiate_pre(component)
            .map_err(|e| format!("it needs imports this server does not provide: {e}"))?;
        let range = component.image_range();
        let plugin = Self {
            subject: subject::GuestIndices::new(&pre).ok(),
            transcript: transcript::GuestIndices::new(&pre).ok(),
            assignment: assignment::GuestIndices::new(&pre).ok(),
            summary: summary::GuestIndices::new(&pre).ok(),
            code_bytes: (range.end as usize).saturating_sub(range.start as usize),
            key,
            name,
            pre,
        };
        if plugin.hooks().is_empty() {
            return Err(format!(
                "it exports no hook of threadline:plugin@{WIT_VERSION} \
                 (subject, transcript, assignment or summary)"
            ));
        }
        Ok(plugin)
    }

    pub fn hooks(&self) -> Vec<HookKind> {
        let mut hooks = Vec::new();
        if self.subject.is_some() {
            hooks.push(HookKind::Subject);
        }
        if self.transcript.is_some() {
            hooks.push(HookKind::Transcript);
        }
        if self.assignment.is_some() {
            hooks.push(HookKind::Assignment);
        }
        if self.summary.is_some() {
            hooks.push(HookKind::Summary);
        }
        hooks
    }

    pub fn exports(&self, hook: HookKind) -> bool {
        self.hooks().contains(&hook)
    }

    /// One call in a fresh store: nothing survives it, so a trap cannot
    /// poison a later call and no state passes between calls or workspaces.
    ///
    /// The deadline is wall-clock for the whole call. Running WebAssembly
    /// checks it at every epoch tick (and yields to the runtime there, so
    /// calls share the plugin threads); the call as a whole, host waits
    /// included (a WASI sleep or poll), is raced against it and dropped when
    /// it passes.
    pub async fn run(&self, call: &CallSettings, input: HookInput) -> Finished {
        let started = Instant::now();
        let limits = call.limits;
        let deadline = started + Duration::from_millis(u64::from(limits.timeout_ms));
        let hook = input.hook();
        let mut store = Store::new(
            engine(),
            CallState::new(limits.memory_bytes as usize, &call.tenant_id, &self.name, hook),
        );
        store.limiter(|s| &mut s.memory);
        if let Err(e) = store.set_fuel(limits.fuel) {
            return Finished {
                output: Err(PluginError::new(FaultKind::Trap, format!("it could not start: {e}"))),
                fuel: None,
                wall: started.elapsed(),
            };
        }
        // Yield every so much work too (not only at epoch ticks), so a
        // call's first slice, which runs on the caller's thread, is short.
        if let Err(e) = store.fuel_async_yield_interval(Some(YIELD_FUEL)) {
            tracing::warn!(error = %e, "cannot set the fuel yield interval");
        }
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);

        let outcome = tokio::time::timeout_at(deadline.into(), self.invoke(&mut store, &call.context, input)).await;
        let wall = started.elapsed();
        CALLS.fetch_add(1, Ordering::Relaxed);
        let state = store.data();
        if state.log.dropped > 0 {
            tracing::warn!(tenant = %call.tenant_id, plugin = %self.name, %hook, dropped = state.log.dropped,
                "plugin log lines over the per-call cap were dropped");
        }
        let elapsed_ms = wall.as_secs_f64() * 1000.0;
        let (output, fuel) = match outcome {
            Err(_elapsed) => (Err(deadline_passed(limits, elapsed_ms)), None),
            Ok(Err(e)) => (Err(explain(&e, limits, state.memory.hit, elapsed_ms)), None),
            Ok(Ok(Err(own))) => {
                let own: String = own.chars().take(500).collect();
                (
                    Err(PluginError::new(
                        FaultKind::Error,
                        format!("it returned an error: {own}"),
                    )),
                    None,
                )
            }
            Ok(Ok(Ok(out))) => {
                let fuel = limits.fuel - store.get_fuel().unwrap_or(0);
                tracing::debug!(tenant = %call.tenant_id, plugin = %self.name, %hook, fuel, elapsed_ms, "plugin call");
                (Ok(out), Some(fuel))
            }
        };
        Finished { output, fuel, wall }
    }

    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        ctx: &wit::Context,
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>> {
        let hook = input.hook();
        let missing = || wasmtime::Error::msg(format!("it does not export the {hook} hook"));
        let instance = self.pre.instantiate_async(&mut *store).await?;
        Ok(match input {
            HookInput::Subject(chat) => {
                let hook = self
                    .subject
                    .as_ref()
                    .ok_or_else(missing)?
                    .load(&mut *store, &instance)?;
                hook.call_default_subject(&mut *store, ctx, &chat)
                    .await?
                    .map(HookOutput::Text)
            }
            HookInput::Transcript(chat) => {
                let hook = self
                    .transcript
                    .as_ref()
                    .ok_or_else(missing)?
                    .load(&mut *store, &instance)?;
                hook.call_format(&mut *store, ctx, &chat).await?.map(HookOutput::Text)
            }
            HookInput::Assignment {
                chat,
                agent,
                candidates,
            } => {
                let hook = self
                    .assignment
                    .as_ref()
                    .ok_or_else(missing)?
                    .load(&mut *store, &instance)?;
                hook.call_assign(&mut *store, ctx, &chat, &agent, &candidates)
                    .await?
                    .map(HookOutput::Text)
            }
            HookInput::Summary(chat) => {
                let hook = self
                    .summary
                    .as_ref()
                    .ok_or_else(missing)?
                    .load(&mut *store, &instance)?;
                hook.call_summarize(&mut *store, ctx, &chat)
                    .await?
                    .map(HookOutput::Summary)
            }
        })
    }
}

/// Hook calls made by this process (for tests that check a plugin ran).
pub static CALLS: AtomicU64 = AtomicU64::new(0);

fn deadline_passed(limits: Limits, elapsed_ms: f64) -> PluginError {
    PluginError::new(
        FaultKind::Deadline,
        format!(
            "it ran past its time limit of {} ms and was stopped (after {elapsed_ms:.0} ms)",
            limits.timeout_ms
        ),
    )
}

/// Turns a failed call into a reason an operator can act on, naming what
/// actually stopped the plugin: a limit it hit is reported before the
/// memory refusal that may have come earlier in the same call.
fn explain(e: &wasmtime::Error, limits: Limits, memory_cap_hit: bool, elapsed_ms: f64) -> PluginError {
    use FaultKind as K;
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => deadline_passed(limits, elapsed_ms),
        Some(Trap::OutOfFuel) => PluginError::new(
            K::Fuel,
            format!("it used up its fuel ({} instructions) and was stopped", limits.fuel),
        ),
        _ if memory_cap_hit => PluginError::new(
            K::Memory,
            format!(
                "it tried to use more than its memory limit of {} MiB and stopped",
                limits.memory_bytes >> 20
            ),
        ),
        Some(Trap::StackOverflow) => PluginError::new(K::Trap, "it overflowed its stack"),
        // Rust and C keep their own stack in linear memory; running off its
        // end lands below address 0.
        Some(Trap::MemoryOutOfBounds) => PluginError::new(
            K::Trap,
            "it trapped on an out-of-bounds memory access (for Rust or C plugins, usually a stack overflow)",
        ),
        Some(Trap::UnreachableCodeReached) => {
            PluginError::new(K::Trap, "it trapped (unreachable code: a panic or an abort)")
        }
        Some(trap) => PluginError::new(K::Trap, format!("it trapped: {trap}")),
        None => {
            let text = format!("{e:#}");
            let text: String = text.chars().take(500).collect();
            PluginError::new(K::Trap, format!("it failed: {text}"))
        }
    }
}

/// The host's imports, shared by every plugin: the `log` interface and WASI
/// with nothing in it (Rust's standard library imports WASI even when a
/// plugin never uses it).
fn linker() -> &'static Linker<CallState> {
    static LINKER: OnceLock<Linker<CallState>> = OnceLock::new();
    LINKER.get_or_init(|| {
        let mut linker = Linker::new(engine());
        bindings::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .expect("link the plugin interfaces");
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link WASI");
        linker
    })
}

/// What one call carries in: who it runs for, its limits, and the context
/// record the plugin receives.
pub struct CallSettings {
    pub tenant_id: String,
    pub limits: Limits,
    pub context: wit::Context,
}

/// The types of the WIT contract, as the host builds them.
pub mod wit {
    pub use super::bindings::threadline::plugin::types::*;
}

pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    log: LogSink,
}

impl CallState {
    fn new(memory_bytes: usize, tenant_id: &str, plugin: &str, hook: HookKind) -> Self {
        // No directories, environment, arguments, network or stdio; clocks
        // stopped at the epoch and randomness fixed, so a plugin's output
        // depends only on what the contract passes in.
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(StoppedClock)
            .monotonic_clock(StoppedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5a; 32]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0xa5; 32]))
            .insecure_random_seed(0)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: memory_bytes,
                hit: false,
            },
            log: LogSink {
                tenant_id: tenant_id.to_owned(),
                plugin: plugin.to_owned(),
                hook,
                kept: 0,
                dropped: 0,
            },
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct StoppedClock;

impl wasmtime_wasi::HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Refuses memory growth past the call's cap and remembers that it did, so
/// the resulting trap (Rust aborts when an allocation fails) is reported as
/// the memory limit it is.
struct MemoryCap {
    max_bytes: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

struct LogSink {
    tenant_id: String,
    plugin: String,
    hook: HookKind,
    kept: u32,
    dropped: u32,
}

impl bindings::threadline::plugin::types::Host for CallState {}

impl bindings::threadline::plugin::log::Host for CallState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let sink = &mut self.log;
        if sink.kept >= limits::MAX_LOG_LINES {
            sink.dropped += 1;
            return;
        }
        sink.kept += 1;
        let mut line = clip(&message, limits::MAX_LOG_LINE_BYTES);
        for (k, v) in fields.iter().take(16) {
            if line.len() >= limits::MAX_LOG_LINE_BYTES {
                break;
            }
            line.push_str(&format!(" {}={}", clip(k, 64), clip(v, 256)));
        }
        let line = clip(&line, limits::MAX_LOG_LINE_BYTES);
        let (tenant, plugin, hook) = (&sink.tenant_id, &sink.plugin, sink.hook);
        match level {
            Level::Debug => tracing::debug!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            Level::Info => tracing::info!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            Level::Warn => tracing::warn!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
            Level::Error => tracing::error!(target: "threadline::plugin", %tenant, %plugin, %hook, "{line}"),
        }
    }
}

/// At most `max` bytes of `s`, on a character boundary, control characters
/// shown escaped so a plugin cannot forge log lines.
fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(&piece);
    }
    out
}
