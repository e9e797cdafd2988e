//! The summary at close: the visitor's first message and the last agent
//! reply, quoted, and the count of each side's messages.

use crate::settings::{BadSetting, bad, boolean, number};
use crate::{Message, Speaker, fold_whitespace, truncate_chars};

/// A summary quotes at most this many characters of a message.
const QUOTE_CHARS: usize = 200;

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
            fold_whitespace(&crate::redact::redact(m.body()))
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
            quote_chars: QUOTE_CHARS,
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
    summary_quoting(messages, options.quote_chars, options.redact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{M, chat};

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
