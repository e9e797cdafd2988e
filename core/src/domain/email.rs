//! Email addresses as a help desk needs them: good enough to send to, and
//! matched case-insensitively so `Ada@Example.com` and `ada@example.com` are
//! one requester.

use super::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    /// As the person typed it (trimmed): shown back and used to send.
    original: String,
    /// Lower-cased: the key for find-or-create. Lower-casing the local part is
    /// technically lossy (RFC 5321 lets it be case-sensitive) but every mail
    /// provider in practice treats it case-insensitively, and two requesters
    /// differing only by case would be a worse surprise.
    normalized: String,
}

impl EmailAddress {
    /// Checks the shape of an address (one `@`, a non-empty local part, a
    /// dotted domain of sensible labels, no spaces or control characters,
    /// within the RFC 5321 lengths). It does not try to accept every address
    /// the RFC allows, only the ones people type.
    pub fn parse(field: &'static str, input: &str) -> Result<Self, InvalidInput> {
        let value = input.trim();
        let bad = |why: &str| InvalidInput::new(field, format!("{field} {why}"));
        if value.is_empty() {
            return Err(bad("is required"));
        }
        if value.len() > 254 {
            return Err(bad("is too long"));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(bad("must be an email address like name@example.com"));
        };
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad("must be an email address like name@example.com"));
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        {
            return Err(bad("must not contain spaces or <>,;\" characters"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad("must have a domain like example.com"));
        }
        Ok(Self {
            original: value.to_owned(),
            normalized: value.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_keeps_what_was_typed() {
        let e = EmailAddress::parse("email", "  Ada.Lovelace+help@Example.CO.uk ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace+help@Example.CO.uk");
        assert_eq!(e.normalized(), "ada.lovelace+help@example.co.uk");
    }

    #[test]
    fn refuses_what_cannot_be_an_address() {
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "ada@exa mple.com",
            "ada @example.com",
            "ada@-example.com",
            "ada@example..com",
            "a<b>@example.com",
            "ada@example.com\n",
        ] {
            let err = EmailAddress::parse("visitor_email", bad);
            // A trailing newline is trimmed away, so that one case is valid.
            if bad == "ada@example.com\n" {
                assert!(err.is_ok());
                continue;
            }
            let err = err.expect_err(bad);
            assert_eq!(err.field, "visitor_email", "{bad}");
        }
    }

    #[test]
    fn refuses_overlong_parts() {
        let local = "a".repeat(65);
        assert!(EmailAddress::parse("e", &format!("{local}@example.com")).is_err());
        let domain = format!("{}.com", "b".repeat(250));
        assert!(EmailAddress::parse("e", &format!("a@{domain}")).is_err());
    }
}
