//! The retention job: every `interval`, the node that holds the job's
//! lease deletes what workspaces keep no longer (`store::retention`). Every
//! node runs this loop; at most one runs the job at a time, and another
//! takes over within an interval of the holder going away.

use std::time::Duration;

use crate::store::{RETENTION_JOB, RetentionRun, Store};

#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// How often the job runs (`--retention-interval-secs`, an hour).
    pub interval: Duration,
    /// Audit entries are kept this many days (`--audit-retention-days`,
    /// 400: a year and a margin); `None` keeps them for ever.
    pub audit_days: Option<u32>,
    /// Rows deleted per transaction.
    pub batch: u64,
    /// Rest between batches: other writers (a conversion on SQLite's one
    /// writer) go between two.
    pub pause: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            audit_days: Some(400),
            // A batch of 100 chats of 20 messages held SQLite's one writer
            // long enough to put a conversion's p99 at 8x its quiet p99 (the
            // retention bench), 25 at 2.5-3.2x; 10 rows with 40 ms between
            // keep both databases at 1.8-2.5x. An hourly job has the time
            // (about 5 ms a row).
            batch: 10,
            pause: Duration::from_millis(40),
        }
    }
}

/// Runs the job on this node whenever it holds the lease, until aborted.
pub async fn run(store: Store, settings: RetentionSettings) {
    let owner = format!("node-{}", uuid::Uuid::now_v7());
    // The lease outlasts the interval, so the holder renews it at its next
    // turn; a run longer than that is the holder's still (it renews too).
    let lease = settings.interval.max(Duration::from_secs(60)) + Duration::from_secs(30);
    // The first run an interval after start: a node that restarts often
    // does not run it each time.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + settings.interval, settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.claim_job(RETENTION_JOB, &owner, lease).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the retention job");
                continue;
            }
        }
        let run = RetentionRun {
            batch: settings.batch,
            pause: settings.pause,
            audit_days: settings.audit_days,
        };
        match store.run_retention(run).await {
            Ok(done) if done.chats + done.tickets + done.mails > 0 => {
                tracing::info!(
                    chats = done.chats,
                    tickets = done.tickets,
                    mails = done.mails,
                    "retention run"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention run failed; next run continues"),
        }
    }
}
