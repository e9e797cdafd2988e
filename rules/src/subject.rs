//! The ticket's subject: the chat's own, or "Chat with <visitor>", or an
//! operator's template filled in.

use crate::clock::Wall;
use crate::settings::{BadSetting, bad};
use crate::{fold_whitespace, truncate_chars};

/// Subjects are at most this many characters.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// The chat's own subject if it has one, else "Chat with <visitor name>",
/// cut to the subject limit so that a default can never be refused.
pub fn default_subject(chat_subject: Option<&str>, visitor_name: &str) -> String {
    let chosen = match chat_subject.map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => format!("Chat with {}", visitor_name.trim()),
    };
    truncate_chars(&chosen, MAX_SUBJECT_CHARS)
}

/// The subject template's placeholders, for the settings' description.
pub const SUBJECT_PLACEHOLDERS: &str = "{visitor_name}, {visitor_email}, {chat_subject}, {first_message} or {first_message:60} (cut to 60 characters), {date}";

/// `template` empty means the spec's default subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectOptions {
    pub template: Option<String>,
}

impl SubjectOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match k {
                "template" if v.trim().is_empty() => o.template = None,
                "template" => {
                    check_template(v).map_err(|why| bad(k, why))?;
                    o.template = Some(v.to_owned());
                }
                _ => return Err(bad(k, "is not a setting of the subject rule (it has: template)")),
            }
        }
        Ok(o)
    }
}

/// What a subject template can say of a chat.
pub struct SubjectFacts<'a> {
    pub visitor_name: &'a str,
    pub visitor_email: Option<&'a str>,
    pub chat_subject: Option<&'a str>,
    pub first_message: Option<&'a str>,
    /// When the chat started, on the workspace's clock.
    pub started: Wall,
}

/// Walks a template: literal text and `{name}` / `{name:N}` placeholders
/// (`{{` and `}}` for braces).
fn walk(template: &str, mut each: impl FnMut(Piece<'_>) -> Result<(), String>) -> Result<(), String> {
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            each(Piece::Text("{"))?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            each(Piece::Text("}"))?;
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let close = after.find('}').ok_or("has a { without its }")?;
            let inner = &after[..close];
            let (name, width) = match inner.split_once(':') {
                Some((n, w)) => (
                    n,
                    Some(
                        w.parse::<usize>()
                            .ok()
                            .filter(|w| (1..=255).contains(w))
                            .ok_or_else(|| format!("{{{inner}}}: the width must be 1 to 255"))?,
                    ),
                ),
                None => (inner, None),
            };
            each(Piece::Field(name, width))?;
            rest = &after[close + 1..];
        } else if rest.starts_with('}') {
            return Err("has a } without its {".into());
        } else {
            let next = rest.find(['{', '}']).unwrap_or(rest.len());
            each(Piece::Text(&rest[..next]))?;
            rest = &rest[next..];
        }
    }
    Ok(())
}

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str, Option<usize>),
}

const FIELDS: [&str; 5] = ["visitor_name", "visitor_email", "chat_subject", "first_message", "date"];

/// Refuses a template with an unknown placeholder or unbalanced braces.
pub fn check_template(template: &str) -> Result<(), String> {
    if template.chars().count() > 500 {
        return Err("is over 500 characters".into());
    }
    walk(template, |p| match p {
        Piece::Field(name, _) if !FIELDS.contains(&name) => Err(format!(
            "has the unknown placeholder {{{name}}}; the placeholders are {SUBJECT_PLACEHOLDERS}"
        )),
        _ => Ok(()),
    })
}

/// The subject: the template filled in (a missing value is empty), on one
/// line, cut to the subject limit; the spec's default when there is no
/// template or it comes out blank.
pub fn subject(options: &SubjectOptions, facts: &SubjectFacts<'_>) -> String {
    let default = || default_subject(facts.chat_subject, facts.visitor_name);
    let Some(template) = &options.template else {
        return default();
    };
    let mut out = String::new();
    let filled = walk(template, |p| {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(name, width) => {
                let value = match name {
                    "visitor_name" => facts.visitor_name.to_owned(),
                    "visitor_email" => facts.visitor_email.unwrap_or("").to_owned(),
                    "chat_subject" => facts.chat_subject.unwrap_or("").to_owned(),
                    "first_message" => fold_whitespace(facts.first_message.unwrap_or("")),
                    "date" => {
                        let w = &facts.started;
                        format!("{:04}-{:02}-{:02}", w.year, w.month, w.day)
                    }
                    _ => String::new(),
                };
                match width {
                    Some(w) if value.chars().count() > w => {
                        out.push_str(&truncate_chars(&value, w.saturating_sub(1)));
                        out.push('…');
                    }
                    _ => out.push_str(&value),
                }
            }
        }
        Ok(())
    });
    let line = fold_whitespace(&out);
    if filled.is_err() || line.is_empty() {
        return default();
    }
    truncate_chars(&line, MAX_SUBJECT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, UtcClock};

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
    fn a_subject_template_fills_its_placeholders() {
        let facts = SubjectFacts {
            visitor_name: "Ada Lovelace",
            visitor_email: Some("ada@example.com"),
            chat_subject: None,
            first_message: Some("I was charged twice\nfor order 4521 and want a refund"),
            started: UtcClock.wall(1_795_602_061_999),
        };
        let o = |t: &str| SubjectOptions::from_config([("template", t)]).unwrap();
        assert_eq!(
            subject(&o("[{date}] {visitor_name}: {first_message:20}"), &facts),
            "[2026-11-25] Ada Lovelace: I was charged twice…"
        );
        assert_eq!(
            subject(&o("{chat_subject}"), &facts),
            "Chat with Ada Lovelace",
            "blank → default"
        );
        assert_eq!(subject(&o("{{VIP}} {visitor_email}"), &facts), "{VIP} ada@example.com");
        assert_eq!(subject(&SubjectOptions::default(), &facts), "Chat with Ada Lovelace");
        for bad in ["{nope}", "{first_message:0}", "{visitor_name", "a } b"] {
            assert!(SubjectOptions::from_config([("template", bad)]).is_err(), "{bad}");
        }
    }
}
