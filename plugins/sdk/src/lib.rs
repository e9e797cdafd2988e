//! Write Threadline conversion plugins in Rust.
//!
//! A plugin is a WebAssembly component that exports one or more hooks of the
//! `threadline:plugin` WIT package (`wit/` at the root of the repository).
//! This crate binds the parts every hook shares, the types and the host's
//! logging, and carries the built-in rules so a plugin can start from them:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: "../wit/0.1.0",
//!     world: "threadline:plugin/subject-hook@0.1.0",
//!     with: {
//!         "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
//!         "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
//!     },
//! });
//!
//! struct Shouty;
//!
//! impl exports::threadline::plugin::subject::Guest for Shouty {
//!     fn default_subject(ctx: Context, chat: ChatHeader) -> Result<String, String> {
//!         Ok(threadline_plugin_sdk::rules::default_subject(&chat).to_uppercase())
//!     }
//! }
//!
//! export!(Shouty);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`, try it with
//! `threadline plugin run`, install it with `POST /api/v1/plugins`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "threadline:plugin/sdk@0.1.0",
    });
}

pub use bindings::threadline::plugin::{log, types};

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
