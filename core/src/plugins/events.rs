//! Rules on events, run by the built-in `javascript` plugin: the check of
//! a rule when it is saved (its source parses and defines the function
//! named after its event), and the call (`ticket_created(event, context)`
//! and the like), in the same sandbox, limits and per-workspace slots as
//! the conversion's hooks.

use serde_json::Value;

use super::PluginHost;
use super::engine;
use super::javascript;
use super::limits::Limits;
use crate::automation::rules::RuleEngine;
use crate::domain::InvalidInput;
use crate::domain::automation::{Action, EventKind};
use crate::domain::hooks::HookKind;
use crate::store::{Automation, NewLogLine};

/// A rule's limits as stored (`{fuel, timeout_ms, memory_bytes}`, each
/// optional), over its plugin's defaults.
fn limits(plugin: &str, given: Option<&Value>) -> Result<Limits, InvalidInput> {
    let d = javascript::default_limits(plugin);
    let Some(given) = given else { return Ok(d) };
    let obj = given
        .as_object()
        .ok_or_else(|| InvalidInput::new("limits", "limits must be an object {fuel, timeout_ms, memory_bytes}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "fuel" | "timeout_ms" | "memory_bytes"))
    {
        return Err(InvalidInput::new(
            format!("limits.{k}"),
            "the limits are fuel, timeout_ms and memory_bytes",
        ));
    }
    let number = |key: &str, default: u64| -> Result<u64, InvalidInput> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| InvalidInput::new(format!("limits.{key}"), format!("{key} must be a whole number"))),
        }
    };
    let l = Limits {
        fuel: number("fuel", d.fuel)?,
        timeout_ms: u32::try_from(number("timeout_ms", u64::from(d.timeout_ms))?)
            .map_err(|_| InvalidInput::new("limits.timeout_ms", "timeout_ms is too large"))?,
        memory_bytes: number("memory_bytes", d.memory_bytes)?,
    };
    l.check()?;
    Ok(l)
}

/// An uploaded plugin's settings: an object of strings, as a hook's.
fn settings(config: &Value) -> Result<Vec<(String, String)>, InvalidInput> {
    let obj = config
        .as_object()
        .ok_or_else(|| InvalidInput::new("config", "config must be an object of strings"))?;
    if obj.len() > super::limits::MAX_CONFIG_ENTRIES {
        return Err(InvalidInput::new(
            "config",
            format!("at most {} settings", super::limits::MAX_CONFIG_ENTRIES),
        ));
    }
    obj.iter()
        .map(|(k, v)| match v.as_str() {
            Some(text) if text.len() <= super::limits::MAX_CONFIG_VALUE_BYTES && !k.is_empty() && k.len() <= 64 => {
                Ok((k.clone(), text.to_owned()))
            }
            _ => Err(InvalidInput::new(
                format!("config.{k}"),
                format!(
                    "settings are strings of at most {} bytes, under names of 1 to 64 characters",
                    super::limits::MAX_CONFIG_VALUE_BYTES
                ),
            )),
        })
        .collect()
}

/// The source of a rule's settings (`{source}`).
fn source(config: &Value) -> Result<&str, InvalidInput> {
    let obj = config
        .as_object()
        .ok_or_else(|| InvalidInput::new("config", "config must be an object {source}"))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != javascript::SOURCE) {
        return Err(InvalidInput::new(
            format!("config.{k}"),
            "a JavaScript rule takes source alone",
        ));
    }
    let source = obj
        .get(javascript::SOURCE)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| InvalidInput::new("config.source", "source is required: the rule's JavaScript"))?;
    if source.len() > javascript::MAX_SOURCE_BYTES {
        return Err(InvalidInput::new(
            "config.source",
            format!("source is over {} bytes", javascript::MAX_SOURCE_BYTES),
        ));
    }
    Ok(source)
}

