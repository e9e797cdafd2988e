//! The ticket's description: the chat's public messages, one line each by
//! default, or in the form, zone and redaction an operator chose.

use crate::clock::{Clock, QuarterHourClock, UtcClock, Wall, push_utc};
use crate::settings::{BadSetting, bad, boolean};
use crate::{Message, Speaker, fold_whitespace, push_folded};

/// One line a message, `[YYYY-MM-DD HH:MM:SS UTC] speaker: text`, oldest
/// first, with line breaks and runs of spaces inside a message folded to
/// one space, so that every line starts with its time and speaker.
pub fn plain_transcript<M: Message>(messages: &[M]) -> String {
    // One buffer, sized once, and no format string parsed per message: a
    // long chat's transcript costs little more than copying its text.
    let size: usize = messages
        .iter()
        .map(|m| m.author_name().len() + m.body().len() + 30)
        .sum();
    let mut out = String::with_capacity(size);
    for m in messages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push('[');
        push_utc(&mut out, m.sent_at_ms());
        out.push_str("] ");
        out.push_str(m.author_name());
        out.push_str(": ");
        push_folded(&mut out, m.body());
    }
    out
}

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
/// is exactly [`plain_transcript`].
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
                push_folded(&mut out, body);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::UtcClock;
    use crate::fixture::{M, chat};

    #[test]
    fn a_transcript_has_one_line_a_message_with_time_and_speaker() {
        let chat = [
            M(Speaker::Visitor, "Ada", "Where is\n my   parcel?", 1_795_602_061_999),
            M(Speaker::Agent, "Bob", "Checking.", 1_795_602_121_000),
        ];
        assert_eq!(
            plain_transcript(&chat),
            "[2026-11-25 10:21:01 UTC] Ada: Where is my parcel?\n[2026-11-25 10:22:01 UTC] Bob: Checking."
        );
        assert_eq!(plain_transcript::<M>(&[]), "");
    }

    #[test]
    fn the_default_options_give_the_plain_transcript() {
        let c = chat();
        assert_eq!(
            transcript(&c, &UtcClock, &TranscriptOptions::default()),
            plain_transcript(&c)
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
}
