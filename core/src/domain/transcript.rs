//! The plain-text transcript copied into a ticket's description.

use chrono::{DateTime, Utc};

use super::MessageKind;

/// A message that may leave the agents' side: to a transcript, a summary, a
/// plugin. It cannot be built from an internal note, so no code that takes a
/// `PublicMessage` can leak one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicMessage {
    kind: MessageKind,
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl PublicMessage {
    /// `None` for an internal note.
    pub fn new(kind: MessageKind, author_name: String, body: String, created_at: DateTime<Utc>) -> Option<Self> {
        kind.is_public().then_some(Self {
            kind,
            author_name,
            body,
            created_at,
        })
    }

    pub fn kind(&self) -> MessageKind {
        self.kind
    }
}

/// The built-in transcript: one line a message, `[timestamp] speaker: text`,
/// oldest first, times in UTC. Line breaks inside a message become spaces so
/// that every line of the transcript starts with its timestamp and speaker.
pub fn plain_transcript(messages: &[PublicMessage]) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    // One buffer, sized once, and no format string parsed per message: a
    // long chat's transcript costs little more than copying its text.
    let size: usize = messages.iter().map(|m| m.author_name.len() + m.body.len() + 30).sum();
    let mut out = String::with_capacity(size);
    for m in messages {
        if !out.is_empty() {
            out.push('\n');
        }
        let t = m.created_at;
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "[{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC] ",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        out.push_str(&m.author_name);
        out.push_str(": ");
        for (i, word) in m.body.split_whitespace().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn msg(kind: MessageKind, who: &str, body: &str, minute: u32) -> Option<PublicMessage> {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, 0).unwrap();
        PublicMessage::new(kind, who.into(), body.into(), at)
    }

    #[test]
    fn internal_notes_cannot_become_public_messages() {
        assert!(msg(MessageKind::InternalNote, "Bob", "secret", 0).is_none());
        assert!(msg(MessageKind::Agent, "Bob", "hello", 0).is_some());
    }

    #[test]
    fn one_line_a_message_with_timestamp_and_speaker() {
        let messages: Vec<_> = [
            msg(MessageKind::Visitor, "Ada", "My order\nnever   arrived", 1),
            msg(MessageKind::Agent, "Bob", "Let me check.", 2),
            msg(MessageKind::System, "System", "Chat closed", 3),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(
            plain_transcript(&messages),
            "[2026-11-25 10:01:00 UTC] Ada: My order never arrived\n\
             [2026-11-25 10:02:00 UTC] Bob: Let me check.\n\
             [2026-11-25 10:03:00 UTC] System: Chat closed"
        );
    }

    #[test]
    fn an_empty_chat_has_an_empty_transcript() {
        assert_eq!(plain_transcript(&[]), "");
    }
}
