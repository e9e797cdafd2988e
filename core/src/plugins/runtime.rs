//! The wasmtime side: one engine per process, compiled components cached in
//! memory and on disk, one `InstancePre` per loaded plugin, and a fresh
//! `Store` with its own limits for every hook call.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::{self, Limits};
use crate::conversion::hooks::HookKind;

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "threadline:plugin/plugin@0.1.0",
    });
}

use bindings::exports::threadline::plugin::{assignment, subject, summary, transcript};
use bindings::threadline::plugin::log::Level;

/// The WIT package version this server implements.
pub const WIT_VERSION: &str = "0.1.0";
/// How often the epoch ticks; deadlines are whole ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The process's engine, configured for the server's maximum limits. Every
/// server in the process (tests start many) shares it, its instance pool and
/// its epoch thread.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let calls = limits::MAX_CONCURRENT_CALLS;
        let mut pool = PoolingAllocationConfig::default();
        // A Rust component is a few core instances (the program and the
        // shims that adapt its imports), one memory and a few tables.
        pool.total_component_instances(calls)
            .total_core_instances(calls * 8)
            .max_core_instances_per_component(16)
            .total_memories(calls * 2)
            .max_memories_per_component(2)
            .total_tables(calls * 8)
            .max_tables_per_component(8)
            .max_memory_size(limits::MAX_MEMORY_BYTES as usize);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Slots as large as the largest memory allowed: growth past the
            // cap fails in the limiter before it could need more.
            .memory_reservation(limits::MAX_MEMORY_BYTES)
            .memory_reservation_for_growth(0)
            .memory_guard_size(64 << 10)
            .max_wasm_stack(512 << 10);
        let engine = Engine::new(&config).expect("the plugin engine configuration is valid");
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("start the plugin epoch thread");
        engine
    })
}

/// Components compiled in this process, by the SHA-256 of their bytes.
fn compiled() -> &'static Mutex<HashMap<String, Component>> {
    static COMPILED: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    COMPILED.get_or_init(Default::default)
}

/// How a component was obtained; counted for tests and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    InMemory,
    FromDiskCache,
    Compiled,
}

/// Compiles `wasm` (or finds it compiled). Only components are accepted:
/// `Component::new` parses WebAssembly, so a precompiled artifact from a
/// user is refused here like any other non-component.
pub fn component(wasm: &[u8], sha256: &str, cache_dir: Option<&Path>) -> Result<(Component, Compiled), String> {
    if let Some(c) = compiled().lock().unwrap().get(sha256) {
        return Ok((c.clone(), Compiled::InMemory));
    }
    let (component, how) = compile_cached(wasm, sha256, cache_dir)?;
    compiled().lock().unwrap().insert(sha256.to_owned(), component.clone());
    Ok((component, how))
}

/// The disk half of the cache: `<dir>/<sha256>-<engine hash>.cwasm`. The
/// engine hash covers the wasmtime version and every setting that affects
/// code, so an upgrade or a config change misses instead of loading code
/// made for another engine.
pub fn compile_cached(wasm: &[u8], sha256: &str, cache_dir: Option<&Path>) -> Result<(Component, Compiled), String> {
    let engine = engine();
    let path = cache_dir.map(|d| d.join(format!("{sha256}-{}.cwasm", engine_hash())));
    if let Some(path) = &path
        && path.is_file()
    {
        // SAFETY: the file is one this server wrote into its own cache
        // directory (never bytes from a user), named by the hash of the
        // source and the engine; wasmtime also checks the engine matches.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(c) => return Ok((c, Compiled::FromDiskCache)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable plugin cache entry; compiling again")
            }
        }
    }
    let started = Instant::now();
    let component = Component::new(engine, wasm).map_err(|e| format!("not a valid WebAssembly component: {e}"))?;
    tracing::debug!(sha256, ms = started.elapsed().as_millis() as u64, "plugin compiled");
    if let Some(path) = &path
        && let Err(e) = write_cache(path, &component)
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the plugin cache");
    }
    Ok((component, Compiled::Compiled))
}

fn write_cache(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn engine_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine().precompile_compatibility_hash().hash(&mut h);
        format!("{:016x}", h.finish())
    })
    .clone()
}

/// A plugin ready to run: its pre-linked component and which hooks it exports.
pub struct LoadedPlugin {
    /// `subject-default` for a built-in plugin, the id of an uploaded one.
    pub key: String,
    /// Shown in faults and logs.
    pub name: String,
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
        let plugin = Self {
            subject: subject::GuestIndices::new(&pre).ok(),
            transcript: transcript::GuestIndices::new(&pre).ok(),
            assignment: assignment::GuestIndices::new(&pre).ok(),
            summary: summary::GuestIndices::new(&pre).ok(),
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

    pub fn call_subject(&self, call: &CallSettings, chat: &wit::ChatHeader) -> Result<Result<String, String>, String> {
        let indices = self.subject.as_ref().ok_or_else(|| not_exported(HookKind::Subject))?;
        self.call(HookKind::Subject, call, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_default_subject(store, &call.context, chat)
        })
    }

