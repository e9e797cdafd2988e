//! Write Threadline conversion plugins in Rust.
//!
//! A plugin is a WebAssembly component that exports one or more hooks of the
//! `threadline:plugin` WIT package. This crate binds the contract for you:
//! one trait and one export macro per hook, the shared types, the host's
//! logging, `config(ctx, key)`, and the built-in rules to start from. Plugin
//! code never names wit-bindgen:
//!
//! ```ignore
//! use threadline_plugin_sdk::types::{ChatHeader, Context};
//! use threadline_plugin_sdk::{config, rules, subject};
//!
//! struct Prefixed;
//!
//! impl subject::Hook for Prefixed {
//!     fn default_subject(ctx: Context, chat: ChatHeader) -> Result<String, String> {
//!         let prefix = config(&ctx, "prefix").unwrap_or("[Chat]");
//!         Ok(format!("{prefix} {}", rules::default_subject(&chat)))
//!     }
//! }
//!
//! threadline_plugin_sdk::export_subject_hook!(Prefixed);
//! ```
//!
//! The hooks: [`subject`] (`export_subject_hook!`), [`transcript`]
//! (`export_transcript_hook!`), [`assignment`] (`export_assignment_hook!`),
//! [`summary`] (`export_summary_hook!`). Build with `threadline plugin
//! build`, try with `threadline plugin run`, install with `threadline
//! plugin install`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "threadline:plugin/sdk@0.1.0",
    });
}

pub use bindings::threadline::plugin::{log, types};

// The generated code names this crate by its name, from plugins and from
// inside it alike.
extern crate self as threadline_plugin_sdk;

/// The runtime the export macros' code calls, so that plugins need no
/// wit-bindgen dependency of their own.
#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

/// One module per hook: its trait (`Hook`) and, at the crate root, its
/// export macro. The shared types and logging are this crate's.
macro_rules! hook_module {
    ($module:ident, $bindings:literal, $world:literal, $macro_name:literal, $doc:literal) => {
        #[doc = $doc]
        pub mod $module {
            wit_bindgen::generate!({
                path: "../../wit/0.1.0",
                world: $world,
                with: {
                    "threadline:plugin/types@0.1.0": crate::types,
                    "threadline:plugin/log@0.1.0": crate::log,
                },
                default_bindings_module: $bindings,
                pub_export_macro: true,
                export_macro_name: $macro_name,
                runtime_path: "threadline_plugin_sdk::__rt",
            });

            /// What a plugin implements for this hook.
            pub use self::exports::threadline::plugin::$module::Guest as Hook;
        }
    };
}

hook_module!(
    subject,
    "threadline_plugin_sdk::subject",
    "threadline:plugin/subject-hook@0.1.0",
    "__export_subject_hook",
    "The subject a ticket gets when the agent leaves it blank: implement `subject::Hook`, then `export_subject_hook!(YourType)`."
);
hook_module!(
    transcript,
    "threadline_plugin_sdk::transcript",
    "threadline:plugin/transcript-hook@0.1.0",
    "__export_transcript_hook",
    "The ticket's description, made from the chat: implement `transcript::Hook`, then `export_transcript_hook!(YourType)`."
);
hook_module!(
    assignment,
    "threadline_plugin_sdk::assignment",
    "threadline:plugin/assignment-hook@0.1.0",
    "__export_assignment_hook",
    "Who gets the new ticket: implement `assignment::Hook`, then `export_assignment_hook!(YourType)`."
);
hook_module!(
    summary,
    "threadline_plugin_sdk::summary",
    "threadline:plugin/summary-hook@0.1.0",
    "__export_summary_hook",
    "The summary stored with a chat when it closes: implement `summary::Hook`, then `export_summary_hook!(YourType)`."
);

pub mod rules;

use types::Context;

/// The value of `key` in the workspace's settings for this plugin.
pub fn config<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The setting `key` read as a `T` (a number, `true`/`false`, any
/// `FromStr` type): `Ok(None)` when it is not set, and an error naming the
/// setting when it does not read as one. Return that error from the hook,
/// and the operator sees which setting to fix:
///
/// ```ignore
/// let max: usize = setting(&ctx, "max_chars")?.unwrap_or(80);
/// ```
pub fn setting<T: core::str::FromStr>(ctx: &Context, key: &str) -> Result<Option<T>, String> {
    match config(ctx, key) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
            let wanted = core::any::type_name::<T>().rsplit("::").next().unwrap_or("value");
            format!("the setting {key:?} is {raw:?}, which is not a valid {wanted}")
        }),
    }
}