impl PluginHost {
    /// Checks a rule on `event` run by `plugin` with `config` and `limits`
    /// before it is saved: the plugin runs rules on events (`javascript`),
    /// the source parses, its top level runs within the limits, and it
    /// defines the function named after the event. Returns them as stored.
    pub async fn check_event_rule(
        &self,
        tenant_id: &str,
        plugin: &str,
        event: EventKind,
        config: Value,
        given: Option<Value>,
    ) -> Result<(Value, Option<Value>), InvalidInput> {
        if crate::store::is_uploaded_plugin_ref(plugin) {
            let limits = limits(plugin, given.as_ref())?;
            settings(&config)?;
            let loaded = self
                .load(tenant_id, plugin)
                .await
                .map_err(|e| InvalidInput::new("plugin", format!("plugin {plugin}: {}", e.reason)))?;
            if !loaded.has_events() {
                return Err(InvalidInput::new(
                    "plugin",
                    format!(
                        "{} has no event hooks: an automation needs a plugin that exports \
                         threadline:plugin/events@0.3.0",
                        loaded.name
                    ),
                ));
            }
            let _ = (event, limits);
            return Ok((config, given));
        }
        if plugin != javascript::NAME {
            return Err(InvalidInput::new(
                "plugin",
                format!(
                    "{plugin:?} does not run automations: the plugins are javascript or an uploaded plugin with \
                     event hooks (a rule on an event), and the built-in close-pending, escalate-before-breach and \
                     chat-wait-reply (on the schedule)"
                ),
            ));
        }
        let limits = limits(plugin, given.as_ref())?;
        let source = source(&config)?;
        let refused = |message: String| InvalidInput::new("config.source", message);
        let loaded = self.builtin(javascript::NAME).await.map_err(|e| refused(e.reason))?;
        let slot = self.gate.slots.acquire(tenant_id).await.map_err(|t| {
            refused(format!(
                "the rule could not be checked: every plugin slot of the workspace stayed busy for {:.0} ms",
                t.waited.as_secs_f64() * 1000.0
            ))
        })?;
        let (tenant, text) = (tenant_id.to_owned(), source.to_owned());
        let checked = engine::runtime()
            .spawn(async move {
                let checked =
                    javascript::check_function(&loaded, &tenant, HookKind::Fields, event.as_str(), &text, limits).await;
                drop(slot);
                checked
            })
            .await
            .map_err(|e| refused(format!("the rule could not be checked: {e}")))?;
        match checked {
            Ok(Ok(())) => Ok((config, given)),
            Ok(Err(e)) => Err(InvalidInput::new(
                "config.source",
                format!("line {}, column {}: {}", e.line, e.column, e.message),
            )
            .at(e.line, e.column)),
            Err(e) => Err(refused(format!("its top level {}", e.reason.trim_start_matches("it ")))),
        }
    }
}

#[async_trait::async_trait]
impl RuleEngine for PluginHost {
    /// Runs the rule, and notes its outcome in the workspace's plugin log
    /// under the event's name.
    async fn run(&self, rule: &Automation, event: EventKind, payload: &Value) -> Result<Vec<Action>, String> {
        let started = std::time::Instant::now();
        let outcome = self.run_rule(rule, event, payload).await;
        let message = match &outcome {
            Ok(actions) => format!("ok: {} actions", actions.len()),
            Err(e) => crate::domain::log_text(e).into_owned(),
        };
        self.gate.logs.push([NewLogLine {
            tenant_id: rule.tenant_id.clone(),
            at: chrono::Utc::now(),
            plugin: rule.plugin.clone(),
            plugin_name: format!("automation {}", crate::domain::log_text(&rule.name)),
            hook: event.as_str().to_owned(),
            level: "call".to_owned(),
            message,
            chat_id: payload["chat"]["id"].as_str().map(str::to_owned),
            outcome: Some(if outcome.is_ok() { "ok" } else { "error" }.to_owned()),
            fuel: None,
            elapsed_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
        }]);
        outcome
    }
}

impl PluginHost {
    async fn run_rule(&self, rule: &Automation, event: EventKind, payload: &Value) -> Result<Vec<Action>, String> {
        if crate::store::is_uploaded_plugin_ref(&rule.plugin) {
            return self.run_uploaded(rule, event, payload).await;
        }
        if rule.plugin != javascript::NAME {
            return Err(format!("{} does not run rules on events", rule.plugin));
        }
        let config: Value = serde_json::from_str(&rule.config).map_err(|e| format!("its settings do not read: {e}"))?;
        let source = source(&config).map_err(|e| e.message)?.to_owned();
        let limits = rule_limits(rule)?;
        let loaded = self.builtin(javascript::NAME).await.map_err(|e| e.reason)?;
        let (time_zone, slot) = self.zone_and_slot(&rule.tenant_id).await?;
        let context = serde_json::json!({"time_zone": time_zone}).to_string();
        let answer = call(
            loaded,
            &rule.tenant_id,
            event,
            source,
            payload.to_string(),
            context,
            limits,
        )
        .await;
        drop(slot);
        answer
    }
}

/// A stored rule's limits over its plugin's defaults.
fn rule_limits(rule: &Automation) -> Result<Limits, String> {
    let stored: Option<Value> = rule.limits.as_deref().and_then(|l| serde_json::from_str(l).ok());
    limits(&rule.plugin, stored.as_ref()).map_err(|e| e.message)
}

