//! The built-in `javascript` plugin, host side: rules as source text run by
//! one shared component that embeds a JavaScript engine (`plugins/javascript`).
//!
//! - Pre-initialisation: the engine's start-up (realm, built-ins) costs
//!   about 2 M fuel a call. wasmtime-wizer runs the component's
//!   `wizer-initialize` once and snapshots its memory into a new
//!   component, whose instances start with the engine built. The snapshot
//!   is made when a process first loads the plugin with a cold cache and is
//!   kept compiled in the plugin cache, so a warm start compiles nothing.
//! - The check of a rule's source at save time (its own export).
//! - Limits: a JavaScript rule pays an interpreter, so its defaults are
//!   larger than a Rust plugin's (sized from the hooks benchmark).

use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime::{Store, UpdateDeadline};

use super::engine::engine;
use super::limits::Limits;
use super::loaded::LoadedPlugin;
use super::sandbox::CallState;
use super::versions::linker;
use crate::domain::hooks::HookKind;

/// The built-in plugin's name, as pipelines name it.
pub const NAME: &str = "javascript";

/// The setting that holds a rule's source, and how long it may be.
pub const SOURCE: &str = "source";
pub const MAX_SOURCE_BYTES: usize = 64 << 10;

/// Default limits of a JavaScript rule. A transcript rule over a
/// 1,000-message chat (252 KB) used about 110 M fuel and 25 ms here
/// (`cargo bench -p threadline-tests --bench hooks`); these leave it room
/// fourfold, and an infinite loop is stopped in about 100 ms.
pub const LIMITS: Limits = Limits {
    fuel: 500_000_000,
    timeout_ms: 250,
    memory_bytes: 64 << 20,
};

/// The limits a hook running `plugin` gets when the pipeline sets none.
pub fn default_limits(plugin: &str) -> Limits {
    if plugin == NAME { LIMITS } else { Limits::DEFAULT }
}

/// What the plugin says of itself (its `describe` export says the same; a
/// test holds them together), known without loading it: with a cold cache
/// a process spends seconds making it, and the plugin list should not wait.
pub fn manifest() -> super::manifest::Manifest {
    use super::manifest::{Manifest, SettingKind, SettingSpec};
    Manifest {
        name: NAME.into(),
        version: "0.1.0".into(),
        hooks: HookKind::ALL.iter().map(|h| h.as_str().to_owned()).collect(),
        settings: vec![SettingSpec {
            key: SOURCE.into(),
            kind: SettingKind::Text,
            default: None,
            description: "The rule in JavaScript: a function named after the hook (subject, transcript, assign, \
                          summary or fields) that takes the chat and returns the hook's answer."
                .into(),
            choices: Vec::new(),
        }],
    }
}

/// The function a rule defines for `hook`.
pub fn function(hook: HookKind) -> &'static str {
    match hook {
        HookKind::Subject => "subject",
        HookKind::Transcript => "transcript",
        HookKind::Assignment => "assign",
        HookKind::Summary => "summary",
        HookKind::Fields => "fields",
    }
}

/// A first rule for `hook`, for an operator to start from: it gives the
/// built-in rule's kind of answer.
pub fn starter(hook: HookKind) -> &'static str {
    match hook {
        HookKind::Subject => {
            "// The new ticket's subject when the agent leaves it blank.\nfunction subject(chat) {\n  return \"Chat \
             with \" + chat.visitor.name;\n}\n"
        }
        HookKind::Transcript => {
            "// The ticket's description, from the chat's messages.\nfunction transcript(chat) {\n  return \
             chat.messages.map((m) => m.author_name + \": \" + m.body).join(\"\\n\");\n}\n"
        }
        HookKind::Assignment => {
            "// Who gets the ticket: an id of one of the candidates.\nfunction assign(chat, agent, candidates) {\n  \
             return agent.id;\n}\n"
        }
        HookKind::Summary => {
            "// The summary kept with the chat when it closes (null for none).\nfunction summary(chat) {\n  const \
             first = chat.first_visitor_message;\n  return first ? first.body.slice(0, 200) : null;\n}\n"
        }
        HookKind::Fields => {
            "// The ticket's priority, tags and custom fields.\nfunction fields(chat) {\n  return { priority: null, \
             tags: [], custom: {} };\n}\n"
        }
    }
}

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugins/javascript/wit",
        world: "javascript",
        exports: { default: async },
    });
}

pub use bindings::exports::threadline::javascript::rules::SourceError;

/// Why a rule is not saved: where in its source, when that is known (a
/// syntax error; not a limit its top level ran into), and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub at: Option<(u32, u32)>,
    pub message: String,
}

