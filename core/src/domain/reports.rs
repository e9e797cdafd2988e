//! Reports: what a team lead is judged on, per day of the workspace's own
//! calendar over a range of at most a year. The store counts per bucket of
//! UTC time (an hour, or a quarter hour where the zone's offset is not
//! whole hours); this module turns buckets into the workspace's days, fills
//! the days nothing happened, and writes the figures as JSON or CSV.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::InvalidInput;

/// Longest range a report covers, in days.
pub const MAX_DAYS: u64 = 366;
/// The range when none is asked for: the last 30 days, today included.
pub const DEFAULT_DAYS: u64 = 30;

/// The reports there are, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Conversations started per day, by channel.
    Conversations,
    /// How long the first answer took (chats, and tickets made by hand).
    FirstResponse,
    /// How long from a ticket's creation to its solving.
    Resolution,
    /// Service level targets met and missed, by the day they were settled.
    Sla,
    /// Visitors' ratings of chats, per agent the chat belonged to.
    Ratings,
}

impl ReportKind {
    pub const ALL: [ReportKind; 5] = [
        Self::Conversations,
        Self::FirstResponse,
        Self::Resolution,
        Self::Sla,
        Self::Ratings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conversations => "conversations",
            Self::FirstResponse => "first-response",
            Self::Resolution => "resolution",
            Self::Sla => "sla",
            Self::Ratings => "ratings",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Channels a conversation comes in by, in the order reports show them.
pub const CHANNELS: [&str; 2] = ["chat", "agent"];

/// The days a report covers, in the workspace's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub zone: Tz,
}

impl Range {
    /// From the query's `from` and `to` (`YYYY-MM-DD`, both included);
    /// either left out counts [`DEFAULT_DAYS`] from the other, or back
    /// from today.
    pub fn parse(from: Option<&str>, to: Option<&str>, zone: &str, now: DateTime<Utc>) -> Result<Self, InvalidInput> {
        let zone: Tz = zone.parse().unwrap_or(Tz::UTC);
        let date = |field: &'static str, raw: Option<&str>| -> Result<Option<NaiveDate>, InvalidInput> {
            match raw.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| InvalidInput::new(field, format!("{field} must be a date like 2026-12-31"))),
            }
        };
        let span = Days::new(DEFAULT_DAYS - 1);
        let (from, to) = match (date("from", from)?, date("to", to)?) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, f.checked_add_days(span).unwrap_or(f)),
            (None, Some(t)) => (t.checked_sub_days(span).unwrap_or(t), t),
            (None, None) => {
                let today = zone.from_utc_datetime(&now.naive_utc()).date_naive();
                (today.checked_sub_days(span).unwrap_or(today), today)
            }
        };
        if to < from {
            return Err(InvalidInput::new("to", "to must not be before from"));
        }
        if (to - from).num_days() as u64 >= MAX_DAYS {
            return Err(InvalidInput::new(
                "to",
                format!("a report covers at most {MAX_DAYS} days"),
            ));
        }
        Ok(Self { from, to, zone })
    }

    /// The range as instants: the first day's local midnight, and the one
    /// after the last day.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let after = self.to.succ_opt().unwrap_or(self.to);
        (self.midnight(self.from), self.midnight(after))
    }

    fn midnight(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        // A zone that skips midnight (a DST change at 00:00) starts the day
        // at the first instant it has.
        self.zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.zone
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }

    /// Minutes of the UTC buckets the store counts in: an hour, or a
    /// quarter hour when the zone is offset by part of an hour in the range
    /// (a bucket then never straddles the zone's midnight).
    pub fn bucket_minutes(&self) -> u32 {
        let (start, end) = self.bounds();
        let whole = |t: DateTime<Utc>| {
            self.zone
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
                % 3600
                == 0
        };
        if whole(start) && whole(end) { 60 } else { 15 }
    }

    /// The workspace's day a bucket (its UTC start) falls on.
    pub fn day_of(&self, bucket: NaiveDateTime) -> NaiveDate {
        self.zone.from_utc_datetime(&bucket).date_naive()
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(|d| d <= &self.to)
    }
}

/// A bucket's start (UTC), its series (a channel, or a kind of target) and
/// its figures.
pub type Bucket = (NaiveDateTime, String, Tally);

/// One bucket's figures from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub count: i64,
    /// Seconds summed over the counted items (time reports).
    pub seconds: f64,
    /// Of the counted items, those that met their target (SLA).
    pub met: i64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.count += o.count;
        self.seconds += o.seconds;
        self.met += o.met;
    }
}

/// A report, ready to be written: named columns, a row a day (or an
/// agent) and a total row.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub kind: ReportKind,
    pub range: Range,
    /// The first column: `day` or `agent`.
    pub key: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<(String, Vec<Value>)>,
    pub total: Vec<Value>,
}

