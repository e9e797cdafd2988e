//! Running a workspace's rule on an event: the [`RuleEngine`] the
//! dispatcher asks, which the plugin host implements (a rule is a plugin
//! hook of contract 0.3.0, in the same sandbox and slots as the
//! conversion's hooks).

use serde_json::Value;

use crate::domain::automation::{Action, EventKind};
use crate::store::Automation;

/// Runs rules on events.
#[async_trait::async_trait]
pub trait RuleEngine: Send + Sync {
    /// Runs `rule` on `event` (whose payload is `payload`) and returns its
    /// actions, checked; `Err` is the fault, worded for the workspace's
    /// admin.
    async fn run(&self, rule: &Automation, event: EventKind, payload: &Value) -> Result<Vec<Action>, String>;
}
