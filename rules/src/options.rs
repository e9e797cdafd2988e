//! The built-in rules' settings: what an operator may set for each default
//! plugin, read from the plugin's configuration (key/value text), the same
//! way in the plugin and in the server's native fallback.

use crate::{Message, Speaker, fold_whitespace, truncate_chars};

/// A setting that does not read: its key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSetting {
    pub key: String,
    pub reason: String,
}

fn bad(key: &str, reason: impl Into<String>) -> BadSetting {
    BadSetting {
        key: key.into(),
        reason: reason.into(),
    }
}

fn boolean(key: &str, value: &str) -> Result<bool, BadSetting> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, "takes true or false")),
    }
}

fn number(key: &str, value: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, BadSetting> {
    value.trim().parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        bad(
            key,
            format!("takes a whole number from {} to {}", range.start(), range.end()),
        )
    })
}

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
        let (y, m, d) = crate::civil_from_days(days);
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

// ---------------------------------------------------------------- subject

/// The subject template's placeholders, for the settings' description.
pub const SUBJECT_PLACEHOLDERS: &str = "{visitor_name}, {visitor_email}, {chat_subject}, {first_message} or {first_message:60} (cut to 60 characters), {date}";

/// `template` empty means the spec's default subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectOptions {
    pub template: Option<String>,
}

impl SubjectOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match k {
                "template" if v.trim().is_empty() => o.template = None,
                "template" => {
                    check_template(v).map_err(|why| bad(k, why))?;
                    o.template = Some(v.to_owned());
                }
                _ => return Err(bad(k, "is not a setting of the subject rule (it has: template)")),
            }
        }
        Ok(o)
    }
}

/// What a subject template can say of a chat.
pub struct SubjectFacts<'a> {
    pub visitor_name: &'a str,
    pub visitor_email: Option<&'a str>,
    pub chat_subject: Option<&'a str>,
    pub first_message: Option<&'a str>,
    /// When the chat started, on the workspace's clock.
    pub started: Wall,
}

/// Walks a template: literal text and `{name}` / `{name:N}` placeholders
/// (`{{` and `}}` for braces).
fn walk(template: &str, mut each: impl FnMut(Piece<'_>) -> Result<(), String>) -> Result<(), String> {
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            each(Piece::Text("{"))?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            each(Piece::Text("}"))?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let close = after.find('}').ok_or("has a { without its }")?;
            let inner = &after[..close];
            let (name, width) = match inner.split_once(':') {
                Some((n, w)) => (
                    n,
                    Some(
                        w.parse::<usize>()
                            .ok()
                            .filter(|w| (1..=255).contains(w))
                            .ok_or_else(|| format!("{{{inner}}}: the width must be 1 to 255"))?,
                    ),
                ),
                None => (inner, None),
            };
            each(Piece::Field(name, width))?;
            rest = &after[close + 1..];
        } else if rest.starts_with('}') {
            return Err("has a } without its {".into());
        } else {
            let next = rest.find(['{', '}']).unwrap_or(rest.len());
            each(Piece::Text(&rest[..next]))?;
            rest = &rest[next..];
        }
    }
    Ok(())
}

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str, Option<usize>),
}

const FIELDS: [&str; 5] = ["visitor_name", "visitor_email", "chat_subject", "first_message", "date"];

/// Refuses a template with an unknown placeholder or unbalanced braces.
pub fn check_template(template: &str) -> Result<(), String> {
    if template.chars().count() > 500 {
        return Err("is over 500 characters".into());
    }
    walk(template, |p| match p {
        Piece::Field(name, _) if !FIELDS.contains(&name) => Err(format!(
            "has the unknown placeholder {{{name}}}; the placeholders are {SUBJECT_PLACEHOLDERS}"
        )),
        _ => Ok(()),
    })
}

