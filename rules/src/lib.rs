//! The built-in conversion rules of the product spec, written once: the
//! server runs them natively (when a plugin fails, and in the benchmarks) and
//! the default plugins are these same functions compiled to WebAssembly.
//!
//! The rules read messages through [`Message`], so each side hands over
//! what it already holds (the server its chat rows, a plugin the WIT
//! records) without copying a chat into another shape first.
//!
//! A module per rule (`subject`, `transcript`, `assign`, `summary`), each
//! with its default and the settings an operator may give it; `settings`
//! reads a plugin's configuration, `clock` turns times into a zone's wall
//! clock, `redact` hides card numbers, phones and e-mail addresses.

pub mod assign;
pub mod clock;
pub mod redact;
pub mod settings;
pub mod subject;
pub mod summary;
pub mod transcript;

pub use clock::format_utc;
pub use settings::BadSetting;
pub use subject::{MAX_SUBJECT_CHARS, default_subject};
pub use summary::extractive_summary;
pub use transcript::plain_transcript;

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

/// What the rules' tests share: a message type, a chat that has a card
/// number, an e-mail address, a phone number and a system message, and a
/// zone with a daylight-saving change.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::clock::{Clock, UtcClock, Wall};
    use crate::{Message, Speaker};

    pub struct M(pub Speaker, pub &'static str, pub &'static str, pub i64);

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

    pub fn chat() -> [M; 3] {
        [
            M(
                Speaker::Visitor,
                "Ada",
                "My card is 4111 1111 1111 1111,\nmail ada@example.com",
                1_795_602_061_999,
            ),
            M(Speaker::System, "Threadline", "Bob joined", 1_795_602_100_000),
            M(
                Speaker::Agent,
                "Bob",
                "Call *me* on +33 6 12 34 56 78",
                1_795_602_121_000,
            ),
        ]
    }

    /// UTC+1 before 2026-03-29T01:00Z, UTC+2 after, as Paris.
    pub struct Paris;

    impl Clock for Paris {
        fn wall(&self, ms: i64) -> Wall {
            let (offset, zone) = if ms < 1_774_746_000_000 {
                (60, "CET")
            } else {
                (120, "CEST")
            };
            let mut w = UtcClock.wall(ms + offset * 60_000);
            w.zone = zone.into();
            w.offset_minutes = offset as i32;
            w
        }
    }
}
