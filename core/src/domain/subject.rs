//! Ticket and chat subjects.

use super::{InvalidInput, single_line};

pub const MAX_SUBJECT_CHARS: usize = threadline_rules::MAX_SUBJECT_CHARS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    pub fn parse(field: &'static str, input: &str) -> Result<Self, InvalidInput> {
        single_line(field, input, MAX_SUBJECT_CHARS).map(Self)
    }

    /// An operator-typed subject: blank means "use the default".
    pub fn parse_optional(field: &'static str, input: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        match input {
            Some(s) if !s.trim().is_empty() => Self::parse(field, s).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The built-in default subject of a ticket made from a chat: the chat's own
/// subject if it has one, else "Chat with <visitor name>", cut to the
/// subject limit (the rule lives in `threadline-rules`, shared with the
/// default plugin).
pub fn default_subject(chat_subject: Option<&str>, visitor_name: &str) -> String {
    threadline_rules::default_subject(chat_subject, visitor_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefers_the_chat_subject_then_the_visitor_name() {
        assert_eq!(
            default_subject(Some("Refund for order 42"), "Ada"),
            "Refund for order 42"
        );
        assert_eq!(default_subject(None, "Ada Lovelace"), "Chat with Ada Lovelace");
        assert_eq!(default_subject(Some("   "), "Ada"), "Chat with Ada");
    }

    #[test]
    fn default_is_never_longer_than_the_limit() {
        let long = "é".repeat(400);
        assert_eq!(default_subject(None, &long).chars().count(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn typed_subjects_are_bounded_and_blank_means_default() {
        assert_eq!(Subject::parse_optional("subject", Some("  ")).unwrap(), None);
        assert_eq!(Subject::parse_optional("subject", None).unwrap(), None);
        assert_eq!(
            Subject::parse_optional("subject", Some(" Hi "))
                .unwrap()
                .unwrap()
                .as_str(),
            "Hi"
        );
        assert!(Subject::parse("subject", &"x".repeat(255)).is_ok());
        assert_eq!(
            Subject::parse("subject", &"x".repeat(256)).unwrap_err().field,
            "subject"
        );
    }
}
