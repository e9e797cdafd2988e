//! The words a document is found by. The server indexes with these rules as
//! it writes, and migration 16 backfilled with the same rules, so they live
//! here, beside the schema they fill.
//!
//! A term is a run of letters and digits, lowercased, two to
//! [`MAX_TERM_CHARS`] characters (longer runs keep their first
//! [`MAX_TERM_CHARS`]). A query matches a document when each of its terms
//! starts one of the document's: `ana exa` finds `Ana <ana@example.com>`.

use std::collections::HashSet;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

/// Longer runs (hashes, tokens, base64) are cut here; a query for the whole
/// run still matches, by its first characters.
pub const MAX_TERM_CHARS: usize = 32;

/// Terms kept from one document at most (its first distinct ones): indexing
/// a message costs at most this many rows, whatever its length.
pub const MAX_TERMS_PER_DOCUMENT: usize = 400;

/// The distinct terms of `texts`, in order of first appearance.
pub fn terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for text in texts {
        for term in words(text) {
            if out.len() == MAX_TERMS_PER_DOCUMENT {
                return out;
            }
            if seen.insert(term.clone()) {
                out.push(term);
            }
        }
    }
    out
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().nth(1).is_some())
        .map(|w| w.chars().flat_map(char::to_lowercase).take(MAX_TERM_CHARS).collect())
}

/// The range `[from, to)` of terms that start with `prefix`, in code point
/// order (bytewise for UTF-8, which is how both databases compare the
/// column); `to` is `None` when nothing bounds it.
pub fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return (prefix.to_owned(), Some(chars.into_iter().collect()));
        }
    }
    (prefix.to_owned(), None)
}

/// The two indexes: a chat is found by its visitor, subject and messages; a
/// ticket by its number, subject, requester and comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIndex {
    Chats,
    Tickets,
}

impl SearchIndex {
    fn table_name(self) -> &'static str {
        match self {
            SearchIndex::Chats => "chat_terms",
            SearchIndex::Tickets => "ticket_terms",
        }
    }

    fn owner_name(self) -> &'static str {
        match self {
            SearchIndex::Chats => "chat_id",
            SearchIndex::Tickets => "ticket_id",
        }
    }

    pub(crate) fn table(self) -> Alias {
        Alias::new(self.table_name())
    }

    pub(crate) fn owner(self) -> Alias {
        Alias::new(self.owner_name())
    }
}

/// Terms as a JSON array of strings, the form SQLite's `json_each` takes.
/// Terms are runs of letters and digits: nothing in them needs quoting.
pub fn terms_json(terms: &[String]) -> String {
    if terms.is_empty() {
        return "[]".to_owned();
    }
    format!("[\"{}\"]", terms.join("\",\""))
}

/// Adds `terms` to what finds `owner` (a chat or ticket id); terms it has
/// already are skipped. `None` when there is nothing to add.
///
/// One statement whatever the number of terms, and always the same text
/// (the terms travel as one value), so the database prepares it once per
/// connection: a row per term in the SQL would make each count a new
/// statement to parse and plan.
pub fn insert(
    backend: DbBackend,
    index: SearchIndex,
    tenant_id: &str,
    owner: &str,
    terms: &[String],
) -> Option<Statement> {
    if terms.is_empty() {
        return None;
    }
    let (table, column) = (index.table_name(), index.owner_name());
    // Terms are runs of letters and digits: nothing in them needs quoting
    // in JSON, and none holds a space.
    let (sql, list) = match backend {
        DbBackend::Postgres => (
            format!(
                "INSERT INTO {table} (tenant_id, term, {column}) \
                 SELECT $1, t, $2 FROM unnest(string_to_array($3, ' ')) AS t ON CONFLICT DO NOTHING"
            ),
            terms.join(" "),
        ),
        _ => (
            // `WHERE true`: SQLite's parser needs it between a SELECT and
            // an upsert's ON CONFLICT.
            format!(
                "INSERT INTO {table} (tenant_id, term, {column}) \
                 SELECT ?, value, ? FROM json_each(?) WHERE true ON CONFLICT DO NOTHING"
            ),
            terms_json(terms),
        ),
    };
    Some(Statement::from_sql_and_values(
        backend,
        sql,
        [tenant_id.into(), owner.into(), list.into()],
    ))
}

/// The ids (chat or ticket) of the workspace that have a term starting with
/// `prefix`: one range of the `(tenant_id, term, …)` primary key.
pub fn matching(index: SearchIndex, tenant_id: &str, prefix: &str) -> SelectStatement {
    let (from, to) = prefix_range(prefix);
    let mut select = Query::select();
    select
        .column(index.owner())
        .from(index.table())
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(Alias::new("term")).gte(from));
    if let Some(to) = to {
        select.and_where(Expr::col(Alias::new("term")).lt(to));
    }
    select
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercase_words_of_two_or_more() {
        assert_eq!(
            terms(["Ana <Ana.Silva@Example.com>", "a Refund, ANA!"]),
            ["ana", "silva", "example", "com", "refund"]
        );
        assert_eq!(terms(["Ørsted über 42 x"]), ["ørsted", "über", "42"]);
    }

    #[test]
    fn long_runs_are_cut_and_documents_capped() {
        let long = "a".repeat(100);
        assert_eq!(terms([long.as_str()]), ["a".repeat(MAX_TERM_CHARS)]);
        let many: String = (0..1000).map(|i| format!("w{i} ")).collect();
        assert_eq!(terms([many.as_str()]).len(), MAX_TERMS_PER_DOCUMENT);
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_words_it_starts() {
        let (from, to) = prefix_range("ana");
        let to = to.unwrap();
        assert_eq!(to, "anb");
        for inside in ["ana", "anabel", "ana\u{10FFFF}"] {
            assert!(inside >= from.as_str() && inside < to.as_str(), "{inside}");
        }
        for outside in ["an", "anb", "amz", "b"] {
            assert!(!(outside >= from.as_str() && outside < to.as_str()), "{outside}");
        }
        assert_eq!(prefix_range("a\u{D7FF}").1.unwrap(), "a\u{E000}");
        assert_eq!(prefix_range("\u{10FFFF}").1, None);
    }
}
