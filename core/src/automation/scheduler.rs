//! The scheduler: every `interval`, the node holding the job's lease runs
//! the workspaces' timed rules (the built-ins) and queues `sla_breached`
//! events. Each action happens once: under a mark written in its own
//! transaction (see [`Store::apply_scheduled`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Automations;
use crate::domain::automation::{Action, Builtin, BuiltinRule, EventKind};
use crate::domain::{TicketNumber, TicketStatus};
use crate::realtime::{self, Bus};
use crate::store::{Automation, RuleRun, Store, StoreResult, Target, due_target};

/// The job's name in `job_leases`.
pub const AUTOMATION_JOB: &str = "automations";

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleRun {
    /// Rules' actions applied (or refused) on tickets and chats.
    pub acted: u64,
    /// `sla_breached` events queued.
    pub breaches: u64,
}

pub struct Scheduler {
    pub store: Store,
    pub bus: Bus,
    pub handle: Automations,
    pub interval: Duration,
    /// This node's name in the job's lease.
    pub owner: String,
}

impl Scheduler {
    /// Runs the schedule on this node whenever it holds the lease, until
    /// aborted.
    pub async fn run(self) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run_once().await {
                Ok(Some(done)) if done != ScheduleRun::default() => {
                    tracing::info!(acted = done.acted, breaches = done.breaches, "automation run");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "automation run failed; the next run continues"),
            }
        }
    }

    /// One run, if this node holds (or takes) the lease; `None` otherwise.
    pub async fn run_once(&self) -> StoreResult<Option<ScheduleRun>> {
        let lease = self.interval.max(Duration::from_secs(60)) + Duration::from_secs(30);
        if !self.store.claim_job(AUTOMATION_JOB, &self.owner, lease).await? {
            return Ok(None);
        }
        let now = self.handle.now();
        let mut done = ScheduleRun::default();
        for rule in self.store.scheduled_rules().await? {
            let Ok(builtin) = rule.plugin.parse::<Builtin>() else {
                continue;
            };
            let config: Value = serde_json::from_str(&rule.config).unwrap_or(Value::Null);
            let Ok(settings) = BuiltinRule::parse(builtin, &config) else {
                tracing::warn!(rule = %rule.id, "a timed rule's settings no longer read; skipped");
                continue;
            };
            done.acted += self.run_rule(&rule, &settings, now).await?;
        }
        for tenant in self.store.workspaces_hearing(EventKind::SlaBreached).await? {
            for t in self.store.due_by(&tenant, now, "sla:").await? {
                let mark = format!("sla:{}:{}", t.id, due_target(&t));
                if self.store.breach_once(&tenant, &t.id, &mark).await? {
                    done.breaches += 1;
                }
            }
        }
        if done.breaches > 0 {
            self.handle.wake();
        }
        Ok(Some(done))
    }

    async fn run_rule(&self, rule: &Automation, settings: &BuiltinRule, now: DateTime<Utc>) -> StoreResult<u64> {
        let tenant = rule.tenant_id.as_str();
        let mut acted = 0;
        match settings {
            BuiltinRule::ClosePending { days } => {
                let cutoff = now - chrono::Duration::days(i64::from(*days));
                for t in self.store.pending_since(tenant, cutoff).await? {
                    let mark = format!("cp:{}:{}:{}", rule.id, t.id, t.updated_at.timestamp_micros());
                    let run = RuleRun {
                        rule: rule.clone(),
                        actions: vec![Action::SetStatus(TicketStatus::Closed)],
                    };
                    if self.apply(tenant, &mark, Target::Ticket(&t.id), &run).await? {
                        self.ticket_changed(tenant, t.number).await;
                        acted += 1;
                    }
                }
            }
            BuiltinRule::EscalateBeforeBreach {
                minutes,
                assignee_id,
                priority,
                note,
            } => {
                let horizon = now + chrono::Duration::minutes(i64::from(*minutes));
                let prefix = format!("esc:{}:", rule.id);
                for t in self.store.due_by(tenant, horizon, &prefix).await? {
                    let mark = format!("{prefix}{}:{}", t.id, due_target(&t));
                    let mut actions = Vec::new();
                    if let Some(a) = assignee_id {
                        actions.push(Action::Assign(Some(a.clone())));
                    }
                    if let Some(p) = priority {
                        actions.push(Action::SetPriority(*p));
                    }
                    if let Some(n) = note {
                        actions.push(Action::Note(n.clone()));
                    }
                    let run = RuleRun {
                        rule: rule.clone(),
                        actions,
                    };
                    if self.apply(tenant, &mark, Target::Ticket(&t.id), &run).await? {
                        self.ticket_changed(tenant, t.number).await;
                        acted += 1;
                    }
                }
            }
            BuiltinRule::ChatWaitReply { minutes, message } => {
                let cutoff = now - chrono::Duration::minutes(i64::from(*minutes));
                let prefix = format!("cw:{}:", rule.id);
                for c in self.store.chats_waiting(tenant, cutoff, &prefix).await? {
                    let mark = format!("{prefix}{}", c.id);
                    let run = RuleRun {
                        rule: rule.clone(),
                        actions: vec![Action::Reply(message.clone())],
                    };
                    if self.apply(tenant, &mark, Target::Chat(&c.id), &run).await? {
                        self.bus
                            .publish(realtime::Event::new(tenant, realtime::EventKind::MessageCreated, &c.id))
                            .await;
                        acted += 1;
                    }
                }
            }
        }
        if acted > 0 {
            // Their changes may have queued events.
            self.handle.wake();
        }
        Ok(acted)
    }

    /// Applies `run` once under `mark`; true when it was applied now.
    async fn apply(&self, tenant: &str, mark: &str, target: Target<'_>, run: &RuleRun) -> StoreResult<bool> {
        let Some(applied) = self.store.apply_scheduled(tenant, mark, target, run).await? else {
            return Ok(false);
        };
        for a in applied.iter().filter(|a| a.outcome.is_err()) {
            let reason = a.outcome.as_ref().err().map(String::as_str).unwrap_or_default();
            tracing::info!(rule = %a.rule_id, action = a.action, tenant, reason, "rule action refused");
            let why = format!("its {} action was refused: {reason}", a.action);
            self.store.rule_failed(tenant, &a.rule_id, &why).await?;
        }
        Ok(true)
    }

    async fn ticket_changed(&self, tenant: &str, number: i64) {
        let number = TicketNumber(number).to_string();
        self.bus.publish(realtime::Event::ticket_updated(tenant, &number)).await;
    }
}
