//! Cursor pagination for lists: `?limit=` (1 to 200, 50 by default) and
//! `?before=` (the last item of the previous page). The body stays a plain
//! array; while more may follow, a `Link: <…>; rel="next"` header gives the
//! next page's URL.

use axum::http::{HeaderMap, HeaderValue, header::LINK};

use crate::domain::InvalidInput;

pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 200;

/// Reads `limit`; absent means the default.
pub fn limit(raw: Option<&str>) -> Result<u64, InvalidInput> {
    match raw {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| InvalidInput::new("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))),
    }
}

/// The `Link` header for a full page (a shorter page is the last one).
/// `query` holds the list's other filters, already URL-safe.
pub fn next_link(path: &str, query: &[(&str, &str)], returned: usize, limit: u64, last: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(last) = last.filter(|_| returned as u64 == limit) else {
        return headers;
    };
    let mut url = format!("{path}?limit={limit}&before={last}");
    for (key, value) in query {
        url.push_str(&format!("&{key}={value}"));
    }
    if let Ok(value) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
        headers.insert(LINK, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some("1")), Ok(1));
        assert_eq!(limit(Some("200")), Ok(200));
        for bad in ["0", "201", "-1", "ten", "1.5"] {
            assert_eq!(limit(Some(bad)).unwrap_err().field, "limit", "{bad}");
        }
    }

    #[test]
    fn only_a_full_page_links_to_the_next() {
        let full = next_link("/api/v1/chats", &[("status", "open")], 2, 2, Some("c2"));
        assert_eq!(
            full[LINK],
            "</api/v1/chats?limit=2&before=c2&status=open>; rel=\"next\""
        );
        assert!(next_link("/api/v1/chats", &[], 1, 2, Some("c1")).is_empty());
        assert!(next_link("/api/v1/chats", &[], 0, 2, None).is_empty());
    }
}
