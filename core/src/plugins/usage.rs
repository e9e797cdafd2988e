//! What each workspace's plugins consumed on this node: calls, fuel, wall
//! time, time waiting for a slot, and faults by what stopped them, per hook
//! and plugin, in one-minute buckets kept for an hour.
//!
//! The figures are per node: a deployment of several nodes has each node's
//! share in its own log and `GET /api/v1/plugins/usage` reports the node
//! that answers it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::hooks::{FaultKind, HookKind};

/// Buckets kept: one hour of minutes.
const MINUTES: i64 = 60;

/// One call, as recorded.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub hook: HookKind,
    /// A built-in plugin's name or an uploaded plugin's id.
    pub plugin: String,
    pub plugin_name: String,
    /// Fuel the call used; `None` when it was stopped (then the count is
    /// not reliable) or never started.
    pub fuel: Option<u64>,
    pub wall: Duration,
    pub waited: Duration,
    pub fault: Option<FaultKind>,
}

/// Sums over a period, per hook and plugin.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq)]
pub struct Figures {
    pub hook: String,
    pub plugin: String,
    pub plugin_name: String,
    pub calls: u64,
    pub fuel: u64,
    pub wall_ms: f64,
    pub wait_ms: f64,
    /// Faults by what stopped the plugin: `fuel`, `deadline`, `memory`,
    /// `trap`, `output`, `error`, `queue`, `load`, `input`.
    pub faults: BTreeMap<String, u64>,
}

impl Figures {
    fn empty(hook: &str, plugin: &str, plugin_name: &str) -> Self {
        Self {
            hook: hook.to_owned(),
            plugin: plugin.to_owned(),
            plugin_name: plugin_name.to_owned(),
            ..Default::default()
        }
    }

    fn add(&mut self, r: &CallRecord) {
        self.calls += 1;
        self.fuel += r.fuel.unwrap_or(0);
        self.wall_ms += r.wall.as_secs_f64() * 1000.0;
        self.wait_ms += r.waited.as_secs_f64() * 1000.0;
        if let Some(kind) = r.fault {
            *self.faults.entry(kind.as_str().to_owned()).or_default() += 1;
        }
    }

    fn merge(&mut self, other: &Figures) {
        self.calls += other.calls;
        self.fuel += other.fuel;
        self.wall_ms += other.wall_ms;
        self.wait_ms += other.wait_ms;
        for (k, n) in &other.faults {
            *self.faults.entry(k.clone()).or_default() += n;
        }
    }
}

struct Minute {
    at: i64,
    rows: BTreeMap<(HookKind, String), Figures>,
}

/// Usage per workspace, in memory, and this node's totals per hook since it
/// started (for `/metrics`: no workspace in them, so they stay small).
#[derive(Default)]
pub struct Usage {
    workspaces: Mutex<HashMap<String, VecDeque<Minute>>>,
    totals: Mutex<BTreeMap<HookKind, Figures>>,
}

fn minute_now() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(60)
}

impl Usage {
    pub fn record(&self, tenant_id: &str, r: &CallRecord) {
        self.totals
            .lock()
            .unwrap()
            .entry(r.hook)
            .or_insert_with(|| Figures::empty(r.hook.as_str(), "", ""))
            .add(r);
        let now = minute_now();
        let mut map = self.workspaces.lock().unwrap();
        let minutes = map.entry(tenant_id.to_owned()).or_default();
        if minutes.back().is_none_or(|m| m.at != now) {
            minutes.push_back(Minute {
                at: now,
                rows: BTreeMap::new(),
            });
        }
        while minutes.front().is_some_and(|m| m.at <= now - MINUTES) {
            minutes.pop_front();
        }
        let row = minutes
            .back_mut()
            .expect("just pushed")
            .rows
            .entry((r.hook, r.plugin.clone()))
            .or_insert_with(|| Figures::empty(r.hook.as_str(), &r.plugin, &r.plugin_name));
        row.add(r);
    }

    /// This node's totals since it started, per hook.
    pub fn totals(&self) -> Vec<Figures> {
        self.totals.lock().unwrap().values().cloned().collect()
    }

    /// The workspace's last hour, per hook and plugin.
    pub fn last_hour(&self, tenant_id: &str) -> Vec<Figures> {
        let now = minute_now();
        let map = self.workspaces.lock().unwrap();
        let mut sum: BTreeMap<(HookKind, String), Figures> = BTreeMap::new();
        for m in map.get(tenant_id).into_iter().flatten() {
            if m.at <= now - MINUTES {
                continue;
            }
            for (key, f) in &m.rows {
                sum.entry(key.clone())
                    .or_insert_with(|| Figures::empty(&f.hook, &f.plugin, &f.plugin_name))
                    .merge(f);
            }
        }
        sum.into_values().collect()
    }

    /// Writes every finished minute not written yet to the log, and forgets
    /// workspaces with nothing in the last hour. Called once a minute.
    pub fn log_finished_minutes(&self, logged_up_to: &mut i64) {
        let now = minute_now();
        let mut map = self.workspaces.lock().unwrap();
        map.retain(|tenant, minutes| {
            while minutes.front().is_some_and(|m| m.at <= now - MINUTES) {
                minutes.pop_front();
            }
            for m in minutes.iter().filter(|m| m.at > *logged_up_to && m.at < now) {
                for f in m.rows.values() {
                    let faults: Vec<String> = f.faults.iter().map(|(k, n)| format!("{k}={n}")).collect();
                    tracing::info!(target: "threadline::plugin_usage", %tenant, minute = m.at * 60, hook = %f.hook,
                        plugin = %f.plugin_name, calls = f.calls, fuel = f.fuel, wall_ms = format!("{:.1}", f.wall_ms),
                        wait_ms = format!("{:.1}", f.wait_ms), faults = %faults.join(","), "plugin usage");
                }
            }
            !minutes.is_empty()
        });
        *logged_up_to = now - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(fault: Option<FaultKind>) -> CallRecord {
        CallRecord {
            hook: HookKind::Subject,
            plugin: "p1".into(),
            plugin_name: "mine".into(),
            fuel: fault.is_none().then_some(1_000),
            wall: Duration::from_millis(2),
            waited: Duration::from_millis(1),
            fault,
        }
    }

    #[test]
    fn calls_add_up_per_hook_and_plugin_and_stay_in_their_workspace() {
        let usage = Usage::default();
        usage.record("a", &call(None));
        usage.record("a", &call(None));
        usage.record("a", &call(Some(FaultKind::Deadline)));
        usage.record("b", &call(Some(FaultKind::Fuel)));
        let a = usage.last_hour("a");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].calls, 3);
        assert_eq!(a[0].fuel, 2_000);
        assert!((a[0].wall_ms - 6.0).abs() < 1e-9);
        assert_eq!(a[0].faults, BTreeMap::from([("deadline".to_owned(), 1)]));
        assert_eq!(usage.last_hour("b")[0].faults, BTreeMap::from([("fuel".to_owned(), 1)]));
        assert!(usage.last_hour("c").is_empty());
    }
}
