//! Service level targets: when a ticket's first response and resolution
//! fall due, which comes next, and whether either was missed.
//!
//! Both count from the chat's start (the request began there, not at the
//! conversion), and the first response is the one the chat carried over,
//! so converting never resets the clock.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::TicketStatus;

/// A workspace's targets; `None` is no target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Targets {
    pub first_response_minutes: Option<i32>,
    pub resolution_minutes: Option<i32>,
}

/// The longest target accepted: a year.
pub const MAX_TARGET_MINUTES: i32 = 525_600;

/// When each target falls due for a request that began at `started`.
/// In whole microseconds, as PostgreSQL keeps times, so the due-sorted
/// list's cursor (in microseconds) names a stored time exactly on SQLite
/// too.
pub fn dues(started: DateTime<Utc>, t: Targets) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let at = |m: Option<i32>| m.map(|m| (started + Duration::minutes(i64::from(m))).trunc_subsecs(6));
    (at(t.first_response_minutes), at(t.resolution_minutes))
}

/// A ticket's service level times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub solved_at: Option<DateTime<Utc>>,
}

impl Clock {
    /// The next target still to meet: the first response while there is
    /// none, else the resolution; nothing once the ticket is solved or
    /// closed.
    pub fn next_due(&self, status: TicketStatus) -> Option<DateTime<Utc>> {
        if matches!(status, TicketStatus::Solved | TicketStatus::Closed) {
            return None;
        }
        match (self.first_response_at, self.first_response_due_at) {
            (None, Some(due)) => Some(self.resolution_due_at.map_or(due, |r| r.min(due))),
            _ => self.resolution_due_at,
        }
    }

    /// When the first response target was missed, if it was (by `now`).
    pub fn first_response_breached_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let due = self.first_response_due_at?;
        (self.first_response_at.unwrap_or(now) > due).then_some(due)
    }

    /// When the resolution target was missed, if it was (by `now`).
    pub fn resolution_breached_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let due = self.resolution_due_at?;
        (self.solved_at.unwrap_or(now) > due).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(min)
    }

    fn clock(targets: Targets) -> Clock {
        let (f, r) = dues(t(0), targets);
        Clock {
            first_response_due_at: f,
            resolution_due_at: r,
            first_response_at: None,
            solved_at: None,
        }
    }

    const BOTH: Targets = Targets {
        first_response_minutes: Some(60),
        resolution_minutes: Some(480),
    };

    #[test]
    fn targets_count_from_the_start_of_the_chat() {
        assert_eq!(dues(t(0), BOTH), (Some(t(60)), Some(t(480))));
        assert_eq!(dues(t(0), Targets::default()), (None, None));
    }

    #[test]
    fn the_first_response_is_due_next_until_there_is_one_then_the_resolution() {
        let mut c = clock(BOTH);
        assert_eq!(c.next_due(TicketStatus::Open), Some(t(60)));
        c.first_response_at = Some(t(10));
        assert_eq!(c.next_due(TicketStatus::InProgress), Some(t(480)));
        assert_eq!(c.next_due(TicketStatus::Solved), None);
        assert_eq!(c.next_due(TicketStatus::Closed), None);
        // A resolution target shorter than the first response's comes first.
        let c = clock(Targets {
            first_response_minutes: Some(60),
            resolution_minutes: Some(30),
        });
        assert_eq!(c.next_due(TicketStatus::Open), Some(t(30)));
        assert_eq!(clock(Targets::default()).next_due(TicketStatus::Open), None);
    }

    #[test]
    fn a_target_is_breached_when_met_late_or_not_met_by_now() {
        let mut c = clock(BOTH);
        assert_eq!(c.first_response_breached_at(t(59)), None);
        assert_eq!(c.first_response_breached_at(t(61)), Some(t(60)));
        c.first_response_at = Some(t(30));
        assert_eq!(c.first_response_breached_at(t(1000)), None, "answered in time");
        c.first_response_at = Some(t(90));
        assert_eq!(c.first_response_breached_at(t(1000)), Some(t(60)), "answered late");
        c.solved_at = Some(t(400));
        assert_eq!(c.resolution_breached_at(t(10_000)), None);
        c.solved_at = None;
        assert_eq!(c.resolution_breached_at(t(481)), Some(t(480)));
    }
}
