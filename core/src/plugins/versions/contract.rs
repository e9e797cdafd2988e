//! What every contract version's module provides the host: a component's
//! exports in its terms ([`Contract`]), and the helpers they share.

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::domain::hooks::HookKind;
use crate::plugins::call::{HookInput, HookOutput};
use crate::plugins::manifest::Manifest;
use crate::plugins::sandbox::CallState;

/// A component's exports in the terms of the contract version it was built
/// against.
#[async_trait::async_trait]
pub trait Contract: Send + Sync {
    fn version(&self) -> &'static str;

    /// The hooks it exports, in [`HookKind::ALL`]'s order.
    fn hooks(&self) -> Vec<HookKind>;

    /// Looks each export it was found with up on `instance` with this
    /// version's types. Exports are found by name, and a name says nothing
    /// of types: a component built against another version's WIT links,
    /// and would fault on every call. The error names the function.
    fn check(&self, store: &mut Store<CallState>, instance: &Instance) -> Result<(), String>;

    /// Whether it can say what it is (a `describe` export).
    fn describes(&self) -> bool {
        false
    }

    /// Calls the hook `input` is for on `instance`. The inner error is the
    /// plugin's own, worded for the operator.
    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        config: &[(String, String)],
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>>;

    /// What its `describe` export says, unchecked; `None` without one.
    async fn describe(
        &self,
        _store: &mut Store<CallState>,
        _instance: &Instance,
    ) -> wasmtime::Result<Option<Manifest>> {
        Ok(None)
    }
}

/// The hooks whose exports were found, in [`HookKind::ALL`]'s order.
pub(super) fn present(found: [bool; 5]) -> Vec<HookKind> {
    HookKind::ALL
        .into_iter()
        .zip(found)
        .filter(|(_, p)| *p)
        .map(|(h, _)| h)
        .collect()
}

/// The error for a hook a component does not export.
pub(super) fn missing(hook: HookKind) -> wasmtime::Error {
    wasmtime::Error::msg(format!("it does not export the {hook} hook"))
}

/// Why an export was refused: `function` of `interface`, in `version`, does
/// not have the contract's type (wasmtime says how it differs).
pub(super) fn mistyped(version: &str, interface: &str, function: &str, e: &wasmtime::Error) -> String {
    format!(
        "its function {function} (threadline:plugin/{interface}@{version}) does not have the type the contract \
         gives it: {e:#}"
    )
}
