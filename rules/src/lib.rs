//! The built-in conversion rules of the product spec, written once: the
//! server runs them natively (when a plugin fails, and in the benchmarks) and
//! the default plugins are these same functions compiled to WebAssembly.
//!
//! The rules read messages through [`Message`], so each side hands over
//! what it already holds (the server its chat rows, a plugin the WIT
//! records) without copying a chat into another shape first.

pub mod options;
pub mod redact;

use std::fmt::Write;

/// Subjects are at most this many characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// A summary quotes at most this many characters of a message.
const QUOTE_CHARS: usize = 200;

/// Who wrote a public message (internal notes never reach a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Visitor,
    Agent,
    System,
}

/// A public message of a chat, as the rules read it.
pub trait Message {
    fn speaker(&self) -> Speaker;
    fn author_name(&self) -> &str;
    fn body(&self) -> &str;
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn sent_at_ms(&self) -> i64;
}

/// The chat's own subject if it has one, else "Chat with <visitor name>",
/// cut to the subject limit so that a default can never be refused.
pub fn default_subject(chat_subject: Option<&str>, visitor_name: &str) -> String {
    let chosen = match chat_subject.map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => format!("Chat with {}", visitor_name.trim()),
    };
    truncate_chars(&chosen, MAX_SUBJECT_CHARS)
}

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

/// Extractive, not generative: the visitor's first message and the last
/// agent reply, quoted, and how many messages each side wrote, which is
/// what a colleague picking up the ticket needs before reading the
/// transcript. `None` for a chat with neither.
pub fn extractive_summary<M: Message>(messages: &[M]) -> Option<String> {
    summary_quoting(messages, QUOTE_CHARS, false)
}

/// The extractive summary, quoting at most `quote_chars` of each message.
pub(crate) fn summary_quoting<M: Message>(messages: &[M], quote_chars: usize, redact: bool) -> Option<String> {
    let first_question = messages.iter().find(|m| m.speaker() == Speaker::Visitor);
    let last_answer = messages.iter().rev().find(|m| m.speaker() == Speaker::Agent);
    let quote = |m: &M| {
        let flat = if redact {
            fold_whitespace(&redact::redact(m.body()))
        } else {
            fold_whitespace(m.body())
        };
        let cut = truncate_chars(&flat, quote_chars);
        if cut.len() < flat.len() {
            format!("{cut}…")
        } else {
            cut
        }
    };
    let mut lines = Vec::new();
    if let Some(m) = first_question {
        lines.push(format!("{} asked: {}", m.author_name(), quote(m)));
    }
    if let Some(m) = last_answer {
        lines.push(format!("Last reply from {}: {}", m.author_name(), quote(m)));
    }
    if lines.is_empty() {
        return None;
    }
    let visitor = messages.iter().filter(|m| m.speaker() == Speaker::Visitor).count();
    let agent = messages.iter().filter(|m| m.speaker() == Speaker::Agent).count();
    lines.push(format!("{visitor} visitor and {agent} agent messages."));
    Some(lines.join("\n"))
}

/// `s` with its runs of whitespace folded to one space and none at either end.
pub fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_folded(&mut out, s);
    out
}

pub(crate) fn push_folded(out: &mut String, s: &str) {
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// At most `max` characters of `s`, cut on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => s[..idx].to_owned(),
        None => s.to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch (the
/// sub-second part dropped), without a date library in every plugin.
pub fn format_utc(ms: i64) -> String {
    let mut out = String::with_capacity(23);
    push_utc(&mut out, ms);
    out
}

fn push_utc(out: &mut String, ms: i64) {
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

    #[test]
    fn the_subject_is_the_chats_own_or_names_the_visitor() {
        assert_eq!(default_subject(Some(" Refund "), "Ada"), "Refund");
        assert_eq!(default_subject(Some("   "), " Ada Lovelace "), "Chat with Ada Lovelace");
        assert_eq!(
            default_subject(None, &"é".repeat(300)).chars().count(),
            MAX_SUBJECT_CHARS
        );
    }

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
    fn a_summary_quotes_the_first_question_and_the_last_reply() {
        let chat = [
            M(Speaker::Visitor, "Ada", "Where is my parcel?", 1),
            M(Speaker::Agent, "Bob", "Checking.", 2),
            M(Speaker::System, "Threadline", "Bob joined.", 3),
            M(Speaker::Agent, "Bob", "It ships Monday.", 4),
        ];
        assert_eq!(
            extractive_summary(&chat).unwrap(),
            "Ada asked: Where is my parcel?\nLast reply from Bob: It ships Monday.\n1 visitor and 2 agent messages."
        );
        assert_eq!(extractive_summary(&[M(Speaker::System, "T", "x", 1)]), None);
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
