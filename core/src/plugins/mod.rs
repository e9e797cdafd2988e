//! The plugin host: conversion hooks as sandboxed WebAssembly components.
//!
//! A workspace's pipeline names, for each hook, the plugin that runs it (a
//! built-in one embedded in the server, or one the workspace uploaded), its
//! settings, its limits and its failure policy. [`PluginHost::hooks_for`]
//! turns that into the [`Hooks`](crate::conversion::hooks::Hooks) one
//! conversion runs. A plugin that fails (a trap, a limit, output the
//! pipeline refuses) is recorded as a fault and then, by policy, either
//! replaced by the native built-in rule (`fallback`) or fails the
//! conversion (`reject`).
//!
//! The modules, from the bottom up (no module uses one above it):
//! - `engine`, `limits`, `error`, `slots`, `usage`: the engine and its
//!   plugin runtime, the limits, the fault type, fair slots, figures.
//! - `call`: a hook call's input and output in the host's terms.
//! - `sandbox`: what a call's store holds (empty WASI, memory cap, log);
//!   `outbound`: the HTTP requests a call may make (contract 0.4.0);
//!   `logs`: the workspace's plugin log, buffered and written in batches.
//! - `manifest`: what a plugin says of itself.
//! - `versions/`: one module per contract version, all of its bindings,
//!   imports and exports; `loaded`: a plugin ready to run, a fresh store
//!   per call.
//! - `compiler`, `cache`, `javascript`, `builtin`: compiling uploads in a
//!   child process, compiled code on disk and in memory, the JavaScript
//!   plugin's pre-initialisation, the built-in plugins.
//! - `adapter`: a plugin as a hook (caps, checks, slots) and its policy.
//! - `pipeline`: a workspace's settings per hook, their cache and stored
//!   record; `host`: [`PluginHost`]; `trial`: a hook tried on one chat;
//!   `local`: the same outside the server (`threadline plugin run`).

mod adapter;
pub mod builtin;
mod cache;
pub mod call;
pub mod compiler;
pub mod engine;
pub mod error;
mod events;
pub use events::EventRule;
pub mod host;
pub mod javascript;
pub mod limits;
pub mod loaded;
pub mod local;
pub mod logs;
pub mod manifest;
pub mod outbound;
pub mod pipeline;
mod sandbox;
pub mod slots;
pub mod trial;
pub mod usage;
pub(crate) mod versions;

pub use adapter::{Gate, PluginHook};
pub use builtin::{BUILTIN, cache_builtins};
pub use cache::sha256_hex;
pub use compiler::{CompileError, CompileSettings, Compiled, Compiler, WorkerCommand};
pub use error::PluginError;
pub use host::{HostSettings, Inspected, PluginHost, UploadError};
pub use limits::Limits;
pub use loaded::LoadedPlugin;
pub use pipeline::{
    HookSettings, PipelineRecord, PipelineSettings, Policy, builtin_options, check_builtin_config, is_native_default,
    pipeline_settings,
};
pub use slots::SlotSettings;
pub use trial::{Trial, TrialFault};
pub use usage::Figures;
