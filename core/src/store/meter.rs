//! The usage meter: what each workspace did on this node since the last
//! flush, counted in memory (a lock and a map entry per event, no write),
//! and added to the database's `usage_days` every few seconds in one
//! transaction. Every node flushes its own counts, so the rows are the
//! cluster's sums; a node killed between flushes loses at most its last
//! few seconds of counts (usage is for billing and quotas of whole days,
//! where that is noise), never a count twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};

use super::{Store, StoreResult, Usage};

/// How often a node writes its counts.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Counts not yet written, by workspace and UTC day. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Meter {
    /// By workspace, then day (two days only around midnight): looked up
    /// by `&str`, so a count allocates only for a workspace's first event.
    counts: Arc<Mutex<HashMap<String, Days>>>,
}

/// A workspace's counts by day.
type Days = std::collections::BTreeMap<NaiveDate, Usage>;

impl Meter {
    /// Adds to the workspace's counts for today.
    pub fn count(&self, tenant_id: &str, add: impl FnOnce(&mut Usage)) {
        let day = Utc::now().date_naive();
        let mut counts = self.counts.lock().expect("meter lock");
        let days = match counts.get_mut(tenant_id) {
            Some(days) => days,
            None => counts.entry(tenant_id.to_owned()).or_default(),
        };
        add(days.entry(day).or_default());
    }

    fn take(&self) -> Vec<((String, NaiveDate), Usage)> {
        let taken = std::mem::take(&mut *self.counts.lock().expect("meter lock"));
        taken
            .into_iter()
            .flat_map(|(tenant, days)| days.into_iter().map(move |(day, u)| ((tenant.clone(), day), u)))
            .collect()
    }

    /// Puts back counts a flush could not write, for the next one.
    fn restore(&self, taken: Vec<((String, NaiveDate), Usage)>) {
        let mut counts = self.counts.lock().expect("meter lock");
        for ((tenant, day), u) in taken {
            *counts.entry(tenant).or_default().entry(day).or_default() += u;
        }
    }
}

impl Store {
    /// This store's meter (shared by its clones).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Writes the counts taken so far; on failure they are kept for the
    /// next flush.
    pub async fn flush_usage(&self) -> StoreResult<()> {
        let taken = self.meter.take();
        if taken.is_empty() {
            return Ok(());
        }
        // Oldest day first, so that a failure leaves the days from it on.
        let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<(String, Usage)>> = Default::default();
        for ((tenant, day), usage) in &taken {
            if !usage.is_empty() {
                by_day.entry(*day).or_default().push((tenant.clone(), *usage));
            }
        }
        for (day, counts) in &by_day {
            if let Err(e) = self.add_usage(&day.format("%Y-%m-%d").to_string(), counts).await {
                // Days written before the failure are not written again.
                let left = taken.into_iter().filter(|((_, d), _)| d >= day).collect();
                self.meter.restore(left);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Flushes the meter every [`FLUSH_EVERY`] until the task is aborted;
    /// the caller flushes once more on shutdown.
    pub fn spawn_usage_flush(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = store.flush_usage().await {
                    tracing::warn!(error = %e, "cannot write usage counts; kept for the next flush");
                }
            }
        })
    }
}
