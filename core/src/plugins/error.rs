//! The one error of the plugin host: what went wrong, of which kind.

use crate::domain::hooks::FaultKind;

/// Why a plugin call failed, in words an operator can act on, and what
/// kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PluginError {
    pub kind: FaultKind,
    pub reason: String,
}

impl PluginError {
    pub fn new(kind: FaultKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// The plugin cannot be loaded (not installed, not a plugin, needs what
    /// the host does not give).
    pub fn load(reason: impl Into<String>) -> Self {
        Self::new(FaultKind::Load, reason)
    }
}
