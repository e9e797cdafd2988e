//! What happens after a change commits, on every node:
//! - the dispatcher ([`dispatch`]) takes events off the queue, runs the
//!   workspace's rules on them, and in one transaction applies their
//!   actions and queues the webhook deliveries;
//! - the webhook sender ([`webhooks`]) posts deliveries, signed, and
//!   retries them with backoff for a day;
//! - the scheduler ([`scheduler`]) runs the timed rules and notices SLA
//!   breaches, on one node at a time (a job lease).
//!
//! The clock the scheduler reads is the [`Automations`] handle's: the wall
//! clock, which tests move forward instead of sleeping.

pub mod dispatch;
pub mod rules;
pub mod scheduler;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct AutomationSettings {
    /// How often the scheduler runs the timed rules
    /// (`--automation-interval-secs`, 60).
    pub interval: Duration,
    /// The wait before a failed delivery's first retry
    /// (`--webhook-retry-base-ms`, 10 s); each later wait doubles, with up
    /// to a fifth more at random, at most an hour, for a day.
    pub webhook_retry_base: Duration,
    /// How long a delivery is retried before it is given up as failed.
    pub webhook_retry_for: Duration,
    /// Lets webhooks post to loopback, private and link-local addresses
    /// (`--webhooks-allow-private`; tests, or a desk on a private network).
    pub webhooks_allow_private: bool,
    /// One delivery's request, response included
    /// (`--webhook-timeout-secs`, 10).
    pub webhook_timeout: Duration,
    /// How long a node's claim on an event lasts before another node may
    /// take it over (`--automation-lease-secs`, 180): longer than its rules
    /// may run. A delivery's claim lasts this or the timeout and 5 s,
    /// whichever is longer. Shorter recovers sooner after a crash.
    pub lease: Duration,
    /// How often the queues are read when nothing woke them (events and
    /// deliveries written by another node or by received mail, retries
    /// coming due); a request that may have written wakes this node's
    /// dispatcher at once.
    pub poll_interval: Duration,
}

impl AutomationSettings {
    /// How long a claimed delivery is its sender's.
    pub fn delivery_lease(&self) -> Duration {
        self.lease.max(self.webhook_timeout + Duration::from_secs(5))
    }
}

impl Default for AutomationSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            webhook_retry_base: Duration::from_secs(10),
            webhook_retry_for: Duration::from_secs(24 * 3600),
            webhooks_allow_private: false,
            webhook_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(180),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What the rest of the server sees of the automation tasks: bells to
/// ring when an event or a delivery is queued (so it goes at once rather
/// than at the next poll), and the scheduler's clock.
#[derive(Clone, Default)]
pub struct Automations {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    events: Notify,
    deliveries: Notify,
    /// Added to the wall clock, in milliseconds: only tests move it.
    offset_ms: AtomicI64,
}

impl Automations {
    /// An event was queued: handle it now.
    pub fn wake(&self) {
        self.inner.events.notify_one();
    }

    /// A delivery was queued: send it now.
    pub fn wake_sender(&self) {
        self.inner.deliveries.notify_one();
    }

    /// The scheduler's time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.inner.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the scheduler's clock forward by `by` (tests).
    pub fn advance(&self, by: Duration) {
        self.inner
            .offset_ms
            .fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX), Ordering::Relaxed);
    }
}
