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

/// The wit-bindgen the SDK is built and tested with.
const WIT_BINDGEN: &str = "=0.61.1";

/// Writes a new plugin crate named `name` implementing `hook` into `dir`
/// (which must not exist yet); returns the files written.
pub fn new_plugin(dir: &Path, name: &str, hook: HookKind) -> Result<Vec<String>> {
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
        ("Cargo.toml", crate_manifest(name)),
        ("src/lib.rs", hook_source(name, hook)),
        ("chats/sample.json", sample_chat(hook)),
        ("README.md", readme(name, hook)),
        (".gitignore", "/target\n".into()),
        ("vendor/threadline-plugin-sdk/Cargo.toml", sdk_manifest()),
        ("vendor/threadline-plugin-sdk/wit/0.2.0/plugin.wit", WIT.into()),
        ("vendor/threadline-plugin-sdk/src/lib.rs", SDK_LIB.into()),
        ("vendor/threadline-plugin-sdk/src/chat.rs", SDK_CHAT.into()),
        ("vendor/threadline-plugin-sdk/src/testing.rs", SDK_TESTING.into()),
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
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

fn crate_manifest(name: &str) -> String {
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
threadline-plugin-sdk = {{ path = "vendor/threadline-plugin-sdk" }}

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

/// The hook's logic is one short function, what the plugin says of
/// itself, and a native test of the logic.
fn hook_source(name: &str, hook: HookKind) -> String {
    let body = match hook {
        HookKind::Subject => {
            r#"use threadline_plugin_sdk::{Chat, Context, Error, rules, setting, subject};

pub struct Plugin;

impl subject::Hook for Plugin {
    /// The built-in subject, after a prefix an operator can set.
    fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let prefix: String = setting(ctx, "prefix")?.unwrap_or_else(|| "[Chat]".into());
        Ok(format!("{prefix} {}", rules::default_subject(chat)))
    }
}

SETTINGS describe::text("prefix", Some("[Chat]"), "Put before the subject.")

threadline_plugin_sdk::export_subject_hook!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::subject::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn prefixes_the_default_subject() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "Hello?")]);
        let subject = Plugin::default_subject(&context(&[("prefix", "[VIP]")]), &chat).unwrap();
        assert_eq!(subject, "[VIP] Chat with Ada");
    }
}
"#
        }
        HookKind::Transcript => {
            r#"use threadline_plugin_sdk::{Chat, Context, Error, rules, transcript};

pub struct Plugin;

impl transcript::Hook for Plugin {
    /// The built-in transcript, under a line that says whose chat it was.
    fn format(_ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let lines = rules::plain_transcript(&chat.all_messages());
        Ok(format!("Chat with {}\n\n{lines}", chat.visitor().name))
    }
}

SETTINGS

threadline_plugin_sdk::export_transcript_hook!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::testing::{chat, context};
    use threadline_plugin_sdk::transcript::Hook;

    #[test]
    fn heads_the_transcript_with_the_visitor() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "Hello?")]);
        let text = Plugin::format(&context(&[]), &chat).unwrap();
        assert_eq!(text, "Chat with Ada\n\n[2026-11-25 10:00:00 UTC] Ada: Hello?");
    }
}
"#
        }
        HookKind::Assignment => {
            r#"use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error, assignment};

pub struct Plugin;

impl assignment::Hook for Plugin {
    /// The online agent with the fewest open tickets; the converting agent
    /// when nobody is online.
    fn assign(_ctx: &Context, _chat: &Chat, converting: &Agent, candidates: &[Candidate]) -> Result<String, Error> {
        let least_loaded = candidates.iter().filter(|c| c.online).min_by_key(|c| c.open_tickets);
        Ok(least_loaded.map_or_else(|| converting.id.clone(), |c| c.id.clone()))
    }
}

SETTINGS

threadline_plugin_sdk::export_assignment_hook!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::assignment::Hook;
    use threadline_plugin_sdk::testing::{agent, candidate, chat, context};

    #[test]
    fn picks_the_least_loaded_online_agent() {
        let candidates = [
            candidate("bob", "Bob", true, 7, &[]),
            candidate("cleo", "Cleo", true, 2, &[]),
            candidate("dev", "Dev", false, 0, &[]),
        ];
        let chat = chat("Ada", None, &[]);
        let chosen = Plugin::assign(&context(&[]), &chat, &agent("bob", "Bob"), &candidates).unwrap();
        assert_eq!(chosen, "cleo");
    }
}
"#
        }
        HookKind::Summary => {
            r#"use threadline_plugin_sdk::{Chat, Context, Error, rules, summary};

pub struct Plugin;

impl summary::Hook for Plugin {
    /// The built-in summary, with how long the chat ran.
    fn summarize(_ctx: &Context, chat: &Chat) -> Result<Option<String>, Error> {
        let messages = chat.all_messages();
        let minutes = match (messages.first(), messages.last()) {
            (Some(first), Some(last)) => (last.sent_at - first.sent_at) / 60_000,
            _ => 0,
        };
        Ok(rules::extractive_summary(&messages).map(|s| format!("{s}\nThe chat ran {minutes} min.")))
    }
}

SETTINGS

threadline_plugin_sdk::export_summary_hook!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::summary::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn says_how_long_the_chat_ran() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "Hello?"), (Author::Agent, "Bob", "Hi!")]);
        let summary = Plugin::summarize(&context(&[]), &chat).unwrap().unwrap();
        assert!(summary.ends_with("The chat ran 1 min."), "{summary}");
    }
}
"#
        }
        HookKind::Fields => {
            r#"use threadline_plugin_sdk::fields::{self, Priority, TicketFields};
use threadline_plugin_sdk::{Chat, Context, Error};

pub struct Plugin;

impl fields::Hook for Plugin {
    /// Urgent, tagged `refund`, when the visitor's first message asks for
    /// a refund.
    fn fields(_ctx: &Context, chat: &Chat) -> Result<TicketFields, Error> {
        let first = chat.first_visitor_message().map(|m| m.body.to_lowercase()).unwrap_or_default();
        if first.contains("refund") || first.contains("charged twice") {
            return Ok(TicketFields {
                priority: Some(Priority::Urgent),
                tags: vec!["refund".into()],
                custom: Vec::new(),
            });
        }
        Ok(TicketFields {
            priority: None,
            tags: Vec::new(),
            custom: Vec::new(),
        })
    }
}

SETTINGS

threadline_plugin_sdk::export_fields_hook!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::fields::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn refunds_are_urgent() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "I want a refund")]);
        let fields = Plugin::fields(&context(&[]), &chat).unwrap();
        assert_eq!(fields.priority, Some(Priority::Urgent));
        assert_eq!(fields.tags, ["refund"]);
    }
}
"#
        }
    };
    let (head, rest) = body
        .split_once("SETTINGS")
        .expect("every template has its settings line");
    let (settings, rest) = rest.split_once('\n').unwrap_or((rest, ""));
    let settings = settings.trim();
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!("\n        info.settings = vec![{settings}];")
    };
    let describe = format!(
        r#"impl Describe for Plugin {{
    /// What the server shows of this plugin, and the settings it checks.
    fn describe() -> Info {{
        #[allow(unused_mut)]
        let mut info = describe::info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &["{hook}"]);{settings}
        info
    }}
}}

threadline_plugin_sdk::export_describe!(Plugin);"#
    );
    format!(
        "//! {name}: a Threadline {hook} plugin.\n\nuse threadline_plugin_sdk::describe::{{self, Describe, Info}};\n{head}{describe}{rest}"
    )
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

fn readme(name: &str, hook: HookKind) -> String {
    format!(
        r#"# {name}

A Threadline `{hook}` plugin. The logic is in `src/lib.rs`; `vendor/` holds
the SDK (the contract, `threadline:plugin@0.2.0`, is in its `wit/`) and the
built-in rules, written out by `threadline plugin new`.

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
