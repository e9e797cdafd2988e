//! The built-in summary at close: extractive, not generative. It quotes what
//! the visitor asked first and what an agent said last, which is what a
//! colleague picking up the ticket needs before reading the transcript.

use super::transcript::PublicMessage;

/// Quoted at most from a message (the rule's own limit, for the tests).
#[cfg(test)]
const QUOTE_CHARS: usize = 200;

/// The rule lives in `threadline-rules`, shared with the default plugin.
pub fn extractive_summary(messages: &[PublicMessage]) -> Option<String> {
    threadline_rules::extractive_summary(messages)
}

#[cfg(test)]
mod tests {
    use super::super::MessageKind;
    use super::super::transcript::tests::msg;
    use super::*;

    #[test]
    fn quotes_the_first_question_and_the_last_reply() {
        let messages: Vec<_> = [
            msg(MessageKind::Visitor, "Ada", "Where is my parcel?", 1),
            msg(MessageKind::Agent, "Bob", "Checking.", 2),
            msg(MessageKind::Visitor, "Ada", "Thanks", 3),
            msg(MessageKind::Agent, "Bob", "It ships Monday.", 4),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(
            extractive_summary(&messages).unwrap(),
            "Ada asked: Where is my parcel?\nLast reply from Bob: It ships Monday.\n2 visitor and 2 agent messages."
        );
    }

    #[test]
    fn long_messages_are_cut_with_an_ellipsis() {
        let messages: Vec<_> = msg(MessageKind::Visitor, "Ada", &"word ".repeat(100), 1)
            .into_iter()
            .collect();
        let summary = extractive_summary(&messages).unwrap();
        let first = summary.lines().next().unwrap();
        assert!(first.ends_with('…'));
        assert_eq!(first.chars().count(), "Ada asked: ".len() + QUOTE_CHARS + 1);
    }

    #[test]
    fn nothing_to_summarise_gives_none() {
        let only_system: Vec<_> = msg(MessageKind::System, "System", "Chat closed", 1)
            .into_iter()
            .collect();
        assert_eq!(extractive_summary(&only_system), None);
    }
}
