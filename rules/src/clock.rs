//! Times as people read them: a zone's wall clock, and UTC without a date
//! library in every plugin.

use std::fmt::Write;

/// A moment on the wall clock of some zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wall {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// The zone's abbreviation then, such as "CET", "UTC" or "+0530".
    pub zone: String,
    /// The zone's offset from UTC then, in minutes.
    pub offset_minutes: i32,
}

/// Turns timestamps into wall-clock times: the workspace's zone (the host
/// asks chrono-tz, a plugin the host's clock) or UTC.
pub trait Clock {
    fn wall(&self, ms: i64) -> Wall;
}

/// Coordinated Universal Time, computed here.
pub struct UtcClock;

impl Clock for UtcClock {
    fn wall(&self, ms: i64) -> Wall {
        let secs = ms.div_euclid(1000);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        Wall {
            year: y as i32,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            zone: "UTC".into(),
            offset_minutes: 0,
        }
    }
}

/// A clock that asks the one it wraps once per quarter of an hour of UTC
/// time and works out the rest: a zone's offset only changes at its
/// transitions, which fall on quarter hours. A transcript of a long chat
/// then asks the workspace's zone (a host call, from a plugin) a few times
/// instead of once a message.
pub struct QuarterHourClock<'a> {
    inner: &'a dyn Clock,
    last: std::cell::RefCell<Option<(i64, i32, String)>>,
}

const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;

impl<'a> QuarterHourClock<'a> {
    pub fn new(inner: &'a dyn Clock) -> Self {
        Self {
            inner,
            last: std::cell::RefCell::new(None),
        }
    }
}

impl Clock for QuarterHourClock<'_> {
    fn wall(&self, ms: i64) -> Wall {
        let bucket = ms.div_euclid(QUARTER_HOUR_MS);
        if let Some((b, offset, zone)) = &*self.last.borrow()
            && *b == bucket
        {
            let mut wall = UtcClock.wall(ms + i64::from(*offset) * 60_000);
            wall.zone = zone.clone();
            wall.offset_minutes = *offset;
            return wall;
        }
        let wall = self.inner.wall(ms);
        *self.last.borrow_mut() = Some((bucket, wall.offset_minutes, wall.zone.clone()));
        wall
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch (the
/// sub-second part dropped), without a date library in every plugin.
pub fn format_utc(ms: i64) -> String {
    let mut out = String::with_capacity(23);
    push_utc(&mut out, ms);
    out
}

pub(crate) fn push_utc(out: &mut String, ms: i64) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// The proleptic Gregorian date of a day count from 1970-01-01, by eras of
/// 400 years (146,097 days), the calendar's exact repeat.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // shift the epoch to 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year starting in March
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Paris;

    #[test]
    fn the_cached_clock_agrees_with_the_zone_across_a_change() {
        let cached = QuarterHourClock::new(&Paris);
        // Every minute from an hour before the change to an hour after.
        let change = 1_774_746_000_000_i64;
        for m in -60..60 {
            let ms = change + m * 60_000 + 1_234;
            assert_eq!(cached.wall(ms), Paris.wall(ms), "{m} min from the change");
        }
    }

    #[test]
    fn dates_are_right_across_eras_and_leap_days() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_602_061_999), "2026-11-25 10:21:01 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(4_107_542_400_000), "2100-03-01 00:00:00 UTC");
    }
}
