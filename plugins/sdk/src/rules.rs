//! The built-in conversion rules, as the default plugins run them. The server
//! has the same rules natively (its fallback when a plugin fails); the tests
//! check that both give the same output on the same chats.

use crate::types::{Author, ChatHeader, Message};

pub const MAX_SUBJECT_CHARS: usize = 255;
const QUOTE_CHARS: usize = 200;

/// The chat's own subject if it has one, else "Chat with <visitor name>",
/// cut to the subject limit.
pub fn default_subject(chat: &ChatHeader) -> String {
    let chosen = match chat.subject.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => format!("Chat with {}", chat.visitor.name.trim()),
    };
    truncate_chars(&chosen, MAX_SUBJECT_CHARS)
}

/// One line a message, `[YYYY-MM-DD HH:MM:SS UTC] speaker: text`, with line
/// breaks and runs of spaces inside a message folded to one space.
pub fn plain_transcript(messages: &[Message]) -> String {
    // One buffer, sized once: a transcript of a long chat is built without
    // an allocation per message.
    let size: usize = messages.iter().map(|m| m.author_name.len() + m.body.len() + 30).sum();
    let mut out = String::with_capacity(size);
    for m in messages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push('[');
        push_utc(&mut out, m.sent_at);
        out.push_str("] ");
        out.push_str(&m.author_name);
        out.push_str(": ");
        push_folded(&mut out, &m.body);
    }
    out
}

/// The visitor's first message and the last agent reply, quoted, and how
/// many messages each side wrote; `None` for a chat with neither.
pub fn extractive_summary(messages: &[Message]) -> Option<String> {
    let first_question = messages.iter().find(|m| m.author == Author::Visitor);
    let last_answer = messages.iter().rev().find(|m| m.author == Author::Agent);
    let quote = |m: &Message| {
        let flat = fold_whitespace(&m.body);
        let cut = truncate_chars(&flat, QUOTE_CHARS);
        if cut.len() < flat.len() {
            format!("{cut}…")
        } else {
            cut
        }
    };
    let mut lines = Vec::new();
    if let Some(m) = first_question {
        lines.push(format!("{} asked: {}", m.author_name, quote(m)));
    }
    if let Some(m) = last_answer {
        lines.push(format!("Last reply from {}: {}", m.author_name, quote(m)));
    }
    if lines.is_empty() {
        return None;
    }
    let visitor = messages.iter().filter(|m| m.author == Author::Visitor).count();
    let agent = messages.iter().filter(|m| m.author == Author::Agent).count();
    lines.push(format!("{visitor} visitor and {agent} agent messages."));
    Some(lines.join("\n"))
}

pub fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_folded(&mut out, s);
    out
}

/// Appends `s` with its runs of whitespace folded to one space and none at
/// either end.
fn push_folded(out: &mut String, s: &str) {
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// Cuts `s` to at most `max` characters, on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => s[..idx].to_owned(),
        None => s.to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch
/// (sub-second part dropped), without pulling a date library into every
/// plugin.
pub fn format_utc(ms: i64) -> String {
    let mut out = String::with_capacity(23);
    push_utc(&mut out, ms);
    out
}

fn push_utc(out: &mut String, ms: i64) {
    use core::fmt::Write;
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

/// Proleptic Gregorian date of a day count from 1970-01-01, by eras of
/// 400 years (146,097 days), the calendar's exact repeat.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // shift the epoch to 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era
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

    #[test]
    fn formats_dates_across_eras_and_leap_days() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_602_061_999), "2026-11-25 10:21:01 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(format_utc(4_107_542_400_000), "2100-03-01 00:00:00 UTC");
    }
}
