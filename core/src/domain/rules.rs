//! The built-in rules with their settings, natively, over a hook's chat:
//! the same functions (`threadline-rules`) the default plugins run, with
//! the workspace's zone from chrono-tz where a plugin asks the host.

use chrono::{Datelike, TimeZone, Timelike};

use super::MessageKind;
use super::hooks::{HookAgent, HookCandidate, HookChat};
pub use threadline_rules::assign::AssignOptions;
use threadline_rules::clock::{Clock, Wall};
pub use threadline_rules::settings::BadSetting;
use threadline_rules::subject::SubjectFacts;
pub use threadline_rules::subject::SubjectOptions;
pub use threadline_rules::summary::SummaryOptions;
pub use threadline_rules::transcript::TranscriptOptions;
use threadline_rules::{assign, subject, summary, transcript};

/// A zone's wall clock (UTC for a name chrono-tz does not know, which the
/// settings API does not let in).
pub struct ZoneClock(chrono_tz::Tz);

impl ZoneClock {
    pub fn new(zone: chrono_tz::Tz) -> Self {
        Self(zone)
    }

    pub fn named(zone: &str) -> Self {
        Self(zone.parse().unwrap_or(chrono_tz::UTC))
    }
}

impl Clock for ZoneClock {
    fn wall(&self, ms: i64) -> Wall {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let local = self.0.from_utc_datetime(&utc.naive_utc());
        Wall {
            year: local.year(),
            month: local.month() as u8,
            day: local.day() as u8,
            hour: local.hour() as u8,
            minute: local.minute() as u8,
            second: local.second() as u8,
            zone: local.format("%Z").to_string(),
            offset_minutes: chrono::Offset::fix(local.offset()).local_minus_utc() / 60,
        }
    }
}

pub fn subject_of(chat: &HookChat, options: &SubjectOptions) -> String {
    let first = chat.messages.iter().find(|m| m.kind() == MessageKind::Visitor);
    let facts = SubjectFacts {
        visitor_name: &chat.visitor_name,
        visitor_email: chat.visitor_email.as_deref(),
        chat_subject: chat.subject.as_deref(),
        first_message: first.map(|m| m.body.as_str()),
        started: ZoneClock::named(&chat.time_zone).wall(chat.started_at.timestamp_millis()),
    };
    subject::subject(options, &facts)
}

pub fn transcript_of(chat: &HookChat, options: &TranscriptOptions) -> String {
    transcript::transcript(&chat.messages, &ZoneClock::named(&chat.time_zone), options)
}

pub fn summary_of(chat: &HookChat, options: &SummaryOptions) -> Option<String> {
    summary::summary(&chat.messages, options)
}

impl assign::Candidate for HookCandidate {
    fn id(&self) -> &str {
        &self.id
    }
    fn online(&self) -> bool {
        self.online
    }
    fn open_tickets(&self) -> u32 {
        self.open_tickets
    }
    fn skills(&self) -> &[String] {
        &self.skills
    }
    fn last_assigned_ms(&self) -> Option<i64> {
        self.last_assigned_at.map(|t| t.timestamp_millis())
    }
}

pub fn assignee_of(
    chat: &HookChat,
    agent: &HookAgent,
    candidates: &[HookCandidate],
    options: &AssignOptions,
) -> String {
    assign::assign(options, &agent.id, candidates, || {
        let mut text = chat.subject.clone().unwrap_or_default();
        for m in chat.messages.iter().filter(|m| m.kind() == MessageKind::Visitor) {
            text.push('\n');
            text.push_str(&m.body);
        }
        text
    })
}
