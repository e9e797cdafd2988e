//! What a list's `q=` asks for: words, each of which must start a word of
//! the chat or ticket (`ana refu` finds Ana's refund). The words are those
//! of `threadline_migrations::search`, the rules the index is written with.

use threadline_migrations::search;

use super::{InvalidInput, TicketNumber};

/// Longest `q=` accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Words of a query used at most: each one is a range read of the index.
pub const MAX_QUERY_TERMS: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<String>,
}

impl SearchQuery {
    /// `None` for an absent or blank `q`. A ticket reference such as
    /// `TK-1001` searches for its number.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        let Some(raw) = raw.map(str::trim).filter(|q| !q.is_empty()) else {
            return Ok(None);
        };
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(InvalidInput::new(
                "q",
                format!("q must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let number = TicketNumber::parse(raw).map(|n| n.0.to_string());
        let mut terms = search::terms([number.as_deref().unwrap_or(raw)]);
        if terms.is_empty() {
            return Err(InvalidInput::new(
                "q",
                "q must have a word of at least two letters or digits",
            ));
        }
        terms.truncate(MAX_QUERY_TERMS);
        Ok(Some(Self { terms }))
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The query again, URL-encoded, for the next page's link.
    pub fn to_url_value(&self) -> String {
        let mut out = String::new();
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                out.push('+');
            }
            for b in term.bytes() {
                if b.is_ascii_alphanumeric() {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<String> {
        SearchQuery::parse(Some(q)).unwrap().unwrap().terms().to_vec()
    }

    #[test]
    fn a_query_is_its_words() {
        assert_eq!(terms("  Ana REFU "), ["ana", "refu"]);
        assert_eq!(terms("ana@example.com"), ["ana", "example", "com"]);
        assert_eq!(terms("TK-1001"), ["1001"]);
        assert_eq!(
            terms("a b c d e f g h i j k l m n o p q r s t u v w x y z zz yy"),
            ["zz", "yy"]
        );
        assert_eq!(terms("one two three four five six seven").len(), MAX_QUERY_TERMS);
        assert_eq!(SearchQuery::parse(None), Ok(None));
        assert_eq!(SearchQuery::parse(Some("  ")), Ok(None));
    }

    #[test]
    fn a_query_without_words_or_too_long_is_refused() {
        for bad in ["a", "!!", "x y z", &"w".repeat(MAX_QUERY_CHARS + 1)] {
            assert_eq!(SearchQuery::parse(Some(bad)).unwrap_err().field, "q", "{bad}");
        }
    }

    #[test]
    fn the_next_page_link_carries_the_same_words() {
        let q = SearchQuery::parse(Some("Zoë refund")).unwrap().unwrap();
        assert_eq!(q.to_url_value(), "zo%C3%AB+refund");
    }
}
