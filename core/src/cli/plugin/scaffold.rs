//! `threadline plugin new`: a plugin crate that builds anywhere. The binary
//! carries the SDK (with the WIT contract inside it) and the shared rules,
//! and writes them beside the new crate (`vendor/`), so nothing points into
//! this repository and the crate builds from crates.io's wit-bindgen.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::domain::hooks::HookKind;

const SDK_LIB: &str = include_str!("../../../../plugins/sdk/src/lib.rs");
const SDK_RULES: &str = include_str!("../../../../plugins/sdk/src/rules.rs");
const SDK_CHAT: &str = include_str!("../../../../plugins/sdk/src/chat.rs");
const SDK_TESTING: &str = include_str!("../../../../plugins/sdk/src/testing.rs");
const SDK_HTTP: &str = include_str!("../../../../plugins/sdk/src/http.rs");
/// The rules' sources, a file per rule, as the vendored crate holds them.
const RULES: [(&str, &str); 8] = [
    ("lib.rs", include_str!("../../../../rules/src/lib.rs")),
    ("settings.rs", include_str!("../../../../rules/src/settings.rs")),
    ("clock.rs", include_str!("../../../../rules/src/clock.rs")),
    ("subject.rs", include_str!("../../../../rules/src/subject.rs")),
    ("transcript.rs", include_str!("../../../../rules/src/transcript.rs")),
    ("assign.rs", include_str!("../../../../rules/src/assign.rs")),
    ("summary.rs", include_str!("../../../../rules/src/summary.rs")),
    ("redact.rs", include_str!("../../../../rules/src/redact.rs")),
];
/// The contract the SDK binds (the newest version).
const WIT: &str = include_str!("../../../../wit/0.2.0/plugin.wit");
/// Outbound HTTP, which the SDK's `http` module binds.
const WIT_OUTBOUND: &str = include_str!("../../../../wit/0.4.0/plugin.wit");

/// The wit-bindgen the SDK is built and tested with.
const WIT_BINDGEN: &str = "=0.61.1";

/// Writes a new plugin crate named `name` implementing `hook` into `dir`
/// (which must not exist yet); returns the files written.
/// Where a new crate's SDK comes from.
pub enum Sdk {
    /// A copy under `vendor/`, with the rules and the WIT: the crate builds
    /// anywhere, from nothing but itself.
    Vendored,
    /// `plugins/sdk` of a checkout, by path.
    Path(std::path::PathBuf),
    /// A Threadline git repository (cargo finds the package in it).
    Git(String),
}

impl Sdk {
    /// The dependency line of the new crate's manifest.
    fn dependency(&self) -> String {
        // TOML basic strings escape like Rust's debug form for paths and URLs.
        match self {
            Sdk::Vendored => r#"{ path = "vendor/threadline-plugin-sdk" }"#.into(),
            Sdk::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
            Sdk::Git(url) => format!("{{ git = {url:?} }}"),
        }
    }
}