    pub fn call_transcript(&self, call: &CallSettings, chat: &wit::Chat) -> Result<Result<String, String>, String> {
        let indices = self
            .transcript
            .as_ref()
            .ok_or_else(|| not_exported(HookKind::Transcript))?;
        self.call(HookKind::Transcript, call, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_format(store, &call.context, chat)
        })
    }

    pub fn call_assignment(
        &self,
        call: &CallSettings,
        chat: &wit::ChatHeader,
        agent: &wit::Agent,
        candidates: &[wit::Candidate],
    ) -> Result<Result<String, String>, String> {
        let indices = self
            .assignment
            .as_ref()
            .ok_or_else(|| not_exported(HookKind::Assignment))?;
        self.call(HookKind::Assignment, call, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_assign(store, &call.context, chat, agent, candidates)
        })
    }

    pub fn call_summary(
        &self,
        call: &CallSettings,
        chat: &wit::Chat,
    ) -> Result<Result<Option<String>, String>, String> {
        let indices = self.summary.as_ref().ok_or_else(|| not_exported(HookKind::Summary))?;
        self.call(HookKind::Summary, call, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_summarize(store, &call.context, chat)
        })
    }

    /// One call in a fresh store: nothing survives it, so a trap cannot
    /// poison a later call and no state passes between calls or workspaces.
    /// The outer error is the host's account of a failure (a limit, a trap);
    /// the inner one is the plugin's own `err`.
    fn call<R>(
        &self,
        hook: HookKind,
        call: &CallSettings,
        run: impl FnOnce(&mut Store<CallState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, String> {
        let started = Instant::now();
        let mut store = Store::new(
            engine(),
            CallState::new(call.limits.memory_bytes as usize, &call.tenant_id, &self.name, hook),
        );
        store.limiter(|s| &mut s.memory);
        store.set_fuel(call.limits.fuel).map_err(|e| e.to_string())?;
        store.set_epoch_deadline(u64::from(call.limits.timeout_ms).div_ceil(EPOCH_TICK.as_millis() as u64));
        store.epoch_deadline_trap();

        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| run(&mut store, &instance));
        let fuel_used = call.limits.fuel - store.get_fuel().unwrap_or(0);
        let state = store.data();
        if state.log.dropped > 0 {
            tracing::warn!(tenant = %call.tenant_id, plugin = %self.name, %hook, dropped = state.log.dropped,
                "plugin log lines over the per-call cap were dropped");
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        CALLS.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(r) => {
                tracing::debug!(tenant = %call.tenant_id, plugin = %self.name, %hook, fuel_used, elapsed_ms, "plugin call");
                Ok(r)
            }
            // Fuel used is not reported here: after a trap, the count is
            // not reliable (compiled code keeps it in a register).
            Err(e) => Err(explain(&e, call.limits, state.memory.hit, elapsed_ms)),
        }
    }
}

/// Hook calls made by this process (for tests that check a plugin ran).
pub static CALLS: AtomicU64 = AtomicU64::new(0);

fn not_exported(hook: HookKind) -> String {
    format!("it does not export the {hook} hook")
}

/// Turns a failed call into a reason an operator can act on.
fn explain(e: &wasmtime::Error, limits: Limits, memory_cap_hit: bool, elapsed_ms: f64) -> String {
    if memory_cap_hit {
        return format!(
            "it tried to use more than its memory limit of {} MiB and stopped",
            limits.memory_bytes >> 20
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!("it used up its fuel ({} instructions) and was stopped", limits.fuel),
        Some(Trap::Interrupt) => format!(
            "it ran past its time limit of {} ms and was stopped (after {elapsed_ms:.0} ms)",
            limits.timeout_ms
        ),
        Some(Trap::StackOverflow) => "it overflowed its stack".to_owned(),
        // Rust and C keep their own stack in linear memory; running off its
        // end lands below address 0.
        Some(Trap::MemoryOutOfBounds) => {
            "it trapped on an out-of-bounds memory access (for Rust or C plugins, usually a stack overflow)".to_owned()
        }
        Some(Trap::UnreachableCodeReached) => "it trapped (unreachable code: a panic or an abort)".to_owned(),
        Some(trap) => format!("it trapped: {trap}"),
        None => {
            let text = format!("{e:#}");
            let text: String = text.chars().take(500).collect();
            format!("it failed: {text}")
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
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("link WASI");
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
