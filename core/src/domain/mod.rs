//! Pure types and rules of the help desk. Nothing here does I/O or knows
//! about HTTP, SQL or WebAssembly, so every rule is unit-tested in place.

// First: its `string_enum!` serves the modules after it.
#[macro_use]
pub mod chat;
pub mod automation;

pub mod email;
pub mod erasure;
pub mod hooks;
pub mod hosting;
pub mod inbound;
pub mod mail;
pub mod password;
pub mod reports;
pub mod rollout;
pub mod rules;
pub mod search;
pub mod sla;
pub mod subject;
pub mod summary;
pub mod team;
pub mod ticket_number;
pub mod transcript;

pub use chat::{ChatStatus, MessageKind, TicketStatus};
pub use email::EmailAddress;
pub use search::SearchQuery;
pub use subject::Subject;
pub use ticket_number::TicketNumber;

/// Why a value given by a person was refused. `field` names the input so a
/// client can show the message next to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    /// A name such as `subject`, or a path such as
    /// `hooks.subject.config.prefix`.
    pub field: std::borrow::Cow<'static, str>,
    pub message: String,
    /// Where in the field's text, for text that is code (a rule's source):
    /// line and column, from 1.
    pub at: Option<(u32, u32)>,
}

impl InvalidInput {
    pub fn new(field: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            at: None,
        }
    }

    /// The same error, placed at `line` and `column` of the field's text.
    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.at = Some((line, column));
        self
    }
}

/// Trims `value` and checks it is a non-empty single line of at most `max`
/// characters. Used for names and subjects, where a newline or a control
/// character is always a mistake (or an attempt to forge lines in a
/// transcript). Bidirectional controls are refused too: a name ending in
/// U+202E would show the rest of a console line or transcript line reversed.
pub fn single_line(field: &'static str, value: &str, max: usize) -> Result<String, InvalidInput> {
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidInput::new(field, format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(InvalidInput::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            format!("{field} must be a single line of text"),
        ));
    }
    if value.chars().any(is_bidi_control) {
        return Err(InvalidInput::new(
            field,
            format!(
                "{field} must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C)"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// Text a workspace chose (a fault's reason, a plugin's name), as a log
/// line may carry it: control characters escaped (`\n` as the two
/// characters `\` `n`), so no workspace can end a line of the server's log
/// and forge the next one, or send a terminal escape to whoever reads it.
pub fn log_text(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The Unicode characters that change the direction of the text around
/// them (embeddings, overrides, isolates and marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Trims a message body and bounds its size. Newlines are allowed; other
/// control characters are not. Line ends are kept as `\n` alone: a `\r\n`
/// or a bare `\r` becomes `\n`, so a body mailed out can only ever have the
/// CRLF line ends the mailer writes (a bare CR reaching SMTP, `line1\r.`,
/// is what lenient relays may read as the end of the message).
pub fn message_body(field: &'static str, value: &str) -> Result<String, InvalidInput> {
    const MAX: usize = 10_000;
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidInput::new(field, format!("{field} is required")));
    }
    if value.chars().count() > MAX {
        return Err(InvalidInput::new(
            field,
            format!("{field} must be at most {MAX} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(InvalidInput::new(field, format!("{field} contains control characters")));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_trims_and_refuses_blank_long_and_multiline_values() {
        assert_eq!(single_line("name", "  Ada ", 10).unwrap(), "Ada");
        assert_eq!(single_line("name", "   ", 10).unwrap_err().field, "name");
        assert!(single_line("name", "abcdefghijk", 10).is_err());
        assert!(single_line("name", "Ada\nEve", 10).is_err());
    }

    #[test]
    fn single_line_refuses_bidirectional_controls() {
        for c in ['\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}'] {
            let e = single_line("name", &format!("Ada{c}gpj.exe"), 40).unwrap_err();
            assert!(e.message.contains("bidirectional"), "{c:?}: {}", e.message);
        }
        // Right-to-left text itself is welcome.
        assert_eq!(single_line("name", "שלום", 40).unwrap(), "שלום");
    }

    #[test]
    fn message_body_keeps_newlines_but_refuses_other_control_characters() {
        assert_eq!(message_body("body", " a\nb ").unwrap(), "a\nb");
        assert!(message_body("body", "a\u{7}b").is_err());
        assert!(message_body("body", "").is_err());
        assert!(message_body("body", &"x".repeat(10_001)).is_err());
    }

    #[test]
    fn log_text_escapes_control_characters_and_keeps_the_rest() {
        assert_eq!(log_text("plain, Zoë 😀"), "plain, Zoë 😀");
        assert_eq!(
            log_text("oops\n2026-12-06T03:00:00Z INFO signed in\u{1b}[2J"),
            "oops\\n2026-12-06T03:00:00Z INFO signed in\\u{1b}[2J"
        );
    }

    #[test]
    fn message_body_ends_every_line_with_a_newline_alone() {
        assert_eq!(message_body("body", "a\r\nb\rc\n\rd").unwrap(), "a\nb\nc\n\nd");
        assert_eq!(message_body("body", "line1\r.").unwrap(), "line1\n.");
        assert!(!message_body("body", "x\r\r\ny\r").unwrap().contains('\r'));
    }
}