pub fn new_plugin(dir: &Path, name: &str, hook: HookKind, sdk: &Sdk) -> Result<Vec<String>> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!("{name:?} is not a crate name: lowercase letters, digits, - and _, starting with a letter");
    }
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let mut files: Vec<(String, String)> = [
        ("Cargo.toml", crate_manifest(name, sdk)),
        ("src/lib.rs", hook_source(name, hook)),
        ("chats/sample.json", sample_chat(hook)),
        ("README.md", readme(name, hook, sdk)),
        (".gitignore", "/target\n".into()),
        ("vendor/threadline-plugin-sdk/Cargo.toml", sdk_manifest()),
        ("vendor/threadline-plugin-sdk/wit/0.2.0/plugin.wit", WIT.into()),
        ("vendor/threadline-plugin-sdk/wit/0.4.0/plugin.wit", WIT_OUTBOUND.into()),
        ("vendor/threadline-plugin-sdk/src/lib.rs", SDK_LIB.into()),
        ("vendor/threadline-plugin-sdk/src/chat.rs", SDK_CHAT.into()),
        ("vendor/threadline-plugin-sdk/src/testing.rs", SDK_TESTING.into()),
        ("vendor/threadline-plugin-sdk/src/http.rs", SDK_HTTP.into()),
        ("vendor/threadline-plugin-sdk/src/rules.rs", SDK_RULES.into()),
        ("vendor/threadline-rules/Cargo.toml", rules_manifest()),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), text))
    .collect();
    files.extend(
        RULES
            .iter()
            .map(|(file, text)| (format!("vendor/threadline-rules/src/{file}"), (*text).to_owned())),
    );
    if !matches!(sdk, Sdk::Vendored) {
        files.retain(|(path, _)| !path.starts_with("vendor/"));
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

fn crate_manifest(name: &str, sdk: &Sdk) -> String {
    let sdk = sdk.dependency();
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the WebAssembly component; rlib: the logic under plain `cargo test`.
crate-type = ["cdylib", "rlib"]

[dependencies]
threadline-plugin-sdk = {sdk}

# A crate of its own, wherever it is put.
[workspace]

# Small components load and instantiate faster.
[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"
"#
    )
}

fn sdk_manifest() -> String {
    format!(
        r#"[package]
name = "threadline-plugin-sdk"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = "{WIT_BINDGEN}"
threadline-rules = {{ path = "../threadline-rules" }}
"#
    )
}

fn rules_manifest() -> String {
    r#"[package]
name = "threadline-rules"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false
"#
    .into()
}

/// What `plugin new` writes for each hook: the crates of
/// `plugins/templates/`, which CI builds and tests like any plugin.
const TEMPLATES: [(HookKind, &str); 5] = [
    (
        HookKind::Subject,
        include_str!("../../../../plugins/templates/subject/src/lib.rs"),
    ),
    (
        HookKind::Transcript,
        include_str!("../../../../plugins/templates/transcript/src/lib.rs"),
    ),
    (
        HookKind::Assignment,
        include_str!("../../../../plugins/templates/assignment/src/lib.rs"),
    ),
    (
        HookKind::Summary,
        include_str!("../../../../plugins/templates/summary/src/lib.rs"),
    ),
    (
        HookKind::Fields,
        include_str!("../../../../plugins/templates/fields/src/lib.rs"),
    ),
];

/// The hook's logic is one short function, what the plugin says of
/// itself, and a native test of the logic: the hook's template, under the
/// new crate's name.
fn hook_source(name: &str, hook: HookKind) -> String {
    let (_, template) = TEMPLATES
        .iter()
        .find(|(h, _)| *h == hook)
        .expect("a template for every hook");
    template.replacen(&format!("template-{hook}"), name, 1)
}

/// A chat to try the plugin on, with the answer `plugin test` expects.
fn sample_chat(hook: HookKind) -> String {
    let expect = match hook {
        HookKind::Subject => {
            r#",
  "expect": {"subject": "[Chat] Refund for order 4521"}"#
        }
        HookKind::Assignment => {
            r#",
  "expect": {"assignment": "agent-cleo"}"#
        }
        HookKind::Fields => {
            r#",
  "expect": {"fields": {"priority": "urgent", "tags": ["refund"], "custom": {}}}"#
        }
        HookKind::Transcript | HookKind::Summary => "",
    };
    format!(
        r#"{{
  "subject": "Refund for order 4521",
  "visitor": {{"name": "Ada Lovelace", "email": "ada@example.com"}},
  "time_zone": "Europe/Paris",
  "messages": [
    {{"author": "visitor", "author_name": "Ada Lovelace", "body": "I was charged twice for order 4521.", "sent_at": "2026-11-25T10:00:00Z"}},
    {{"author": "agent", "author_name": "Bob", "body": "Sorry about that, let me check with billing.", "sent_at": "2026-11-25T10:01:30Z"}},
    {{"author": "internal_note", "author_name": "Bob", "body": "Never reaches a plugin.", "sent_at": "2026-11-25T10:02:00Z"}}
  ],
  "converting_agent": {{"id": "agent-bob", "name": "Bob"}},
  "candidates": [
    {{"id": "agent-bob", "name": "Bob", "online": true, "open_tickets": 7, "skills": []}},
    {{"id": "agent-cleo", "name": "Cleo", "online": true, "open_tickets": 2, "skills": []}}
  ]{expect}
}}
"#
    )
}

fn readme(name: &str, hook: HookKind, sdk: &Sdk) -> String {
    let sdk = match sdk {
        Sdk::Vendored => {
            "`vendor/` holds\nthe SDK (the contract, `threadline:plugin@0.2.0` and 0.4.0's `http`, is in its\n`wit/`) and the built-in rules, written out by `threadline plugin new`."
        }
        Sdk::Path(_) | Sdk::Git(_) => {
            "the SDK (with the\ncontract, `threadline:plugin@0.2.0`, and the built-in rules) is a dependency\nin `Cargo.toml`."
        }
    };
    format!(
        r#"# {name}

A Threadline `{hook}` plugin. The logic is in `src/lib.rs`; {sdk}

```sh
cargo test                                   # the logic, natively
threadline plugin build                      # the WebAssembly component
threadline plugin test target/wasm32-wasip2/release/{file}.wasm --chats chats
threadline plugin run target/wasm32-wasip2/release/{file}.wasm --hook {hook} --chat chats/sample.json
threadline plugin install target/wasm32-wasip2/release/{file}.wasm --server https://help.example.com \
  --token "$THREADLINE_TOKEN" --hook {hook}
```

A chat from your own server, to try the plugin on:
`GET /api/v1/chats/{{id}}/hook-input?hook={hook}` (admins).
"#,
        file = name.replace('-', "_"),
    )
}
