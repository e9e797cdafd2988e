//! A small client of a Threadline server's API, for the CLI's commands that
//! act on a running server (`threadline plugin install`).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What `plugin install` does: upload, then optionally point a hook at it.
pub struct Install<'a> {
    /// The server's base URL, such as `https://help.example.com`.
    pub server: &'a str,
    /// An admin's API token (or session).
    pub token: &'a str,
    pub name: &'a str,
    pub wasm: Vec<u8>,
    /// The hook to run it for, if any.
    pub hook: Option<HookChoice<'a>>,
}

/// The hook an installed plugin runs for, its failure policy (`fallback` by
/// default) and its settings there.
pub struct HookChoice<'a> {
    pub hook: &'a str,
    pub policy: Option<&'a str>,
    pub config: Vec<(String, String)>,
}

/// Uploads the plugin to the token's workspace and, with a hook, makes the
/// workspace's pipeline run it for that hook (the other hooks unchanged).
/// Returns the installed plugin, and the pipeline when it changed.
pub async fn install(job: Install<'_>) -> Result<Value> {
    let base = job.server.trim_end_matches('/');
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/api/v1/plugins"))
        .query(&[("name", job.name)])
        .bearer_auth(job.token)
        .header("content-type", "application/wasm")
        .body(job.wasm)
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let plugin = answer(response, "uploading the plugin").await?;
    let mut result = json!({ "plugin": plugin });
    if let Some(HookChoice { hook, policy, config }) = job.hook {
        let id = plugin["id"].as_str().context("the server gave the plugin no id")?;
        let response = http
            .get(format!("{base}/api/v1/pipeline"))
            .bearer_auth(job.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let mut hooks = answer(response, "reading the pipeline").await?["hooks"].take();
        let config: serde_json::Map<String, Value> = config.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        hooks[hook] = json!({"plugin": id, "policy": policy.unwrap_or("fallback"), "config": config});
        let response = http
            .put(format!("{base}/api/v1/pipeline"))
            .bearer_auth(job.token)
            .json(&json!({ "hooks": hooks }))
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        result["pipeline"] = answer(response, "setting the pipeline").await?;
    }
    Ok(result)
}

/// The JSON of a successful answer, or the server's error message.
async fn answer(response: reqwest::Response, doing: &str) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("{doing} failed: {status}: {message}");
    }
    Ok(body)
}