/// The subject: the template filled in (a missing value is empty), on one
/// line, cut to the subject limit; the spec's default when there is no
/// template or it comes out blank.
pub fn subject(options: &SubjectOptions, facts: &SubjectFacts<'_>) -> String {
    let default = || crate::default_subject(facts.chat_subject, facts.visitor_name);
    let Some(template) = &options.template else {
        return default();
    };
    let mut out = String::new();
    let filled = walk(template, |p| {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(name, width) => {
                let value = match name {
                    "visitor_name" => facts.visitor_name.to_owned(),
                    "visitor_email" => facts.visitor_email.unwrap_or("").to_owned(),
                    "chat_subject" => facts.chat_subject.unwrap_or("").to_owned(),
                    "first_message" => fold_whitespace(facts.first_message.unwrap_or("")),
                    "date" => {
                        let w = &facts.started;
                        format!("{:04}-{:02}-{:02}", w.year, w.month, w.day)
                    }
                    _ => String::new(),
                };
                match width {
                    Some(w) if value.chars().count() > w => {
                        out.push_str(&truncate_chars(&value, w.saturating_sub(1)));
                        out.push('…');
                    }
                    _ => out.push_str(&value),
                }
            }
        }
        Ok(())
    });
    let line = fold_whitespace(&out);
    if filled.is_err() || line.is_empty() {
        return default();
    }
    truncate_chars(&line, crate::MAX_SUBJECT_CHARS)
}

// ------------------------------------------------------------- transcript

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TranscriptFormat {
    /// One line a message: `[time] speaker: text`.
    #[default]
    Plain,
    /// A paragraph a message under its speaker and time, Markdown escaped.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateFormat {
    /// `2026-11-25 10:21:01 UTC`
    #[default]
    Iso,
    /// `2026-11-25 10:21 UTC`
    Minutes,
    /// `10:21 UTC`
    Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptOptions {
    pub format: TranscriptFormat,
    /// Times in the workspace's zone (the default) or in UTC.
    pub utc: bool,
    pub date_format: DateFormat,
    pub include_system: bool,
    /// Replace e-mail addresses, phone and card numbers in message text.
    pub redact: bool,
}

impl Default for TranscriptOptions {
    fn default() -> Self {
        Self {
            format: TranscriptFormat::Plain,
            utc: false,
            date_format: DateFormat::Iso,
            include_system: true,
            redact: false,
        }
    }
}

impl TranscriptOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match (k, v.trim()) {
                ("format", "plain") => o.format = TranscriptFormat::Plain,
                ("format", "markdown") => o.format = TranscriptFormat::Markdown,
                ("format", _) => return Err(bad(k, "takes plain or markdown")),
                ("time_zone", "workspace") => o.utc = false,
                ("time_zone", "utc") => o.utc = true,
                ("time_zone", _) => return Err(bad(k, "takes workspace or utc")),
                ("date_format", "iso") => o.date_format = DateFormat::Iso,
                ("date_format", "minutes") => o.date_format = DateFormat::Minutes,
                ("date_format", "time") => o.date_format = DateFormat::Time,
                ("date_format", _) => return Err(bad(k, "takes iso, minutes or time")),
                ("include_system", v) => o.include_system = boolean(k, v)?,
                ("redact", v) => o.redact = boolean(k, v)?,
                _ => {
                    return Err(bad(
                        k,
                        "is not a setting of the transcript rule (it has: format, time_zone, date_format, \
                         include_system, redact)",
                    ));
                }
            }
        }
        Ok(o)
    }
}

fn push_wall(out: &mut String, w: &Wall, format: DateFormat) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = match format {
        DateFormat::Iso => write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
            w.year, w.month, w.day, w.hour, w.minute, w.second, w.zone
        ),
        DateFormat::Minutes => write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02} {}",
            w.year, w.month, w.day, w.hour, w.minute, w.zone
        ),
        DateFormat::Time => write!(out, "{:02}:{:02} {}", w.hour, w.minute, w.zone),
    };
}

