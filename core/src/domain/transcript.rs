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

impl threadline_rules::Message for PublicMessage {
    fn speaker(&self) -> threadline_rules::Speaker {
        match self.kind {
            MessageKind::Visitor => threadline_rules::Speaker::Visitor,
            MessageKind::Agent => threadline_rules::Speaker::Agent,
            // Internal notes are never PublicMessages (see `new`).
            MessageKind::System | MessageKind::InternalNote => threadline_rules::Speaker::System,
        }
    }
    fn author_name(&self) -> &str {
        &self.author_name
    }
    fn body(&self) -> &str {
        &self.body
    }
    fn sent_at_ms(&self) -> i64 {
        self.created_at.timestamp_millis()
    }
}

/// The built-in transcript: one line a message, `[timestamp] speaker: text`,
/// oldest first, times in UTC (the rule lives in `threadline-rules`, shared
/// with the default plugin).
pub fn plain_transcript(messages: &[PublicMessage]) -> String {
    threadline_rules::plain_transcript(messages)
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
