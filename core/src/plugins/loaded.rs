//! A loaded plugin: one `InstancePre` per plugin, and a fresh `Store` with
//! its own limits for every hook call.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::call::{CallSettings, HookInput, HookOutput};
use super::engine::engine;
use super::error::PluginError;
use super::limits::Limits;
use super::manifest::Manifest;
use super::outbound::CallOutbound;
use super::sandbox::CallState;
use super::versions::{self, Contract};
use crate::domain::hooks::{FaultKind, HookKind};
use crate::domain::log_text;

/// Fuel between yields: about a millisecond of work.
const YIELD_FUEL: u64 = 2_000_000;

/// A finished call: its answer or failure, and what it cost.
#[derive(Debug)]
pub struct Finished {
    pub output: Result<HookOutput, PluginError>,
    /// Fuel used, when the call ran to its end (after a trap the count is
    /// not reliable: compiled code keeps it in a register).
    pub fuel: Option<u64>,
    pub wall: Duration,
    /// The largest linear memory the call was given.
    pub peak_memory_bytes: usize,
    /// What it wrote to its log (and the host's lines about its requests).
    pub log: Vec<(tracing::Level, String)>,
}

/// A plugin ready to run: its pre-linked component and which hooks it exports.
pub struct LoadedPlugin {
    /// `subject-default` for a built-in plugin, the id of an uploaded one.
    pub key: String,
    /// Shown in faults and logs.
    pub name: String,
    /// Bytes of compiled code it holds in memory (what the cache weighs).
    pub code_bytes: usize,
    /// SHA-256 of the component's bytes, and the version its `describe`
    /// gives: what a ticket's receipt names.
    pub sha256: String,
    pub version: Option<String>,
    pre: InstancePre<CallState>,
    /// Its exports, in the terms of the contract version it was built
    /// against.
    exports: std::sync::Arc<dyn Contract>,
    hooks: Vec<HookKind>,
    /// Its event hooks (contract 0.3.0), if it has them: automations run it.
    events: Option<std::sync::Arc<versions::v0_3_0::EventExports>>,
}

impl LoadedPlugin {
    /// Links a compiled component against the host's imports and finds its
    /// hooks, of whichever contract version it was built against. Fails
    /// when it imports something the host does not give (a filesystem,
    /// sockets of its own, another package) or exports no hook.
    pub fn prepare(key: String, name: String, component: &Component) -> Result<Self, PluginError> {
        let pre = versions::linker()
            .instantiate_pre(component)
            .map_err(|e| PluginError::load(format!("it needs imports this server does not provide: {e}")))?;
        let events = versions::v0_3_0::find_events(&pre).map(std::sync::Arc::new);
        let exports = match (versions::find(&pre), &events) {
            (Some(exports), _) => exports,
            (None, Some(_)) => std::sync::Arc::new(versions::v0_3_0::EventsOnly) as std::sync::Arc<dyn Contract>,
            (None, None) => {
                return Err(PluginError::load(format!(
                    "it exports no hook of {} (subject, transcript, assignment, summary or fields) and no event \
                     hook of threadline:plugin@0.3.0",
                    versions::named()
                )));
            }
        };
        let range = component.image_range();
        Ok(Self {
            hooks: exports.hooks(),
            exports,
            code_bytes: (range.end as usize).saturating_sub(range.start as usize),
            sha256: String::new(),
            version: None,
            key,
            name,
            pre,
            events,
        })
    }

    /// Whether it has event hooks (contract 0.3.0).
    pub fn has_events(&self) -> bool {
        self.events.is_some()
    }

    /// Runs its event hook of `kind` on `document` under `limits`, as a
    /// hook call runs (a fresh store, fuel, memory cap, deadline): the
    /// outer error is a limit or a trap, the inner one the plugin's own.
    pub async fn run_event(
        &self,
        limits: Limits,
        tenant_id: &str,
        kind: crate::domain::automation::EventKind,
        config: Vec<(String, String)>,
        time_zone: String,
        document: std::sync::Arc<serde_json::Value>,
    ) -> Result<Result<Vec<crate::domain::automation::Action>, String>, PluginError> {
        let Some(events) = self.events.clone() else {
            return Err(PluginError::load(
                "it has no event hooks (threadline:plugin@0.3.0)".to_owned(),
            ));
        };
        // Plugin log lines name a hook: an event's go under `fields`.
        self.run_with(limits, tenant_id, HookKind::Fields, move |store, instance| {
            Box::pin(async move { events.call(store, instance, kind, config, time_zone, &document).await })
        })
        .await
    }

