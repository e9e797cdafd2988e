//! A loaded plugin: one `InstancePre` per plugin, and a fresh `Store` with
//! its own limits for every hook call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::engine::engine;
use super::error::PluginError;
use super::limits::Limits;
use super::sandbox::{CallState, linker};
use super::versions::v0_1_0::{VERSION as WIT_VERSION, bindings, wit};
use crate::domain::hooks::{FaultKind, HookKind};
use bindings::exports::threadline::plugin::{assignment, subject, summary, transcript};

/// Fuel between yields: about a millisecond of work.
const YIELD_FUEL: u64 = 2_000_000;

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
    /// The largest linear memory the call was given.
    pub peak_memory_bytes: usize,
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
    pub fn prepare(key: String, name: String, component: &Component) -> Result<Self, PluginError> {
        let pre = linker()
            .instantiate_pre(component)
            .map_err(|e| PluginError::load(format!("it needs imports this server does not provide: {e}")))?;
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
            return Err(PluginError::load(format!(
                "it exports no hook of threadline:plugin@{WIT_VERSION} \
                 (subject, transcript, assignment or summary)"
            )));
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
                peak_memory_bytes: 0,
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
        Finished {
            output,
            fuel,
            wall,
            peak_memory_bytes: state.memory.peak,
        }
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

/// What one call carries in: who it runs for, its limits, and the context
/// record the plugin receives.
pub struct CallSettings {
    pub tenant_id: String,
    pub limits: Limits,
    pub context: wit::Context,
}
