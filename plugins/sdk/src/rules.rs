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