impl PluginHost {
    /// The workspace's time zone (a rule's context), then one of its plugin
    /// slots, held by the caller for the call.
    async fn zone_and_slot(&self, tenant_id: &str) -> Result<(String, super::slots::Slot), String> {
        let time_zone = self
            .store()
            .tenant(tenant_id)
            .await
            .map(|t| t.time_zone)
            .unwrap_or_else(|_| "UTC".into());
        let slot = self.gate.slots.acquire(tenant_id).await.map_err(|t| {
            format!(
                "every plugin slot of the workspace stayed busy for {:.0} ms",
                t.waited.as_secs_f64() * 1000.0
            )
        })?;
        Ok((time_zone, slot))
    }

    /// Runs an uploaded plugin's event hook: its settings, its limits (the
    /// defaults of any hook otherwise), the workspace's slot, the plugin
    /// runtime.
    async fn run_uploaded(&self, rule: &Automation, event: EventKind, payload: &Value) -> Result<Vec<Action>, String> {
        let config: Value = serde_json::from_str(&rule.config).map_err(|e| format!("its settings do not read: {e}"))?;
        let config = settings(&config).map_err(|e| e.message)?;
        let limits = rule_limits(rule)?;
        let loaded = self.load(&rule.tenant_id, &rule.plugin).await.map_err(|e| e.reason)?;
        let (time_zone, slot) = self.zone_and_slot(&rule.tenant_id).await?;
        let (tenant, document) = (rule.tenant_id.clone(), std::sync::Arc::new(payload.clone()));
        let ran = first_slice_here(async move {
            loaded
                .run_event(limits, &tenant, event, config, time_zone, document)
                .await
        })
        .await?;
        drop(slot);
        match ran {
            Ok(answer) => answer,
            Err(e) => Err(e.reason),
        }
    }
}

/// Runs `call`'s first slice on this thread and the rest, if it yields
/// (after about a millisecond of work, or to wait on the host), on the
/// plugin runtime, as the conversion's hook calls run: most rules end in
/// their first slice, and a hop to another thread costs more than they do.
async fn first_slice_here<T: Send + 'static>(
    call: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    use std::task::Poll;
    let mut call = Box::pin(call);
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(done) => Ok(done),
        Poll::Pending => engine::runtime()
            .spawn(call)
            .await
            .map_err(|e| format!("the rule could not run: {e}")),
    }
}

/// Runs a rule as hook calls run (see [`first_slice_here`]) and reads its
/// answer.
async fn call(
    loaded: std::sync::Arc<super::LoadedPlugin>,
    tenant_id: &str,
    event: EventKind,
    source: String,
    document: String,
    context: String,
    limits: Limits,
) -> Result<Vec<Action>, String> {
    let tenant = tenant_id.to_owned();
    let ran = first_slice_here(async move {
        javascript::on_event(&loaded, &tenant, event.as_str(), &source, document, context, limits).await
    })
    .await?;
    let answer = match ran {
        Ok(Ok(answer)) => answer,
        Ok(Err(own)) => return Err(own),
        Err(e) => return Err(e.reason),
    };
    let value: Value = serde_json::from_str(&answer).map_err(|e| format!("its answer does not read: {e}"))?;
    Action::parse_all(&value).map_err(|e| format!("{}() answered {e}", event.as_str()))
}

/// A JavaScript rule on an event outside a server (benchmarks): checked
/// when loaded, each run as the dispatcher runs it.
pub struct EventRule {
    plugin: std::sync::Arc<super::LoadedPlugin>,
    event: EventKind,
    source: String,
    limits: Limits,
}

impl EventRule {
    pub async fn load(
        source: &str,
        event: EventKind,
        limits: Limits,
        cache_dir: Option<std::path::PathBuf>,
    ) -> Result<Self, super::PluginError> {
        let plugin = super::builtin::load(javascript::NAME, cache_dir.map(super::cache::DiskCache::new), None).await?;
        if let Err(e) =
            javascript::check_function(&plugin, "local", HookKind::Fields, event.as_str(), source, limits).await?
        {
            return Err(super::PluginError::load(javascript::Refusal::from(e).located()));
        }
        Ok(Self {
            plugin,
            event,
            source: source.to_owned(),
            limits,
        })
    }

    /// Runs it on `document` (the event as webhooks receive it).
    pub async fn run(&self, document: &Value) -> Result<Vec<Action>, String> {
        let context = serde_json::json!({"time_zone": "UTC"}).to_string();
        call(
            self.plugin.clone(),
            "local",
            self.event,
            self.source.clone(),
            document.to_string(),
            context,
            self.limits,
        )
        .await
    }
}
