//! Fair sharing of plugin slots between workspaces.
//!
//! A call takes two permits: one of its workspace's own (at most
//! `per_workspace` at once) and then one of the server's (`total`). The
//! server's semaphore queues waiters first come, first served, and a
//! workspace can have at most `per_workspace` calls in that queue, so a
//! workspace with a thousand calls waiting still sits in it only
//! `per_workspace` times: every other workspace's call is served after at
//! most that many of its calls. A busy or hostile workspace queues behind
//! itself. Waiting has a deadline; a call that misses it is a fault under its
//! hook's failure policy.
//!
//! The same mechanism bounds compiles (see `compiler.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many calls may run at once, and how long one may wait for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSettings {
    pub total: usize,
    pub per_workspace: usize,
    pub queue_timeout: Duration,
}

pub struct Slots {
    settings: SlotSettings,
    total: Arc<Semaphore>,
    workspaces: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// Held while a call runs; returns both permits when dropped.
pub struct Slot {
    // Field order matters: the server's permit goes back before the
    // workspace's, so the workspace's next waiter finds it free.
    _total: OwnedSemaphorePermit,
    workspace: Option<OwnedSemaphorePermit>,
    tenant_id: String,
    semaphore: Arc<Semaphore>,
    workspaces: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// How long the call waited for it.
    pub waited: Duration,
}

/// No slot came free before the queue deadline.
#[derive(Debug, Clone, Copy)]
pub struct QueueTimeout {
    pub waited: Duration,
    pub per_workspace: usize,
}

impl Slots {
    pub fn new(settings: SlotSettings) -> Self {
        assert!(settings.total >= 1 && settings.per_workspace >= 1);
        Self {
            total: Arc::new(Semaphore::new(settings.total)),
            workspaces: Default::default(),
            settings,
        }
    }

    pub fn settings(&self) -> SlotSettings {
        self.settings
    }

    /// Waits (at most the queue timeout) for a slot for `tenant_id`.
    pub async fn acquire(&self, tenant_id: &str) -> Result<Slot, QueueTimeout> {
        let started = Instant::now();
        let semaphore = self
            .workspaces
            .lock()
            .unwrap()
            .entry(tenant_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_workspace)))
            .clone();
        let both = async {
            let own = semaphore.clone().acquire_owned().await.expect("never closed");
            let total = self.total.clone().acquire_owned().await.expect("never closed");
            (own, total)
        };
        match tokio::time::timeout(self.settings.queue_timeout, both).await {
            Ok((own, total)) => Ok(Slot {
                _total: total,
                workspace: Some(own),
                tenant_id: tenant_id.to_owned(),
                semaphore,
                workspaces: self.workspaces.clone(),
                waited: started.elapsed(),
            }),
            Err(_) => {
                forget_if_idle(&self.workspaces, tenant_id, &semaphore);
                Err(QueueTimeout {
                    waited: started.elapsed(),
                    per_workspace: self.settings.per_workspace,
                })
            }
        }
    }

    /// Workspaces with a semaphore of their own right now: only those with a
    /// call running or waiting, so the map does not grow with every
    /// workspace that ever ran a plugin.
    pub fn tracked_workspaces(&self) -> usize {
        self.workspaces.lock().unwrap().len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.workspace.take());
        forget_if_idle(&self.workspaces, &self.tenant_id, &self.semaphore);
    }
}

/// Drops a workspace's semaphore once nobody holds or waits on it (a
/// permit and a waiting acquire each hold a reference). New references are
/// only made under the map's lock, so with the lock held a count of two
/// (the map's and the caller's) means nobody else has it.
fn forget_if_idle(map: &Mutex<HashMap<String, Arc<Semaphore>>>, tenant_id: &str, semaphore: &Arc<Semaphore>) {
    let mut map = map.lock().unwrap();
    if Arc::strong_count(semaphore) == 2 && map.get(tenant_id).is_some_and(|s| Arc::ptr_eq(s, semaphore)) {
        map.remove(tenant_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_workspace: usize, queue_ms: u64) -> Arc<Slots> {
        Arc::new(Slots::new(SlotSettings {
            total,
            per_workspace,
            queue_timeout: Duration::from_millis(queue_ms),
        }))
    }

    #[tokio::test]
    async fn a_busy_workspace_queues_behind_itself_and_others_pass() {
        let slots = slots(4, 2, 200);
        let a1 = slots.acquire("a").await.unwrap();
        let _a2 = slots.acquire("a").await.unwrap();
        // A third call of A waits for A's own slots, though the server has
        // two free, and times out.
        let waited = slots.acquire("a").await.err().expect("a third call of a waits");
        assert!(waited.waited >= Duration::from_millis(200));
        // B is served at once.
        let b = slots.acquire("b").await.unwrap();
        assert!(b.waited < Duration::from_millis(50));
        drop(a1);
        assert!(slots.acquire("a").await.is_ok());
    }

    #[tokio::test]
    async fn the_server_queue_is_first_come_first_served_across_workspaces() {
        let slots = slots(1, 2, 2_000);
        let held = slots.acquire("a").await.unwrap();
        // A queues five more calls, then B queues one. Only per_workspace of
        // A's calls can stand in the server's queue, so B is served after at
        // most that many of them, not after all five.
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let s = slots.clone();
            waiting.push(tokio::spawn(
                async move { s.acquire("a").await.map(|_| Instant::now()) },
            ));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let s = slots.clone();
        let b = tokio::spawn(async move { s.acquire("b").await.map(|_| Instant::now()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let b_at = b.await.unwrap().unwrap();
        let mut before_b = 0;
        for h in waiting {
            if h.await.unwrap().unwrap() < b_at {
                before_b += 1;
            }
        }
        assert!(before_b <= 2, "{before_b} of a's queued calls were served before b");
    }

    #[tokio::test]
    async fn idle_workspaces_are_forgotten() {
        let slots = slots(4, 1, 50);
        for i in 0..100 {
            let s = slots.acquire(&format!("w{i}")).await.unwrap();
            drop(s);
        }
        assert_eq!(slots.tracked_workspaces(), 0);
        let held = slots.acquire("x").await.unwrap();
        let _ = slots.acquire("x").await.err().unwrap();
        assert_eq!(slots.tracked_workspaces(), 1);
        drop(held);
        assert_eq!(slots.tracked_workspaces(), 0);
    }
}
