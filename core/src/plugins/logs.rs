//! The workspace's plugin log: what its plugins wrote with `log` (and the
//! host's lines about their outbound requests), and each call's outcome.
//! Calls push here without waiting; a task writes what gathered every
//! [`FLUSH_EVERY`] in one batch (`Store::write_plugin_logs`), and the logs
//! API writes this node's pending lines before it reads. A node killed
//! between two flushes loses its last half second of lines: they are a
//! diagnosis, not a record.
//!
//! Memory is bounded per workspace (the newest [`PLUGIN_LOG_KEPT`] pending
//! lines, the ring's size) and in all ([`MAX_PENDING`] lines), so a plugin
//! logging in a loop costs its own workspace lines, never another's.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{NewLogLine, PLUGIN_LOG_KEPT, Store};

pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Lines waiting to be written on a node, at most.
pub const MAX_PENDING: usize = 50_000;

#[derive(Default)]
pub struct PluginLogs {
    pending: Mutex<Pending>,
    /// Serializes flushes, so lines are written in the order they came.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Pending {
    by_workspace: HashMap<String, VecDeque<NewLogLine>>,
    total: usize,
    dropped: u64,
}

impl PluginLogs {
    pub fn push(&self, lines: impl IntoIterator<Item = NewLogLine>) {
        let mut p = self.pending.lock().unwrap();
        for line in lines {
            if p.total >= MAX_PENDING {
                p.dropped += 1;
                continue;
            }
            let queue = p.by_workspace.entry(line.tenant_id.clone()).or_default();
            // The ring keeps the newest anyway: an older pending line of a
            // workspace at its size would be trimmed as soon as written.
            let dropped = if queue.len() >= PLUGIN_LOG_KEPT as usize {
                queue.pop_front();
                1
            } else {
                0
            };
            queue.push_back(line);
            p.total = p.total + 1 - dropped;
            p.dropped += dropped as u64;
        }
    }

    /// Writes what is pending. A failure puts nothing back (it is logged):
    /// a database that refuses writes must not grow this buffer.
    pub async fn flush(&self, store: &Store) {
        let _turn = self.flushing.lock().await;
        let (lines, dropped) = {
            let mut p = self.pending.lock().unwrap();
            let lines: Vec<NewLogLine> = p.by_workspace.drain().flat_map(|(_, q)| q).collect();
            p.total = 0;
            (lines, std::mem::take(&mut p.dropped))
        };
        if dropped > 0 {
            tracing::warn!(dropped, "plugin log lines over the buffer's bounds were dropped");
        }
        if let Err(e) = store.write_plugin_logs(lines).await {
            tracing::warn!(error = %e, "cannot write plugin log lines");
        }
    }

    /// Flushes every [`FLUSH_EVERY`] until the last handle is dropped.
    pub fn spawn_flusher(self: &Arc<Self>, store: Store) {
        let logs = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(logs) = logs.upgrade() else { return };
                logs.flush(&store).await;
            }
        });
    }
}