/// Sums buckets into the range's days, per series (a channel, or `first`
/// and `resolution`), every day present.
pub fn by_day(range: &Range, buckets: &[Bucket]) -> BTreeMap<NaiveDate, BTreeMap<String, Tally>> {
    let mut days: BTreeMap<NaiveDate, BTreeMap<String, Tally>> = range.days().map(|d| (d, BTreeMap::new())).collect();
    for (at, series, tally) in buckets {
        if let Some(day) = days.get_mut(&range.day_of(*at)) {
            day.entry(series.clone()).or_default().add(tally);
        }
    }
    days
}

fn average(t: &Tally) -> Value {
    if t.count == 0 {
        Value::Null
    } else {
        json!((t.seconds / t.count as f64).round() as i64)
    }
}

fn percent(met: i64, of: i64) -> Value {
    if of == 0 {
        Value::Null
    } else {
        json!((met as f64 * 1000.0 / of as f64).round() / 10.0)
    }
}

/// Conversations started per day by channel, from (bucket, channel, count).
pub fn conversations(range: Range, buckets: &[Bucket]) -> Report {
    let mut total = [0i64; CHANNELS.len()];
    let rows = by_day(&range, buckets)
        .into_iter()
        .map(|(day, series)| {
            let counts: Vec<i64> = CHANNELS.iter().map(|c| series.get(*c).map_or(0, |t| t.count)).collect();
            for (sum, n) in total.iter_mut().zip(&counts) {
                *sum += n;
            }
            let mut values: Vec<Value> = counts.iter().map(|n| json!(n)).collect();
            values.push(json!(counts.iter().sum::<i64>()));
            (day.to_string(), values)
        })
        .collect();
    let mut total_values: Vec<Value> = total.iter().map(|n| json!(n)).collect();
    total_values.push(json!(total.iter().sum::<i64>()));
    Report {
        kind: ReportKind::Conversations,
        range,
        key: "day",
        columns: vec!["chat", "agent", "total"],
        rows,
        total: total_values,
    }
}

/// Counts and average seconds per day (first response, resolution).
pub fn durations(kind: ReportKind, range: Range, buckets: &[Bucket]) -> Report {
    let mut total = Tally::default();
    let rows = by_day(&range, buckets)
        .into_iter()
        .map(|(day, series)| {
            let mut t = Tally::default();
            series.values().for_each(|s| t.add(s));
            total.add(&t);
            (day.to_string(), vec![json!(t.count), average(&t)])
        })
        .collect();
    Report {
        kind,
        range,
        key: "day",
        columns: vec!["count", "average_seconds"],
        rows,
        total: vec![json!(total.count), average(&total)],
    }
}

/// Targets met and missed per day, from series `first_response` and
/// `resolution` (count settled, of which met).
pub fn sla(range: Range, buckets: &[Bucket]) -> Report {
    let mut sums = [Tally::default(), Tally::default()];
    let row = |f: &Tally, r: &Tally| {
        vec![
            json!(f.met),
            json!(f.count - f.met),
            json!(r.met),
            json!(r.count - r.met),
            percent(f.met + r.met, f.count + r.count),
        ]
    };
    let rows = by_day(&range, buckets)
        .into_iter()
        .map(|(day, series)| {
            let none = Tally::default();
            let f = series.get("first_response").unwrap_or(&none);
            let r = series.get("resolution").unwrap_or(&none);
            sums[0].add(f);
            sums[1].add(r);
            (day.to_string(), row(f, r))
        })
        .collect();
    Report {
        kind: ReportKind::Sla,
        range,
        key: "day",
        columns: vec![
            "first_response_met",
            "first_response_missed",
            "resolution_met",
            "resolution_missed",
            "met_percent",
        ],
        rows,
        total: row(&sums[0], &sums[1]),
    }
}

/// Ratings per agent, from (agent id, agent name, score, count): the
/// agent the chat belonged to when it was rated (none: `Nobody`), by name.
pub fn ratings(range: Range, counts: &[(Option<String>, String, i16, i64)]) -> Report {
    let mut agents: BTreeMap<(String, Option<String>), [i64; 5]> = BTreeMap::new();
    for (id, name, score, n) in counts {
        if (1..=5).contains(score) {
            agents.entry((name.clone(), id.clone())).or_default()[*score as usize - 1] += n;
        }
    }
    let row = |id: Value, scores: &[i64; 5]| {
        let count: i64 = scores.iter().sum();
        let sum: i64 = scores.iter().enumerate().map(|(i, n)| (i as i64 + 1) * n).sum();
        let mut values = vec![
            id,
            json!(count),
            if count == 0 {
                Value::Null
            } else {
                json!((sum as f64 * 100.0 / count as f64).round() / 100.0)
            },
        ];
        values.extend(scores.iter().map(|n| json!(n)));
        values
    };
    let mut total = [0i64; 5];
    let rows = agents
        .iter()
        .map(|((name, id), scores)| {
            for (t, n) in total.iter_mut().zip(scores) {
                *t += n;
            }
            (name.clone(), row(json!(id), scores))
        })
        .collect();
    Report {
        kind: ReportKind::Ratings,
        range,
        key: "agent",
        columns: vec![
            "agent_id", "count", "average", "score_1", "score_2", "score_3", "score_4", "score_5",
        ],
        rows,
        total: row(Value::Null, &total),
    }
}