/// Backslash before what Markdown would read as markup.
fn push_markdown_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The transcript with these options. With the defaults and a UTC clock it
/// is exactly [`crate::plain_transcript`].
pub fn transcript<M: Message>(messages: &[M], clock: &dyn Clock, options: &TranscriptOptions) -> String {
    let utc = UtcClock;
    let cached = QuarterHourClock::new(clock);
    let clock: &dyn Clock = if options.utc { &utc } else { &cached };
    let mut out = String::with_capacity(messages.iter().map(|m| m.body().len() + 40).sum());
    for m in messages {
        if !options.include_system && m.speaker() == Speaker::System {
            continue;
        }
        let redacted;
        let body = if options.redact {
            redacted = crate::redact::redact(m.body());
            redacted.as_str()
        } else {
            m.body()
        };
        let wall = clock.wall(m.sent_at_ms());
        match options.format {
            TranscriptFormat::Plain => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push('[');
                push_wall(&mut out, &wall, options.date_format);
                out.push_str("] ");
                out.push_str(m.author_name());
                out.push_str(": ");
                crate::push_folded(&mut out, body);
            }
            TranscriptFormat::Markdown => {
                if !out.is_empty() {
                    out.push_str("\n\n");
                }
                out.push_str("**");
                push_markdown_escaped(&mut out, m.author_name());
                out.push_str("** · ");
                push_wall(&mut out, &wall, options.date_format);
                out.push_str("  \n");
                push_markdown_escaped(&mut out, &fold_whitespace(body));
            }
        }
    }
    out
}

// ------------------------------------------------------------- assignment

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The agent who converts.
    #[default]
    ConvertingAgent,
    /// The candidate with the fewest open tickets.
    LeastLoaded,
    /// The candidate given a ticket longest ago (never, first).
    RoundRobin,
    /// A candidate with a skill named in the chat (its subject or the
    /// visitor's messages), the least loaded of them.
    Skills,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssignOptions {
    pub strategy: Strategy,
    /// Consider agents who are not online (by default only online ones).
    pub include_offline: bool,
}

impl AssignOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match (k, v.trim()) {
                ("strategy", "converting_agent") => o.strategy = Strategy::ConvertingAgent,
                ("strategy", "least_loaded") => o.strategy = Strategy::LeastLoaded,
                ("strategy", "round_robin") => o.strategy = Strategy::RoundRobin,
                ("strategy", "skills") => o.strategy = Strategy::Skills,
                ("strategy", _) => {
                    return Err(bad(k, "takes converting_agent, least_loaded, round_robin or skills"));
                }
                ("include_offline", v) => o.include_offline = boolean(k, v)?,
                _ => {
                    return Err(bad(
                        k,
                        "is not a setting of the assignment rule (it has: strategy, include_offline)",
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// A candidate as the assignment rule reads one.
pub trait Candidate {
    fn id(&self) -> &str;
    fn online(&self) -> bool;
    fn open_tickets(&self) -> u32;
    fn skills(&self) -> &[String];
    fn last_assigned_ms(&self) -> Option<i64>;
}

/// The id of the candidate the strategy picks; the converting agent when
/// nobody qualifies (nobody online, no skill named in the chat). `chat_text`
/// is asked for only by the skills strategy.
pub fn assign<C: Candidate>(
    options: &AssignOptions,
    converting_agent: &str,
    candidates: &[C],
    chat_text: impl FnOnce() -> String,
) -> String {
    let pool: Vec<&C> = candidates
        .iter()
        .filter(|c| options.include_offline || c.online())
        .collect();
    // Ties go to the converting agent, then to the first listed.
    let me = |c: &&C| c.id() != converting_agent;
    let chosen = match options.strategy {
        Strategy::ConvertingAgent => None,
        Strategy::LeastLoaded => pool.iter().min_by_key(|c| (c.open_tickets(), me(c))),
        Strategy::RoundRobin => pool
            .iter()
            .min_by_key(|c| (c.last_assigned_ms().unwrap_or(i64::MIN), me(c))),
        Strategy::Skills => {
            let words: Vec<String> = chat_text()
                .split(|ch: char| !ch.is_alphanumeric() && ch != '-' && ch != '_')
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            pool.iter()
                .filter(|c| c.skills().iter().any(|s| words.contains(&s.to_lowercase())))
                .min_by_key(|c| (c.open_tickets(), me(c)))
        }
    };
    chosen.map_or_else(|| converting_agent.to_owned(), |c| c.id().to_owned())
}

// ---------------------------------------------------------------- summary

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryOptions {
    pub enabled: bool,
    /// Characters quoted of each message.
    pub quote_chars: usize,
    /// Replace e-mail addresses, phone and card numbers in the quotes.
    pub redact: bool,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            quote_chars: crate::QUOTE_CHARS,
            redact: false,
        }
    }
}

impl SummaryOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match k {
                "enabled" => o.enabled = boolean(k, v)?,
                "length" => o.quote_chars = number(k, v, 20..=2000)?,
                "redact" => o.redact = boolean(k, v)?,
                _ => {
                    return Err(bad(
                        k,
                        "is not a setting of the summary rule (it has: enabled, length, redact)",
                    ));
                }
            }
        }
        Ok(o)
    }
}

