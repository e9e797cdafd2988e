//! `threadline plugin build`: a plugin crate built for the server's target.

use serde_json::{Value, json};

use crate::plugins::local;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds the plugin crate in `dir` for [`TARGET`] in release mode
/// (installing the target with rustup when it is missing), and says where
/// the component is, how big, and which hooks it exports: what
/// `plugin build` prints. Cargo's own messages go to standard error.
pub(super) async fn build(dir: &std::path::Path) -> anyhow::Result<Value> {
    use anyhow::Context;
    use std::process::{Command, Stdio};
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("no Cargo.toml in {}", dir.display()))?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET));
    if !installed {
        eprintln!("installing the {TARGET} target with rustup");
        let status = Command::new("rustup")
            .args(["target", "add", TARGET])
            .current_dir(dir)
            .status()
            .context("the plugin needs the wasm32-wasip2 target, and rustup is not there to install it")?;
        anyhow::ensure!(status.success(), "`rustup target add {TARGET}` failed");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    anyhow::ensure!(output.status.success(), "the build failed (see cargo's messages above)");
    // Cargo says which files each crate of the build made; ours is the
    // `.wasm` of the crate whose manifest is `dir`'s.
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().map(std::path::Path::new) == Some(manifest.as_path()))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(std::path::PathBuf::from))
        .find(|f| f.extension().is_some_and(|x| x == "wasm"))
        .with_context(|| {
            format!(
                "the build made no .wasm for {}: is it a library with crate-type = [\"cdylib\"]?",
                manifest.display()
            )
        })?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let hooks = local::exports(&bytes)
        .await
        .map_err(|e| anyhow::anyhow!("it built, but the server would refuse it: {e}"))?;
    Ok(json!({
        "wasm": wasm,
        "size_bytes": bytes.len(),
        "hooks": hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
    }))
}
