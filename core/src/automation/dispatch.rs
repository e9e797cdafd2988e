//! The dispatcher: every node runs one. It claims due events (see
//! [`Store::claim_events`]), runs the rules listening to each outside any
//! transaction, then in one transaction takes the event off the queue,
//! applies the rules' actions and queues its webhook deliveries. A node
//! that dies mid-way leaves the event to be claimed again once its lease
//! is over; nothing of a handling that did not commit is kept.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;

use super::Automations;
use super::rules::RuleEngine;
use crate::domain::automation::{EventKind, MAX_DEPTH};
use crate::realtime::{self, Bus};
use crate::store::{QueuedEvent, RuleRun, Store};

/// Events claimed at once.
const BATCH: u64 = 20;
/// Workspaces whose events a dispatcher handles at once.
const WORKSPACES_AT_ONCE: usize = 8;
/// Tries at handling an event before it is dropped (with a warning): its
/// handling keeps failing on the database.
const MAX_ATTEMPTS: i32 = 10;

pub struct Dispatcher {
    pub store: Store,
    pub bus: Bus,
    pub engine: Arc<dyn RuleEngine>,
    pub handle: Automations,
    pub poll: Duration,
    /// How long a claimed event is this dispatcher's: longer than its
    /// rules may run (each at most 2 s; a workspace has at most 50).
    pub lease: Duration,
}

impl Dispatcher {
    /// Handles events until aborted (an event cut off mid-way is handled
    /// again after its lease).
    pub async fn run(self) {
        loop {
            let now = Utc::now();
            let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::minutes(3));
            let claimed = match self.store.claim_events(now, now + lease, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the event queue");
                    Vec::new()
                }
            };
            let full = claimed.len() as u64 == BATCH;
            // Workspaces side by side, each one's events in order: a
            // workspace whose rules run long holds up its own events, not
            // the others' in the batch.
            let mut by_workspace: Vec<Vec<QueuedEvent>> = Vec::new();
            for e in claimed {
                match by_workspace.iter_mut().find(|g| g[0].tenant_id == e.tenant_id) {
                    Some(group) => group.push(e),
                    None => by_workspace.push(vec![e]),
                }
            }
            let this = &self;
            futures_util::stream::iter(by_workspace)
                .for_each_concurrent(WORKSPACES_AT_ONCE, |group| async move {
                    for e in group {
                        this.handle(e).await;
                    }
                })
                .await;
            if full {
                continue;
            }
            tokio::select! {
                () = self.handle.inner.events.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn handle(&self, e: QueuedEvent) {
        let Ok(kind) = e.kind.parse::<EventKind>() else {
            tracing::warn!(event = %e.id, kind = %e.kind, "dropping an event of an unknown kind");
            let _ = self.store.drop_event(&e).await;
            return;
        };
        match self.try_handle(&e, kind).await {
            Ok(()) => {}
            Err(err) if e.attempts >= MAX_ATTEMPTS => {
                tracing::warn!(error = %err, event = %e.id, "giving up on an event");
                let _ = self.store.drop_event(&e).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, event = %e.id, "cannot handle an event; retrying");
                let wait = chrono::Duration::seconds(1 << e.attempts.clamp(0, 8));
                let _ = self.store.retry_event(&e, Utc::now() + wait).await;
            }
        }
    }

    async fn try_handle(&self, e: &QueuedEvent, kind: EventKind) -> Result<(), crate::store::StoreError> {
        let payload = self.store.event_payload(e).await?;
        // A rule's own change does not fire it again, and cascades stop at
        // MAX_DEPTH (its webhooks still hear it).
        let rules = if e.depth < MAX_DEPTH {
            self.store.rules_on(&e.tenant_id, kind.as_str()).await?
        } else {
            Vec::new()
        };
        let mut runs = Vec::new();
        for rule in rules
            .into_iter()
            .filter(|r| e.rule_id.as_deref() != Some(r.id.as_str()))
        {
            match self.engine.run(&rule, kind, &payload).await {
                Ok(actions) if actions.is_empty() => {}
                Ok(actions) => runs.push(RuleRun { rule, actions }),
                Err(fault) => {
                    tracing::info!(rule = %rule.id, tenant = %e.tenant_id, event = %e.id, %fault, "rule fault");
                    let _ = self.store.rule_failed(&e.tenant_id, &rule.id, &fault).await;
                }
            }
        }
        let hooks = self.store.webhooks_on(&e.tenant_id, kind).await?;
        let body = payload.to_string();
        let Some(applied) = self.store.finish_event(e, &runs, &hooks, &body).await? else {
            return Ok(());
        };
        for a in applied.iter().filter(|a| a.outcome.is_err()) {
            let reason = a.outcome.as_ref().err().map(String::as_str).unwrap_or_default();
            tracing::info!(rule = %a.rule_id, action = a.action, tenant = %e.tenant_id, reason, "rule action refused");
            let why = format!("its {} action was refused: {reason}", a.action);
            let _ = self.store.rule_failed(&e.tenant_id, &a.rule_id, &why).await;
        }
        if !hooks.is_empty() {
            self.handle.wake_sender();
        }
        if applied.iter().any(|a| a.outcome.is_ok()) {
            // Their actions may have queued events of their own.
            self.handle.wake();
            self.publish(e, &payload).await;
        }
        Ok(())
    }

    /// Tells open consoles that what the rules acted on changed.
    async fn publish(&self, e: &QueuedEvent, payload: &serde_json::Value) {
        if let Some(number) = payload["ticket"]["number"].as_str() {
            self.bus
                .publish(realtime::Event::ticket_updated(&e.tenant_id, number))
                .await;
        } else if let Some(chat) = &e.chat_id {
            self.bus
                .publish(realtime::Event::new(
                    &e.tenant_id,
                    realtime::EventKind::MessageCreated,
                    chat,
                ))
                .await;
        }
    }
}