pub fn summary<M: Message>(messages: &[M], options: &SummaryOptions) -> Option<String> {
    if !options.enabled {
        return None;
    }
    crate::summary_quoting(messages, options.quote_chars, options.redact)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct M(Speaker, &'static str, &'static str, i64);

    impl Message for M {
        fn speaker(&self) -> Speaker {
            self.0
        }
        fn author_name(&self) -> &str {
            self.1
        }
        fn body(&self) -> &str {
            self.2
        }
        fn sent_at_ms(&self) -> i64 {
            self.3
        }
    }

    fn chat() -> [M; 3] {
        [
            M(
                Speaker::Visitor,
                "Ada",
                "My card is 4111 1111 1111 1111,\nmail ada@example.com",
                1_795_602_061_999,
            ),
            M(Speaker::System, "Threadline", "Bob joined", 1_795_602_100_000),
            M(
                Speaker::Agent,
                "Bob",
                "Call *me* on +33 6 12 34 56 78",
                1_795_602_121_000,
            ),
        ]
    }

    /// UTC+1 before 2026-03-29T01:00Z, UTC+2 after, as Paris.
    struct Paris;

    impl Clock for Paris {
        fn wall(&self, ms: i64) -> Wall {
            let (offset, zone) = if ms < 1_774_746_000_000 {
                (60, "CET")
            } else {
                (120, "CEST")
            };
            let mut w = UtcClock.wall(ms + offset * 60_000);
            w.zone = zone.into();
            w.offset_minutes = offset as i32;
            w
        }
    }

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
    fn the_default_options_give_the_plain_transcript() {
        let c = chat();
        assert_eq!(
            transcript(&c, &UtcClock, &TranscriptOptions::default()),
            crate::plain_transcript(&c)
        );
    }

    #[test]
    fn redaction_markdown_system_messages_and_dates_follow_the_settings() {
        let o = TranscriptOptions::from_config([
            ("format", "markdown"),
            ("redact", "true"),
            ("include_system", "false"),
            ("date_format", "time"),
        ])
        .unwrap();
        assert_eq!(
            transcript(&chat(), &UtcClock, &o),
            // Rendered, the escaped brackets show as "[email]".
            "**Ada** · 10:21 UTC  \nMy card is \\[card number\\], mail \\[email\\]\n\n**Bob** · 10:22 UTC  \nCall \\*me\\* on \\[phone\\]"
        );
        let e = TranscriptOptions::from_config([("format", "html")]).unwrap_err();
        assert_eq!(e.key, "format");
        assert!(TranscriptOptions::from_config([("colour", "x")]).is_err());
    }

    #[test]
    fn a_subject_template_fills_its_placeholders() {
        let facts = SubjectFacts {
            visitor_name: "Ada Lovelace",
            visitor_email: Some("ada@example.com"),
            chat_subject: None,
            first_message: Some("I was charged twice\nfor order 4521 and want a refund"),
            started: UtcClock.wall(1_795_602_061_999),
        };
        let o = |t: &str| SubjectOptions::from_config([("template", t)]).unwrap();
        assert_eq!(
            subject(&o("[{date}] {visitor_name}: {first_message:20}"), &facts),
            "[2026-11-25] Ada Lovelace: I was charged twice…"
        );
        assert_eq!(
            subject(&o("{chat_subject}"), &facts),
            "Chat with Ada Lovelace",
            "blank → default"
        );
        assert_eq!(subject(&o("{{VIP}} {visitor_email}"), &facts), "{VIP} ada@example.com");
        assert_eq!(subject(&SubjectOptions::default(), &facts), "Chat with Ada Lovelace");
        for bad in ["{nope}", "{first_message:0}", "{visitor_name", "a } b"] {
            assert!(SubjectOptions::from_config([("template", bad)]).is_err(), "{bad}");
        }
    }

    struct S(&'static str, bool, u32, Vec<String>, Option<i64>);

    impl Candidate for S {
        fn id(&self) -> &str {
            self.0
        }
        fn online(&self) -> bool {
            self.1
        }
        fn open_tickets(&self) -> u32 {
            self.2
        }
        fn skills(&self) -> &[String] {
            &self.3
        }
        fn last_assigned_ms(&self) -> Option<i64> {
            self.4
        }
    }

    #[test]
    fn each_strategy_picks_its_agent_and_falls_back_to_the_converting_one() {
        let team = [
            S("bob", true, 7, vec![], Some(300)),
            S("cleo", true, 2, vec![], Some(100)),
            S("dev", false, 0, vec![], None),
            S("eve", true, 2, vec![], Some(200)),
        ];
        let pick = |strategy, offline| {
            let o = AssignOptions {
                strategy,
                include_offline: offline,
            };
            assign(&o, "bob", &team, String::new)
        };
        assert_eq!(pick(Strategy::ConvertingAgent, false), "bob");
        assert_eq!(pick(Strategy::LeastLoaded, false), "cleo", "fewest open, first listed");
        assert_eq!(pick(Strategy::LeastLoaded, true), "dev");
        assert_eq!(pick(Strategy::RoundRobin, false), "cleo", "assigned longest ago");
        assert_eq!(pick(Strategy::RoundRobin, true), "dev", "never assigned goes first");
        assert_eq!(
            pick(Strategy::Skills, false),
            "bob",
            "no skill named: the converting agent"
        );

        let skilled = [
            S("bob", true, 1, vec![], None),
            S("cleo", true, 5, vec!["billing".into()], None),
            S("eve", true, 3, vec!["Billing".into(), "refunds".into()], None),
        ];
        let o = AssignOptions::from_config([("strategy", "skills")]).unwrap();
        assert_eq!(assign(&o, "bob", &skilled, || "A billing question".into()), "eve");
        assert_eq!(assign(&o, "bob", &skilled, || "Where is my parcel?".into()), "bob");
        assert!(AssignOptions::from_config([("strategy", "random")]).is_err());
    }

    #[test]
    fn a_summary_can_be_off_or_shorter() {
        let c = chat();
        let off = SummaryOptions::from_config([("enabled", "false")]).unwrap();
        assert_eq!(summary(&c, &off), None);
        let short = SummaryOptions::from_config([("length", "20")]).unwrap();
        let s = summary(&c, &short).unwrap();
        assert!(s.starts_with("Ada asked: My card is 4111 1111…"), "{s}");
        // Redacted before it is cut, so no part of a number is left.
        let hidden = SummaryOptions::from_config([("length", "20"), ("redact", "true")]).unwrap();
        let s = summary(&c, &hidden).unwrap();
        assert!(s.starts_with("Ada asked: My card is [card num…"), "{s}");
        assert!(s.contains("Call *me* on [phone]"), "{s}");
        assert!(SummaryOptions::from_config([("length", "5")]).is_err());
    }
}
