//! `threadline plugin test`: a plugin on a folder of chat files.

use serde_json::{Value, json};

use super::report;
use crate::domain::hooks::HookKind;
use crate::plugins::PluginHook;
use crate::plugins::local::ChatFile;

/// Runs `hooks` of `plugin` on every chat file (`*.json`) of `dir`, in name
/// order, and reports each run (its fault, or an answer other than the
/// file's `expect`) and the totals: what `plugin test` prints.
pub(super) async fn run(plugin: &PluginHook, hooks: &[HookKind], dir: &std::path::Path) -> anyhow::Result<Value> {
    use anyhow::Context;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no chat files (*.json) in {}", dir.display());
    }
    let (mut runs, mut failed) = (Vec::new(), 0usize);
    let (mut max_fuel, mut max_ms, mut total_ms, mut timed) = (0u64, 0f64, 0f64, 0usize);
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = ChatFile::read(file).map_err(|e| format!("{e:#}")).and_then(|chat| {
            let expect = chat.expect.clone().unwrap_or_default();
            chat.into_input().map(|input| (expect, input))
        });
        let (expect, input) = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                failed += 1;
                runs.push(json!({"chat": name, "ok": false, "problem": format!("not a usable chat file: {reason}")}));
                continue;
            }
        };
        for &hook in hooks {
            let result = report::run(plugin, hook, &input).await;
            let problem = match (result["fault"]["reason"].as_str(), expect.get(hook.as_str())) {
                (Some(reason), _) => Some(format!("the plugin failed: {reason}")),
                (None, Some(expected)) if *expected != result["output"] => {
                    Some(format!("expected {expected}, got {}", result["output"]))
                }
                _ => None,
            };
            let fuel = result["fuel"].as_u64();
            let ms = result["elapsed_ms"].as_f64().unwrap_or(0.0);
            max_fuel = max_fuel.max(fuel.unwrap_or(0));
            max_ms = max_ms.max(ms);
            total_ms += ms;
            timed += 1;
            failed += usize::from(problem.is_some());
            runs.push(json!({
                "chat": name,
                "hook": hook.as_str(),
                "ok": problem.is_none(),
                "problem": problem,
                "fuel": fuel,
                "peak_memory_bytes": result["peak_memory_bytes"],
                "elapsed_ms": ms,
            }));
        }
    }
    Ok(json!({
        "chats": files.len(),
        "passed": runs.len() - failed,
        "failed": failed,
        "max_fuel": max_fuel,
        "max_elapsed_ms": max_ms,
        "mean_elapsed_ms": if timed > 0 { total_ms / timed as f64 } else { 0.0 },
        "runs": runs,
    }))
}
