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
    "export_subject_hook",
    "The subject a ticket gets when the agent leaves it blank: implement `subject::Hook`, then `export_subject_hook!(YourType)`."
);
hook_module!(
    transcript,
    "threadline_plugin_sdk::transcript",
    "threadline:plugin/transcript-hook@0.1.0",
    "export_transcript_hook",
    "The ticket's description, made from the chat: implement `transcript::Hook`, then `export_transcript_hook!(YourType)`."
);
hook_module!(
    assignment,
    "threadline_plugin_sdk::assignment",
    "threadline:plugin/assignment-hook@0.1.0",
    "export_assignment_hook",
    "Who gets the new ticket: implement `assignment::Hook`, then `export_assignment_hook!(YourType)`."
);
hook_module!(
    summary,
    "threadline_plugin_sdk::summary",
    "threadline:plugin/summary-hook@0.1.0",
    "export_summary_hook",
    "The summary stored with a chat when it closes: implement `summary::Hook`, then `export_summary_hook!(YourType)`."
);

pub mod rules;

use types::Context;

/// The value of `key` in the workspace's settings for this plugin.
pub fn config<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
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

// The export macros at the crate root, where plugins call them.
pub use assignment::export_assignment_hook;
pub use subject::export_subject_hook;
pub use summary::export_summary_hook;
pub use transcript::export_transcript_hook;
