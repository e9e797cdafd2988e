//! Redaction of what a visitor should not have typed into a chat: e-mail
//! addresses, phone numbers and payment card numbers (Luhn-checked), each
//! replaced by a label before the text reaches a ticket.

/// What replaces each kind.
pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[phone]";
pub const CARD: &str = "[card number]";

/// `text` with e-mail addresses, card numbers (13 to 19 digits, spaces or
/// dashes between groups, passing the Luhn check) and phone numbers (9 to
/// 15 digits, or 7 to 15 after a `+`) replaced. Errs on the side of hiding:
/// a long order number may read as a phone number.
pub fn redact(text: &str) -> String {
    let without_emails = redact_emails(text);
    redact_numbers(&without_emails)
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

fn redact_emails(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = (&rest[..at], &rest[at + 1..]);
        let local_start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_local_char(*c))
            .last()
            .map(|(i, _)| i);
        let domain_len: usize = after
            .chars()
            .take_while(|c| is_domain_char(*c))
            .map(char::len_utf8)
            .sum();
        // A domain ends at its last letter or digit ("mail me at a@b.com.").
        let domain = after[..domain_len].trim_end_matches(['.', '-']);
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        match local_start {
            Some(start) if tld_ok => {
                out.push_str(&before[..start]);
                out.push_str(EMAIL);
                rest = &after[domain.len()..];
            }
            _ => {
                out.push_str(&rest[..=at]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Replaces runs of digits (with the separators people type between
/// groups) that read as card or phone numbers.
fn redact_numbers(text: &str) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // byte offset of text copied to out so far
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let prev_is_word = i > 0 && chars[i - 1].1.is_alphanumeric();
        let opens =
            c.is_ascii_digit() || ((c == '+' || c == '(') && chars.get(i + 1).is_some_and(|(_, n)| n.is_ascii_digit()));
        if !opens || prev_is_word {
            i += 1;
            continue;
        }
        // The run: digits, with single separators between them.
        let mut j = i;
        let mut digits: Vec<u8> = Vec::new();
        let mut last_digit_end = start;
        // Separators in a row: at most two, as in "(555) 123".
        let mut seps = 0;
        while j < chars.len() {
            let (at, ch) = chars[j];
            if ch.is_ascii_digit() {
                digits.push(ch as u8 - b'0');
                last_digit_end = at + 1;
                seps = 0;
            } else if matches!(ch, ' ' | '-' | '.' | '(' | ')' | '+') && seps < 2 {
                seps += 1;
            } else {
                break;
            }
            j += 1;
        }
        let end = last_digit_end;
        let next_is_word = text[end..].chars().next().is_some_and(char::is_alphanumeric);
        let plus = c == '+';
        let label = if next_is_word {
            None
        } else if (13..=19).contains(&digits.len()) && luhn(&digits) {
            Some(CARD)
        } else if (9..=15).contains(&digits.len()) || (plus && (7..=15).contains(&digits.len())) {
            Some(PHONE)
        } else {
            None
        };
        match label {
            Some(label) => {
                out.push_str(&text[copied..start]);
                out.push_str(label);
                copied = end;
                // Continue after the run.
                i = chars.iter().position(|(at, _)| *at >= end).unwrap_or(chars.len());
            }
            None => {
                // Skip this run's digits, so its tail is not read as a run.
                i = chars
                    .iter()
                    .position(|(at, _)| *at >= end)
                    .unwrap_or(chars.len())
                    .max(i + 1);
            }
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_cards_and_phones_are_replaced() {
        assert_eq!(
            redact("Mail ada.l+x@example.co.uk or call +44 20 7946 0958."),
            "Mail [email] or call [phone]."
        );
        assert_eq!(
            redact("Card 4111 1111 1111 1111, exp 12/29"),
            "Card [card number], exp 12/29"
        );
        assert_eq!(redact("card 4111-1111-1111-1111"), "card [card number]");
        assert_eq!(redact("my number is (555) 123-4567 ok"), "my number is [phone] ok");
        assert_eq!(redact("06 12 34 56 78"), "[phone]");
    }

    #[test]
    fn ordinary_numbers_and_at_signs_stay() {
        for kept in [
            "Order 4521 arrived on 2026-11-25 at 10:21.",
            "meet @ noon",
            "user@localhost",
            "version 1.2.3",
            "abc123456789xyz",
            "",
        ] {
            assert_eq!(redact(kept), kept);
        }
        // Sixteen digits that fail the Luhn check are not a card; as a
        // phone number they are too long.
        assert_eq!(redact("ref 4111 1111 1111 1112"), "ref 4111 1111 1111 1112");
    }

    #[test]
    fn luhn_checks_known_numbers() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<u8>>();
        assert!(luhn(&d("4111111111111111")));
        assert!(luhn(&d("5500005555555559")));
        assert!(luhn(&d("378282246310005")));
        assert!(!luhn(&d("4111111111111112")));
    }
}
