//! The contract versions this host loads, one module each (the way Zed's
//! extension host keeps `since_v*` modules): a released version is frozen,
//! and its module stays as long as plugins built against it may exist.
//!
//! Each module owns everything of its version: the bindings, the host side
//! of its imports (logging, the chat resource, the clock), its linking, and
//! its exports ([`Contract`]: which hooks a component has, how a call is
//! made, what `describe` says). The rest of the host sees versions only
//! through [`VERSIONS`]: adding one is a new module and one line there.

mod contract;
pub mod v0_1_0;
pub mod v0_2_0;
pub mod v0_3_0;
pub mod v0_4_0;

use std::sync::{Arc, OnceLock};

use wasmtime::component::{InstancePre, Linker};

pub use contract::Contract;

use super::engine::engine;
use super::sandbox::CallState;

/// One contract version, as the host links and finds it.
pub struct Version {
    pub version: &'static str,
    /// Adds the host side of this version's imports.
    link: fn(&mut Linker<CallState>),
    /// This version's exports of a component, `None` when it exports no
    /// hook of this version.
    find: fn(&InstancePre<CallState>) -> Option<Arc<dyn Contract>>,
}

/// Every version the host loads, newest first: a component is run in the
/// terms of the newest version it exports a hook of.
pub const VERSIONS: [Version; 2] = [
    Version::of(v0_2_0::VERSION, v0_2_0::link, v0_2_0::find),
    Version::of(v0_1_0::VERSION, v0_1_0::link, v0_1_0::find),
];

impl Version {
    const fn of(
        version: &'static str,
        link: fn(&mut Linker<CallState>),
        find: fn(&InstancePre<CallState>) -> Option<Arc<dyn Contract>>,
    ) -> Self {
        Self { version, link, find }
    }
}

/// A component's exports, of the newest version it exports a hook of.
pub fn find(pre: &InstancePre<CallState>) -> Option<Arc<dyn Contract>> {
    VERSIONS.iter().find_map(|v| (v.find)(pre))
}

/// `threadline:plugin@0.2.0 or @0.1.0`, for errors that name them all.
pub fn named() -> String {
    let versions: Vec<String> = VERSIONS.iter().map(|v| format!("@{}", v.version)).collect();
    format!("threadline:plugin{}", versions.join(" or "))
}

/// The host's imports, shared by every plugin: each contract version's
/// interfaces (their names carry the version, so plugins of every version
/// link side by side) and WASI with nothing in it (Rust's standard library
/// imports WASI even when a plugin never uses it).
pub fn linker() -> &'static Linker<CallState> {
    static LINKER: OnceLock<Linker<CallState>> = OnceLock::new();
    LINKER.get_or_init(|| {
        let mut linker = Linker::new(engine());
        for v in &VERSIONS {
            (v.link)(&mut linker);
        }
        // The event hooks' version, found apart (`v0_3_0::find_events`).
        v0_3_0::link(&mut linker);
        // Outbound HTTP, an import any plugin may take.
        v0_4_0::link(&mut linker);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("link WASI");
        linker
    })
}