    pub fn hooks(&self) -> Vec<HookKind> {
        self.hooks.clone()
    }

    pub fn exports(&self, hook: HookKind) -> bool {
        self.hooks.contains(&hook)
    }

    /// The contract version it was built against.
    pub fn contract_version(&self) -> &'static str {
        self.exports.version()
    }

    fn store(&self, limits: Limits, tenant_id: &str, hook: HookKind, time_zone: &str) -> Store<CallState> {
        let tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
        let mut store = Store::new(
            engine(),
            CallState::new(limits.memory_bytes as usize, tenant_id, &self.name, hook, tz),
        );
        store.limiter(|s| &mut s.memory);
        store
    }

    /// Checks every export it was found with against its contract
    /// version's types, on an instance made under the default limits: an
    /// export with the right name and the wrong type is refused at upload,
    /// not faulted on every call. The error names the function.
    pub async fn check_types(&self) -> Result<(), PluginError> {
        let exports = self.exports.clone();
        let events = self.events.clone();
        self.run_with(Limits::DEFAULT, "", HookKind::Subject, move |store, instance| {
            Box::pin(async move {
                let checked = exports.check(store, instance);
                Ok(checked.and_then(|()| events.map_or(Ok(()), |ev| ev.check(store, instance))))
            })
        })
        .await?
        .map_err(PluginError::load)
    }

    /// What the plugin says of itself, when it can say it (0.2.0 plugins
    /// with a `describe` export): run once, at upload, under the default
    /// limits. `Ok(None)` when it has no such export.
    pub async fn describe(&self) -> Result<Option<Manifest>, PluginError> {
        if !self.exports.describes() {
            return Ok(None);
        }
        let exports = self.exports.clone();
        let manifest = self
            .run_with(Limits::DEFAULT, "", HookKind::Subject, move |store, instance| {
                Box::pin(async move { exports.describe(store, instance).await })
            })
            .await
            .map_err(|e| PluginError::load(format!("its describe() failed: {}", e.reason)))?;
        if let Some(manifest) = &manifest {
            manifest.check(&self.hooks).map_err(PluginError::load)?;
        }
        Ok(manifest)
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
        let mut store = match self.limited_store(limits, &call.tenant_id, hook, &input.chat().time_zone, deadline) {
            Ok(store) => store,
            Err(e) => {
                return Finished {
                    output: Err(e),
                    fuel: None,
                    wall: started.elapsed(),
                    peak_memory_bytes: 0,
                    log: Vec::new(),
                };
            }
        };
        store.data_mut().outbound = call.outbound.clone().map(|grant| CallOutbound {
            grant,
            deadline,
            made: 0,
        });

        let outcome = tokio::time::timeout_at(deadline.into(), self.invoke(&mut store, &call.config, input)).await;
        let wall = started.elapsed();
        let state = store.data();
        if state.log.dropped > 0 {
            tracing::warn!(tenant = %call.tenant_id, plugin = %log_text(&self.name), %hook, dropped = state.log.dropped,
                "plugin log lines over the per-call cap were dropped");
        }
        let elapsed_ms = wall.as_secs_f64() * 1000.0;
        let (output, fuel) = match outcome {
            Err(_elapsed) => (Err(deadline_passed(limits, elapsed_ms)), None),
            Ok(Err(e)) => (Err(explain(&e, limits, state, elapsed_ms)), None),
            // A guest that caught the refused allocation (JavaScript's
            // RangeError) still failed for want of memory: say so first.
            Ok(Ok(Err(own))) if state.memory.hit => (
                Err(PluginError::new(
                    FaultKind::Memory,
                    format!(
                        "it tried to use more than its memory limit of {} MiB, then {own}",
                        limits.memory_bytes >> 20
                    ),
                )),
                None,
            ),
            Ok(Ok(Err(own))) => (Err(PluginError::new(FaultKind::Error, own)), None),
            Ok(Ok(Ok(out))) => {
                let fuel = limits.fuel - store.get_fuel().unwrap_or(0);
                tracing::debug!(tenant = %call.tenant_id, plugin = %log_text(&self.name), %hook, fuel, elapsed_ms, "plugin call");
                (Ok(out), Some(fuel))
            }
        };
        let peak_memory_bytes = state.memory.peak;
        Finished {
            output,
            fuel,
            wall,
            peak_memory_bytes,
            log: std::mem::take(&mut store.data_mut().log.lines),
        }
    }

    /// A store for one call: its fuel, its memory cap, and its deadline,
    /// checked at every epoch tick (where the call also yields).
    fn limited_store(
        &self,
        limits: Limits,
        tenant_id: &str,
        hook: HookKind,
        time_zone: &str,
        deadline: Instant,
    ) -> Result<Store<CallState>, PluginError> {
        let mut store = self.store(limits, tenant_id, hook, time_zone);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginError::new(FaultKind::Trap, format!("it could not start: {e}")))?;
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
        Ok(store)
    }

    /// The pre-linked component, for callers of exports beyond the hooks.
    pub(super) fn pre(&self) -> &InstancePre<CallState> {
        &self.pre
    }

    /// Instantiates the component and runs `call` on it under `limits`, as
    /// a hook call runs (fuel, memory cap, deadline); a failure is worded
    /// as a hook call's is.
    pub(super) async fn run_with<T>(
        &self,
        limits: Limits,
        tenant_id: &str,
        hook: HookKind,
        call: impl for<'a> FnOnce(
            &'a mut Store<CallState>,
            &'a wasmtime::component::Instance,
        ) -> std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> Result<T, PluginError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(u64::from(limits.timeout_ms));
        let mut store = self.limited_store(limits, tenant_id, hook, "UTC", deadline)?;
        let outcome = tokio::time::timeout_at(deadline.into(), async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            call(&mut store, &instance).await
        })
        .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Err(_elapsed) => Err(deadline_passed(limits, elapsed_ms)),
            Ok(Err(e)) => Err(explain(&e, limits, store.data(), elapsed_ms)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// Instantiates the component and calls the hook, in the terms of the
    /// contract version it was built against. The inner error is the
    /// plugin's own, worded for the operator.
    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        config: &[(String, String)],
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        self.exports.invoke(store, &instance, config, input).await
    }
}

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
fn explain(e: &wasmtime::Error, limits: Limits, state: &CallState, elapsed_ms: f64) -> PluginError {
    use FaultKind as K;
    let memory_cap_hit = state.memory.hit;
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
        Some(Trap::UnreachableCodeReached) => match panic_message(&state.stderr()) {
            Some(message) => PluginError::new(K::Trap, format!("it panicked: {message}")),
            None => PluginError::new(K::Trap, "it trapped (unreachable code: a panic or an abort)"),
        },
        Some(trap) => PluginError::new(K::Trap, format!("it trapped: {trap}")),
        None => {
            let text = format!("{e:#}");
            let text: String = text.chars().take(500).collect();
            PluginError::new(K::Trap, format!("it failed: {text}"))
        }
    }
}

/// The message of a Rust panic from what the guest wrote to standard
/// error (`thread '…' panicked at FILE:LINE:COL:` then the message), on one
/// line and clipped; `None` when there is none.
fn panic_message(stderr: &str) -> Option<String> {
    let after = stderr
        .rfind("panicked at ")
        .map(|i| &stderr[i + "panicked at ".len()..])?;
    let (place, message) = after.split_once(":\n").unwrap_or(("", after));
    let message: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: "))
        .collect();
    let mut text = message.join(" ");
    // The standard library's own paths carry the toolchain's commit hash.
    let place = place.trim();
    let place = match place.find("/library/") {
        Some(i) if place.starts_with("/rustc/") => &place[i + 1..],
        _ => place,
    };
    if !place.is_empty() {
        text.push_str(&format!(" (at {place})"));
    }
    let text: String = text.chars().filter(|c| !c.is_control()).take(400).collect();
    (!text.is_empty()).then_some(text)
}
