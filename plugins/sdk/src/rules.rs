//! The built-in conversion rules, as the default plugins run them: the
//! functions of `threadline-rules` (which the server runs natively too),
//! over the WIT types plugins receive.

use crate::{Author, Chat, Message};

pub use threadline_rules::{MAX_SUBJECT_CHARS, fold_whitespace, format_utc, truncate_chars};

impl threadline_rules::Message for Message {
    fn speaker(&self) -> threadline_rules::Speaker {
        match self.author {
            Author::Visitor => threadline_rules::Speaker::Visitor,
            Author::Agent => threadline_rules::Speaker::Agent,
            Author::System => threadline_rules::Speaker::System,
        }
    }
    fn author_name(&self) -> &str {
        &self.author_name
    }
    fn body(&self) -> &str {
        &self.body
    }
    fn sent_at_ms(&self) -> i64 {
        self.sent_at
    }
}

/// The chat's own subject if it has one, else "Chat with <visitor name>",
/// cut to the subject limit.
pub fn default_subject(chat: &Chat) -> String {
    threadline_rules::default_subject(chat.subject().as_deref(), &chat.visitor().name)
}

/// One line a message, `[YYYY-MM-DD HH:MM:SS UTC] speaker: text`.
pub fn plain_transcript(messages: &[Message]) -> String {
    threadline_rules::plain_transcript(messages)
}

/// The visitor's first message and the last agent reply, quoted, and how
/// many messages each side wrote; `None` for a chat with neither.
pub fn extractive_summary(messages: &[Message]) -> Option<String> {
    threadline_rules::extractive_summary(messages)
}

pub use threadline_rules::assign::{AssignOptions, Strategy};
pub use threadline_rules::redact::redact;
pub use threadline_rules::settings::BadSetting;
pub use threadline_rules::subject::{SUBJECT_PLACEHOLDERS, SubjectOptions};
pub use threadline_rules::summary::SummaryOptions;
pub use threadline_rules::transcript::TranscriptOptions;

/// The workspace's settings as the rules read them.
pub fn settings(ctx: &crate::Context) -> impl Iterator<Item = (&str, &str)> {
    ctx.config.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

impl From<BadSetting> for crate::Error {
    fn from(b: BadSetting) -> Self {
        crate::Error::Setting(crate::SettingError {
            key: b.key,
            reason: b.reason,
        })
    }
}

/// The host's clock (the workspace's zone), as the rules read time.
pub struct HostClock;

impl threadline_rules::clock::Clock for HostClock {
    fn wall(&self, ms: i64) -> threadline_rules::clock::Wall {
        let t = crate::local_time(ms);
        threadline_rules::clock::Wall {
            year: t.year,
            month: t.month,
            day: t.day,
            hour: t.hour,
            minute: t.minute,
            second: t.second,
            zone: t.abbreviation,
            offset_minutes: t.utc_offset_minutes,
        }
    }
}

/// The clock of the call's workspace: UTC without asking the host when the
/// workspace is in UTC, the host's clock otherwise.
fn clock(ctx: &crate::Context) -> &'static dyn threadline_rules::clock::Clock {
    if ctx.time_zone == "UTC" {
        &threadline_rules::clock::UtcClock
    } else {
        &HostClock
    }
}

/// The subject rule with these options: the template filled in from the
/// chat, or the spec's default (which reads only the subject and the
/// visitor: a call pays for no more).
pub fn subject(ctx: &crate::Context, chat: &Chat, options: &SubjectOptions) -> String {
    if options.template.is_none() {
        return default_subject(chat);
    }
    let visitor = chat.visitor();
    let subject = chat.subject();
    let first = chat.first_visitor_message();
    let facts = threadline_rules::subject::SubjectFacts {
        visitor_name: &visitor.name,
        visitor_email: visitor.email.as_deref(),
        chat_subject: subject.as_deref(),
        first_message: first.as_ref().map(|m| m.body.as_str()),
        started: clock(ctx).wall(chat.started_at()),
    };
    threadline_rules::subject::subject(options, &facts)
}

/// The transcript rule with these options, on the workspace's clock.
pub fn transcript(ctx: &crate::Context, messages: &[Message], options: &TranscriptOptions) -> String {
    threadline_rules::transcript::transcript(messages, clock(ctx), options)
}

/// The summary rule with these options.
pub fn summary(messages: &[Message], options: &SummaryOptions) -> Option<String> {
    threadline_rules::summary::summary(messages, options)
}

impl threadline_rules::assign::Candidate for crate::Candidate {
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
        self.last_assigned_at
    }
}

/// The assignment rule with these options: who gets the ticket. Only the
/// skills strategy reads the chat (its subject and the visitor's messages).
pub fn assign(
    chat: &Chat,
    converting: &crate::Agent,
    candidates: &[crate::Candidate],
    options: &AssignOptions,
) -> String {
    threadline_rules::assign::assign(options, &converting.id, candidates, || {
        let mut text = chat.subject().unwrap_or_default();
        for m in chat.all_messages() {
            if m.author == Author::Visitor {
                text.push('\n');
                text.push_str(&m.body);
            }
        }
        text
    })
}