/// Logs a line through the host (kept with the workspace, plugin and hook).
pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit(log::Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit(log::Level::Warn, message, fields);
}

fn emit(level: log::Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    log::log(level, message, &fields);
}

// The export macros, at the crate root where plugins call them. Built for
// the host (a plugin's own `cargo test`) they export nothing: there is no
// component to export to, and the hook's logic is tested as a function.

/// Exports a type implementing `subject::Hook` as the component's subject hook.
#[macro_export]
macro_rules! export_subject_hook {
    ($($ty:tt)*) => {
        #[cfg(target_arch = "wasm32")]
        $crate::subject::__export_subject_hook!($($ty)*);
    };
}

/// Exports a type implementing `transcript::Hook` as the component's transcript hook.
#[macro_export]
macro_rules! export_transcript_hook {
    ($($ty:tt)*) => {
        #[cfg(target_arch = "wasm32")]
        $crate::transcript::__export_transcript_hook!($($ty)*);
    };
}

/// Exports a type implementing `assignment::Hook` as the component's assignment hook.
#[macro_export]
macro_rules! export_assignment_hook {
    ($($ty:tt)*) => {
        #[cfg(target_arch = "wasm32")]
        $crate::assignment::__export_assignment_hook!($($ty)*);
    };
}

/// Exports a type implementing `summary::Hook` as the component's summary hook.
#[macro_export]
macro_rules! export_summary_hook {
    ($($ty:tt)*) => {
        #[cfg(target_arch = "wasm32")]
        $crate::summary::__export_summary_hook!($($ty)*);
    };
}

/// Hook inputs for a plugin's own tests, which run natively under plain
/// `cargo test` (the hook's logic is an ordinary function; only logging
/// needs the server).
pub mod testing {
    use crate::types::{Agent, Author, Candidate, Chat, ChatHeader, Context, Message, Visitor};

    /// 2026-11-25T10:00:00Z, when test chats start.
    pub const STARTED_AT_MS: i64 = 1_795_600_800_000;

    /// A context with these settings, in UTC.
    pub fn context(config: &[(&str, &str)]) -> Context {
        Context {
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            time_zone: "UTC".into(),
            utc_offset_minutes: 0,
        }
    }

    /// A chat from `visitor`, with these messages a minute apart.
    pub fn chat(visitor: &str, subject: Option<&str>, messages: &[(Author, &str, &str)]) -> Chat {
        let messages: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, (author, name, body))| Message {
                author: *author,
                author_name: name.to_string(),
                body: body.to_string(),
                sent_at: STARTED_AT_MS + 60_000 * i as i64,
            })
            .collect();
        Chat {
            header: ChatHeader {
                id: "test-chat".into(),
                subject: subject.map(str::to_owned),
                visitor: Visitor {
                    name: visitor.into(),
                    email: None,
                },
                started_at: STARTED_AT_MS,
                first_visitor_message: messages.iter().find(|m| m.author == Author::Visitor).cloned(),
                message_count: messages.len() as u32,
            },
            messages,
        }
    }

    pub fn agent(id: &str, name: &str) -> Agent {
        Agent {
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn candidate(id: &str, name: &str, online: bool, open_tickets: u32, skills: &[&str]) -> Candidate {
        Candidate {
            id: id.into(),
            name: name.into(),
            online,
            open_tickets,
            skills: skills.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{config, setting, testing};

    #[test]
    fn settings_read_as_text_or_as_typed_values() {
        let ctx = testing::context(&[
            ("prefix", "[VIP]"),
            ("max_chars", " 80 "),
            ("loud", "true"),
            ("bad", "eighty"),
        ]);
        assert_eq!(config(&ctx, "prefix"), Some("[VIP]"));
        assert_eq!(setting::<usize>(&ctx, "max_chars"), Ok(Some(80)));
        assert_eq!(setting::<bool>(&ctx, "loud"), Ok(Some(true)));
        assert_eq!(setting::<usize>(&ctx, "missing"), Ok(None));
        let e = setting::<usize>(&ctx, "bad").unwrap_err();
        assert!(e.contains("\"bad\"") && e.contains("usize"), "{e}");
    }
}