impl Refusal {
    /// `line 2, column 20: SyntaxError: …`, or the message alone.
    pub fn located(&self) -> String {
        match self.at {
            Some((line, column)) => format!("line {line}, column {column}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl From<SourceError> for Refusal {
    fn from(e: SourceError) -> Self {
        Self {
            at: Some((e.line, e.column)),
            message: e.message,
        }
    }
}

/// Runs the component's `wizer-initialize` and returns the component with
/// the memory it left behind as its initial state. Our own code, run once
/// per cold cache: generous fuel, no deadline.
pub async fn preinitialize(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut wizer = wasmtime_wizer::Wizer::new();
    // Dropping the init export produced an invalid component with
    // wasmtime-wizer 48 (seen in a probe); a second call is harmless.
    wizer.keep_init_func(true);
    let (cx, instrumented) = wizer
        .instrument_component(wasm)
        .map_err(|e| format!("cannot instrument the component: {e}"))?;
    let component = Component::new(engine(), &instrumented)
        .map_err(|e| format!("cannot compile the instrumented component: {e}"))?;
    let mut store = Store::new(
        engine(),
        CallState::new(
            LIMITS.memory_bytes as usize,
            "",
            NAME,
            HookKind::Subject,
            chrono_tz::UTC,
        ),
    );
    store.limiter(|s| &mut s.memory);
    store.set_fuel(10_000_000_000).map_err(|e| e.to_string())?;
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
    store.set_epoch_deadline(1);
    let instance = linker()
        .instantiate_async(&mut store, &component)
        .await
        .map_err(|e| format!("cannot instantiate the instrumented component: {e}"))?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, wizer.get_init_func())
        .map_err(|e| format!("it has no {}: {e}", wizer.get_init_func()))?;
    init.call_async(&mut store, ())
        .await
        .map_err(|e| format!("its initialisation failed: {e:#}"))?;
    let mut state = Snapshotting { store, instance };
    wizer
        .snapshot_component(&cx, &mut state)
        .await
        .map_err(|e| format!("cannot snapshot it: {e}"))
}

/// What wasmtime-wizer reads the initialised instance's state through.
struct Snapshotting {
    store: Store<CallState>,
    instance: Instance,
}

impl Snapshotting {
    /// Calls `func` of the exported instance `instance` (the accessors
    /// wasmtime-wizer instrumented the component with). They exist by
    /// construction, so a failure is a bug and panics.
    async fn call<R>(&mut self, instance: &str, func: &str) -> R
    where
        R: Lift + Send + Sync + 'static,
    {
        let (_, exported) = self
            .instance
            .get_export(&mut self.store, None, instance)
            .unwrap_or_else(|| panic!("the instrumented component exports {instance}"));
        let (_, f) = self
            .instance
            .get_export(&mut self.store, Some(&exported), func)
            .unwrap_or_else(|| panic!("{instance} exports {func}"));
        let f = self
            .instance
            .get_typed_func::<(), (R,)>(&mut self.store, f)
            .unwrap_or_else(|e| panic!("{instance}#{func} has the type wasmtime-wizer gave it: {e}"));
        let (r,) = f
            .call_async(&mut self.store, ())
            .await
            .unwrap_or_else(|e| panic!("{instance}#{func} runs: {e}"));
        r
    }
}

impl wasmtime_wizer::ComponentInstanceState for Snapshotting {
    async fn call_func_ret_list_u8(&mut self, instance: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        let list: WasmList<u8> = self.call(instance, func).await;
        contents(list.as_le_slice(&self.store));
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).await.to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).await.to_bits()
    }
}

/// Checks a rule's source for `hook` in the plugin, under `limits`: it
/// parses, its top level runs, and it defines the hook's function.
/// `Ok(Err(..))` is the operator's mistake, with its line and column;
/// `Err(..)` is the check itself failing (a limit, a trap).
pub async fn check(
    plugin: &LoadedPlugin,
    tenant_id: &str,
    hook: HookKind,
    source: &str,
    limits: Limits,
) -> Result<Result<(), SourceError>, super::error::PluginError> {
    check_function(plugin, tenant_id, hook, function(hook), source, limits).await
}

/// The same check for a rule whose function is `function` (an event's).
pub async fn check_function(
    plugin: &LoadedPlugin,
    tenant_id: &str,
    hook: HookKind,
    function: &'static str,
    source: &str,
    limits: Limits,
) -> Result<Result<(), SourceError>, super::error::PluginError> {
    let indices = bindings::exports::threadline::javascript::rules::GuestIndices::new(plugin.pre())
        .map_err(|e| super::error::PluginError::load(format!("the JavaScript plugin has no check: {e}")))?;
    let source = source.to_owned();
    plugin
        .run_with(limits, tenant_id, hook, move |store, instance| {
            Box::pin(async move {
                let rules = indices.load(&mut *store, instance)?;
                rules.call_check(&mut *store, &source, function).await
            })
        })
        .await
}

/// Runs a rule's `function` on `event` (JSON) in the plugin, under
/// `limits`, as a hook call runs: `Ok(Ok(json))` is the rule's answer,
/// `Ok(Err(..))` the rule's own failure (where in its source, when known),
/// `Err(..)` a limit or a trap.
pub async fn on_event(
    plugin: &LoadedPlugin,
    tenant_id: &str,
    function: &'static str,
    source: &str,
    event: String,
    context: String,
    limits: Limits,
) -> Result<Result<String, String>, super::error::PluginError> {
    let indices = bindings::exports::threadline::javascript::rules::GuestIndices::new(plugin.pre())
        .map_err(|e| super::error::PluginError::load(format!("the JavaScript plugin runs no events: {e}")))?;
    let source = source.to_owned();
    // Plugin log lines name a hook; an event's calls go under `fields`,
    // the hook whose answer (data about a ticket) they most resemble.
    plugin
        .run_with(limits, tenant_id, HookKind::Fields, move |store, instance| {
            Box::pin(async move {
                let rules = indices.load(&mut *store, instance)?;
                rules
                    .call_on_event(&mut *store, &source, function, &event, &context)
                    .await
            })
        })
        .await
}
