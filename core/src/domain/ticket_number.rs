//! Ticket reference numbers: `TK-1001`, `TK-1002`, … per workspace.

use std::fmt;

pub const FIRST_TICKET_NUMBER: i64 = 1001;
pub const PREFIX: &str = "TK-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TicketNumber(pub i64);

impl TicketNumber {
    /// Accepts `TK-1001` (any case of the prefix) or a bare `1001`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        // `get` rather than slicing: the input may have a multi-byte
        // character where the prefix would end.
        let digits = match s.get(..PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &s[PREFIX.len()..],
            _ => s,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(TicketNumber)
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_reference_numbers() {
        assert_eq!(TicketNumber(1001).to_string(), "TK-1001");
        assert_eq!(TicketNumber::parse("TK-1001"), Some(TicketNumber(1001)));
        assert_eq!(TicketNumber::parse("tk-1002"), Some(TicketNumber(1002)));
        assert_eq!(TicketNumber::parse("1003"), Some(TicketNumber(1003)));
        for bad in [
            "TK-",
            "TK-12a",
            "TK--1",
            "",
            "TK-99999999999999999999",
            "X\u{c901f}¤",
            "𐀀",
            "T𐀀K-1",
        ] {
            assert_eq!(TicketNumber::parse(bad), None, "{bad}");
        }
    }
}
