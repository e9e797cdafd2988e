//! `threadline:plugin@0.1.0` (`wit/0.1.0`), frozen: the host's bindings of
//! it and the WIT types adapters build.

/// The WIT package version this server implements.
pub const VERSION: &str = "0.1.0";

pub mod bindings {

    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "threadline:plugin/plugin@0.1.0",
        // Exports are called async, so a call can be raced against its
        // deadline and yield to the plugin runtime at every epoch tick.
        exports: { default: async },
    });
}

/// The types of the contract, as the host builds them.
pub mod wit {
    pub use super::bindings::threadline::plugin::types::*;
}
