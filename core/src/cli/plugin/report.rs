//! What the local runner prints of a run: the plugin's answer or fault and
//! its cost, beside the built-in rule's answer.

use serde_json::{Value, json};

use crate::domain::hooks::HookKind;
use crate::plugins::local::{self, Input};
use crate::plugins::{PluginHook, Trial};

/// Runs one hook of `plugin` on `input` beside the built-in rule, with the
/// server's limits and output checks, and reports what an author needs:
/// the answer or the fault, the built-in rule's answer, fuel, peak memory
/// and time.
pub(super) async fn run(plugin: &PluginHook, hook: HookKind, input: &Input) -> Value {
    let trial = local::call(plugin, hook, input).await;
    let mut report = trial_json(hook, &trial);
    report["builtin_output"] = json!(local::builtin_answer(hook, input).await);
    report
}

fn trial_json(hook: HookKind, trial: &Trial) -> Value {
    json!({
        "hook": hook.as_str(),
        "output": trial.output,
        "fault": trial.fault.as_ref().map(|f| json!({"kind": f.kind.as_str(), "reason": f.reason})),
        "fuel": trial.fuel,
        "peak_memory_bytes": trial.peak_memory_bytes,
        "elapsed_ms": trial.elapsed.as_secs_f64() * 1000.0,
    })
}
