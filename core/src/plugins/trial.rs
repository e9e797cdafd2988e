//! Trying a plugin without converting: one hook on one chat, its own answer
//! or fault with no failure policy between (a shadow run, the local
//! runner), and the save-time check of a JavaScript rule.

use std::time::Duration;

use super::adapter::PluginHook;
use super::call::HookOutput;
use super::engine;
use super::host::PluginHost;
use super::javascript;
use super::limits::Limits;
use super::local::{self, Input};
use super::pipeline::{HookSettings, is_native_default};
use crate::domain::hooks::{FaultKind, HookKind, TicketFields};

/// One hook's run on one chat: what it answered or why it failed, and what
/// it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// The plugin as the pipeline names it (a built-in's name or an
    /// upload's id).
    pub plugin: String,
    /// Its name, when it loaded.
    pub plugin_name: Option<String>,
    pub output: Option<HookOutput>,
    pub fault: Option<TrialFault>,
    /// Fuel used, when the call ran to its end.
    pub fuel: Option<u64>,
    pub peak_memory_bytes: Option<usize>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialFault {
    pub kind: FaultKind,
    pub reason: String,
}

impl Trial {
    /// Roughly what its answer weighs as text (a fault's reason counts
    /// too): what a shadow run's size bound adds up.
    pub fn output_bytes(&self) -> usize {
        let answer = match &self.output {
            Some(HookOutput::Text(t)) | Some(HookOutput::Summary(Some(t))) => t.len(),
            Some(HookOutput::Fields(f)) => {
                f.tags.iter().map(String::len).sum::<usize>()
                    + f.custom.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            }
            Some(HookOutput::Summary(None)) | None => 0,
        };
        answer + self.fault.as_ref().map_or(0, |f| f.reason.len())
    }

    /// A run that never started: the plugin did not load, or lacks the hook.
    fn refused(plugin: String, kind: FaultKind, reason: String) -> Self {
        Self {
            plugin,
            plugin_name: None,
            output: None,
            fault: Some(TrialFault { kind, reason }),
            fuel: None,
            peak_memory_bytes: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Whether two runs answered differently (output or fault; not cost).
    pub fn differs_from(&self, other: &Trial) -> bool {
        self.output != other.output || self.fault != other.fault
    }
}

impl PluginHost {
    /// One hook of one pipeline on one chat, for a shadow run: the plugin's
    /// own answer or fault (no failure policy, nothing recorded as a
    /// fault), what it cost, and which plugin it was. The call goes through
    /// the workspace's slots like any other.
    pub async fn trial(&self, tenant_id: &str, hook: HookKind, s: &HookSettings, input: &Input) -> Trial {
        if is_native_default(hook, &s.plugin) {
            return Trial {
                plugin: s.plugin.clone(),
                plugin_name: None,
                output: Some(HookOutput::Fields(TicketFields::default())),
                fault: None,
                fuel: None,
                peak_memory_bytes: None,
                elapsed: Duration::ZERO,
            };
        }
        let plugin = match self.load(tenant_id, &s.plugin).await {
            Ok(p) if p.exports(hook) => p,
            Ok(p) => {
                let reason = format!("it does not export the {hook} hook");
                return Trial::refused(p.name.clone(), FaultKind::Load, reason);
            }
            Err(e) => return Trial::refused(s.plugin.clone(), e.kind, e.reason),
        };
        let name = plugin.name.clone();
        let config = s.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let one = PluginHook::new(plugin, tenant_id.to_owned(), s.limits, config, self.gate.clone()).observed();
        let mut ran = local::call(&one, hook, input).await;
        ran.plugin = s.plugin.clone();
        ran.plugin_name = Some(name);
        ran
    }

    /// Checks a JavaScript rule before it is saved for `hook`: it parses,
    /// its top level runs within `limits`, and it defines the hook's
    /// function. The check runs in the JavaScript plugin, through the
    /// workspace's slots like any call. The error is the operator's to fix,
    /// with the line and column when there is one.
    pub async fn check_rule(
        &self,
        tenant_id: &str,
        hook: HookKind,
        source: &str,
        limits: Limits,
    ) -> Result<(), javascript::Refusal> {
        let refused = |message: String| javascript::Refusal { at: None, message };
        let plugin = self.builtin(javascript::NAME).await.map_err(|e| refused(e.reason))?;
        let slot = self.gate.slots.acquire(tenant_id).await.map_err(|t| {
            refused(format!(
                "the rule could not be checked: every plugin slot of the workspace stayed busy for {:.0} ms",
                t.waited.as_secs_f64() * 1000.0
            ))
        })?;
        let (tenant, source) = (tenant_id.to_owned(), source.to_owned());
        let checked = engine::runtime()
            .spawn(async move {
                let checked = javascript::check(&plugin, &tenant, hook, &source, limits).await;
                drop(slot);
                checked
            })
            .await
            .map_err(|e| refused(format!("the rule could not be checked: {e}")))?;
        match checked {
            Ok(result) => result.map_err(javascript::Refusal::from),
            // A limit or a trap while its top level ran.
            Err(e) => Err(refused(format!("its top level {}", e.reason.trim_start_matches("it ")))),
        }
    }
}