impl Report {
    pub fn to_json(&self) -> Value {
        let object = |key: Option<&str>, values: &[Value]| {
            let mut m = Map::new();
            if let Some(k) = key {
                m.insert(self.key.to_owned(), json!(k));
            }
            for (c, v) in self.columns.iter().zip(values) {
                m.insert((*c).to_owned(), v.clone());
            }
            Value::Object(m)
        };
        json!({
            "report": self.kind.as_str(),
            "from": self.range.from.to_string(),
            "to": self.range.to.to_string(),
            "time_zone": self.range.zone.name(),
            "columns": std::iter::once(self.key).chain(self.columns.iter().copied()).collect::<Vec<_>>(),
            "rows": self.rows.iter().map(|(k, v)| object(Some(k), v)).collect::<Vec<_>>(),
            "total": object(None, &self.total),
        })
    }

    /// RFC 4180 CSV with a header row and a `total` row last. A cell a
    /// spreadsheet would run as a formula is quoted and prefixed with `'`.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<&str> = std::iter::once(self.key).chain(self.columns.iter().copied()).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        let rows = self
            .rows
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain([("total", &self.total)]);
        for (key, values) in rows {
            let mut cells = vec![csv_cell(key)];
            cells.extend(values.iter().map(|v| match v {
                Value::Null => String::new(),
                Value::String(s) => csv_cell(s),
                other => other.to_string(),
            }));
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

fn csv_cell(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let s = if formula { format!("'{s}") } else { s.to_owned() };
    if formula || s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_range_defaults_to_the_last_thirty_days_of_the_workspace() {
        let now = utc("2026-12-06T23:30:00Z");
        let r = Range::parse(None, None, "Europe/Paris", now).unwrap();
        // 00:30 on the 7th in Paris.
        assert_eq!(
            (r.from.to_string(), r.to.to_string()),
            ("2026-11-08".into(), "2026-12-07".into())
        );
        let (start, end) = r.bounds();
        assert_eq!(start, utc("2026-11-07T23:00:00Z"));
        assert_eq!(end, utc("2026-12-07T23:00:00Z"));
        assert_eq!(r.bucket_minutes(), 60);
    }

    #[test]
    fn bad_ranges_name_their_field() {
        let now = utc("2026-12-06T12:00:00Z");
        assert_eq!(
            Range::parse(Some("2026-13-01"), None, "UTC", now).unwrap_err().field,
            "from"
        );
        assert_eq!(
            Range::parse(Some("2026-12-02"), Some("2026-12-01"), "UTC", now)
                .unwrap_err()
                .field,
            "to"
        );
        assert_eq!(
            Range::parse(Some("2025-01-01"), Some("2026-01-02"), "UTC", now)
                .unwrap_err()
                .field,
            "to"
        );
        assert!(
            Range::parse(Some("2025-01-01"), Some("2026-01-01"), "UTC", now).is_ok(),
            "366 days"
        );
    }

    #[test]
    fn a_half_hour_zone_counts_in_quarter_hours_and_splits_days_at_its_midnight() {
        let r = Range::parse(
            Some("2026-12-01"),
            Some("2026-12-02"),
            "Asia/Kolkata",
            utc("2026-12-06T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(r.bucket_minutes(), 15);
        // 18:15 UTC is 23:45 in Kolkata; 18:30 UTC is midnight.
        let at = |s: &str| utc(s).naive_utc();
        let buckets = vec![
            (
                at("2026-12-01T18:15:00Z"),
                "chat".to_owned(),
                Tally {
                    count: 2,
                    ..Tally::default()
                },
            ),
            (
                at("2026-12-01T18:30:00Z"),
                "chat".to_owned(),
                Tally {
                    count: 3,
                    ..Tally::default()
                },
            ),
        ];
        let report = conversations(r, &buckets);
        assert_eq!(report.rows[0].1[0], json!(2));
        assert_eq!(report.rows[1].1[0], json!(3));
        assert_eq!(report.total[2], json!(5));
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let r = Range::parse(Some("2026-12-01"), Some("2026-12-01"), "UTC", Utc::now()).unwrap();
        let report = ratings(
            r,
            &[
                (Some("a1".into()), "=HYPERLINK(\"x\")".into(), 5, 2),
                (Some("a2".into()), "Ada, Countess".into(), 3, 1),
            ],
        );
        assert_eq!(
            report.to_csv(),
            "agent,agent_id,count,average,score_1,score_2,score_3,score_4,score_5\r\n\
             \"'=HYPERLINK(\"\"x\"\")\",a1,2,5.0,0,0,0,0,2\r\n\
             \"Ada, Countess\",a2,1,3.0,0,0,1,0,0\r\n\
             total,,3,4.33,0,0,1,0,2\r\n"
        );
    }
}
