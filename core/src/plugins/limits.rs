//! What one plugin call may use. Workspaces pick limits per hook within the
//! server's maximums; the engine is sized for the maximums.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::InvalidInput;

/// Per-call limits of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Limits {
    /// Instruction budget (wasmtime fuel): deterministic, whatever the load.
    pub fuel: u64,
    /// Wall-clock deadline, the backstop for time spent outside fuel-metered
    /// code.
    pub timeout_ms: u32,
    /// Linear memory the plugin may grow to.
    pub memory_bytes: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        fuel: 100_000_000,
        timeout_ms: 100,
        memory_bytes: 32 << 20,
    };

    pub const MAX: Limits = Limits {
        fuel: 20_000_000_000,
        timeout_ms: 2_000,
        memory_bytes: MAX_MEMORY_BYTES,
    };

    /// The summary hook's longest deadline: it runs after the chat is
    /// closed, off any request's path, and may wait on a model.
    pub const MAX_SUMMARY_TIMEOUT_MS: u32 = 30_000;

    /// [`Limits::check`] for a hook: the summary hook may take longer.
    pub fn check_for(&self, hook: crate::domain::hooks::HookKind) -> Result<(), InvalidInput> {
        if hook == crate::domain::hooks::HookKind::Summary && self.timeout_ms > Self::MAX.timeout_ms {
            if self.timeout_ms > Self::MAX_SUMMARY_TIMEOUT_MS {
                return Err(InvalidInput::new(
                    "limits.timeout_ms",
                    format!(
                        "timeout_ms must be between 1 and {} for the summary hook",
                        Self::MAX_SUMMARY_TIMEOUT_MS
                    ),
                ));
            }
            return Limits {
                timeout_ms: Self::MAX.timeout_ms,
                ..*self
            }
            .check();
        }
        self.check()
    }

    /// Refuses limits outside the server's maximums (or too small to run
    /// anything), naming the field.
    pub fn check(&self) -> Result<(), InvalidInput> {
        if !(1_000..=Self::MAX.fuel).contains(&self.fuel) {
            return Err(InvalidInput::new(
                "limits.fuel",
                format!("fuel must be between 1000 and {}", Self::MAX.fuel),
            ));
        }
        if !(1..=Self::MAX.timeout_ms).contains(&self.timeout_ms) {
            return Err(InvalidInput::new(
                "limits.timeout_ms",
                format!("timeout_ms must be between 1 and {}", Self::MAX.timeout_ms),
            ));
        }
        if !((1 << 20)..=Self::MAX.memory_bytes).contains(&self.memory_bytes) {
            return Err(InvalidInput::new(
                "limits.memory_bytes",
                format!(
                    "memory_bytes must be between 1 MiB and {} MiB",
                    Self::MAX.memory_bytes >> 20
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

pub const MAX_MEMORY_BYTES: u64 = 64 << 20;
/// The text of a chat handed to one call (message bodies and names).
pub const MAX_INPUT_BYTES: usize = 4 << 20;
/// Any string a plugin returns, before the hook's own rules apply.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Largest component a workspace may upload.
pub const MAX_PLUGIN_BYTES: usize = 8 << 20;
/// Settings a workspace may give one plugin on one hook.
pub const MAX_CONFIG_ENTRIES: usize = 64;
pub const MAX_CONFIG_VALUE_BYTES: usize = 4096;
/// Standard error a call may write (where a Rust guest's panic message
/// goes); a write past it fails, and the guest usually aborts.
pub const MAX_STDERR_BYTES: usize = 16 << 10;
/// Log lines a call may write, and their length; the rest is dropped.
pub const MAX_LOG_LINES: u32 = 32;
pub const MAX_LOG_LINE_BYTES: usize = 1024;
/// Hook calls running at once in this process; more wait their turn. The
/// engine's instance pool is sized from it.
pub const MAX_CONCURRENT_CALLS: u32 = 64;
