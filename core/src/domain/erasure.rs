//! Erasing one person from texts that others wrote too: what replaces
//! them, and the scrubber that finds them in a transcript, an agent's
//! reply or a summary.
//!
//! What the person wrote themselves (their chat messages, their mails) is
//! replaced whole by the caller. Texts written by others keep their words
//! but lose the person's: their names, their addresses, and anything they
//! typed, whole or line by line (a transcript quotes a message line by
//! line). Matches are whole words and ignore case, so "Ana" is taken out of
//! "Hi ana," but not out of "Banana".

/// The name an erased person's rows keep, so tickets still read sensibly.
pub const PLACEHOLDER_NAME: &str = "Erased contact";
/// What replaces a text the person wrote, or wrote into another text.
pub const ERASED: &str = "[erased]";
/// The domain of an erased requester's placeholder address: `.invalid` is
/// reserved (RFC 2606), so nothing is ever mailed there.
pub const PLACEHOLDER_DOMAIN: &str = "erased.invalid";

/// The placeholder address of an erased requester: unique per requester
/// (the workspace's addresses are), stable, and never deliverable.
pub fn placeholder_email(requester_id: &str) -> String {
    format!("erased-{requester_id}@{PLACEHOLDER_DOMAIN}")
}

/// Whether an address is an erased person's placeholder.
pub fn is_placeholder_email(address: &str) -> bool {
    address.ends_with(&format!("@{PLACEHOLDER_DOMAIN}"))
}

/// Lines of a person's text shorter than this stay in others' texts:
/// "ok" or "thanks" identify nobody, and taking them out would cut through
/// the agents' own words.
const MIN_LINE_CHARS: usize = 8;
/// Name words shorter than this stay (initials, "Jo" in "Jo Smith" would
/// still go with the whole name).
const MIN_NAME_WORD_CHARS: usize = 3;

/// Finds a person's names, addresses and texts in other texts.
#[derive(Debug, Default)]
pub struct Scrubber {
    /// Lowercased needle, and what replaces it; longest first, so a whole
    /// message goes before one of its lines, and a full name before a part.
    needles: Vec<(Vec<char>, &'static str)>,
}

impl Scrubber {
    pub fn new<'a>(
        names: impl IntoIterator<Item = &'a str>,
        addresses: impl IntoIterator<Item = &'a str>,
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut needles: Vec<(Vec<char>, &'static str)> = Vec::new();
        let mut add = |text: &str, with: &'static str, min: usize| {
            let folded = fold(text.trim());
            if folded.len() >= min && !needles.iter().any(|(n, _)| *n == folded) {
                needles.push((folded, with));
            }
        };
        // An erased person's placeholder is nobody's name (erasing twice
        // changes nothing more).
        for name in names.into_iter().filter(|n| *n != PLACEHOLDER_NAME) {
            add(name, PLACEHOLDER_NAME, MIN_NAME_WORD_CHARS);
            for word in name.split_whitespace() {
                add(word, PLACEHOLDER_NAME, MIN_NAME_WORD_CHARS);
            }
        }
        for address in addresses {
            add(address, PLACEHOLDER_NAME, 3);
        }
        for text in texts {
            add(text, ERASED, MIN_LINE_CHARS);
            for line in text.lines() {
                add(line, ERASED, MIN_LINE_CHARS);
            }
        }
        needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        Self { needles }
    }

    /// `text` without the person's names, addresses and texts: one pass,
    /// the longest needle first at each place, so a replacement is never
    /// matched again (a name word inside "Erased contact").
    pub fn scrub(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < chars.len() {
            let folded = fold_char(chars[i]);
            let found = self
                .needles
                .iter()
                .find(|(needle, _)| needle[0] == folded && matches_word(&chars, i, needle));
            match found {
                Some((needle, with)) => {
                    out.push_str(with);
                    i += needle.len();
                }
                None => {
                    out.push(chars[i]);
                    i += 1;
                }
            }
        }
        out
    }

    /// A subject: gone whole when it was made from the person's words (the
    /// default subject is their first message, cut short), else scrubbed.
    pub fn subject(&self, subject: &str) -> String {
        let start = fold(subject.trim().trim_end_matches(['…', '.']).trim_end());
        let theirs = start.len() >= MIN_LINE_CHARS
            && self
                .needles
                .iter()
                .any(|(n, with)| *with == ERASED && n.starts_with(&start));
        if theirs { ERASED.to_owned() } else { self.scrub(subject) }
    }

    /// Whether the scrubber would change `text`.
    pub fn finds(&self, text: &str) -> bool {
        self.scrub(text) != text
    }
}

/// Lowercase, one char for one char, so positions in the folded text are
/// positions in the original.
fn fold(text: &str) -> Vec<char> {
    text.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Whether `needle` (folded) is at `i` in `text` as whole words: no letter
/// or digit glued on either side (a needle that starts or ends with
/// punctuation is its own edge).
fn matches_word(text: &[char], i: usize, needle: &[char]) -> bool {
    let n = needle.len();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
    n > 0
        && i + n <= text.len()
        && text[i..i + n].iter().zip(needle).all(|(&a, &b)| fold_char(a) == b)
        && !(needle[0].is_alphanumeric() && i > 0 && word(text.get(i - 1)))
        && !(needle[n - 1].is_alphanumeric() && word(text.get(i + n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zelda() -> Scrubber {
        Scrubber::new(
            ["Zelda Quimbywright"],
            ["zelda.q@example.org"],
            ["Hello, my parcel number is PX-88213-QQ\nIt never came.", "ok"],
        )
    }

    #[test]
    fn a_transcript_keeps_the_agents_lines_and_loses_the_persons() {
        let transcript = "[10:01] Zelda Quimbywright: Hello, my parcel number is PX-88213-QQ\n\
                          [10:01]   It never came.\n\
                          [10:02] Ana (agent): Sorry Zelda, I'll look into it. Write to ZELDA.Q@example.org?\n\
                          [10:03] Zelda Quimbywright: ok";
        let out = zelda().scrub(transcript);
        assert!(!out.to_lowercase().contains("zelda"), "{out}");
        assert!(!out.contains("PX-88213"), "{out}");
        assert!(!out.contains("never came"), "{out}");
        assert!(
            out.contains("Ana (agent): Sorry Erased contact, I'll look into it."),
            "{out}"
        );
        // Short lines identify nobody and stay.
        assert!(out.ends_with("Erased contact: ok"), "{out}");
    }

    #[test]
    fn a_replacement_is_never_matched_again() {
        let s = Scrubber::new(["Contact Smith"], [], []);
        assert_eq!(s.scrub("Call Contact Smith"), "Call Erased contact");
        let again = Scrubber::new([PLACEHOLDER_NAME], [], []);
        assert_eq!(again.scrub("Hi Erased contact"), "Hi Erased contact");
    }

    #[test]
    fn only_whole_words_go() {
        let s = Scrubber::new(["Ana"], [], []);
        assert_eq!(
            s.scrub("Banana for ana, ANA!"),
            "Banana for Erased contact, Erased contact!"
        );
    }

    #[test]
    fn a_subject_made_from_their_words_goes_whole() {
        let s = zelda();
        assert_eq!(s.subject("Hello, my parcel number…"), ERASED);
        assert_eq!(s.subject("Parcel for Zelda"), "Parcel for Erased contact");
        assert_eq!(s.subject("Refund"), "Refund");
    }

    #[test]
    fn placeholders_are_never_mailable_addresses() {
        let a = placeholder_email("0193");
        assert!(is_placeholder_email(&a));
        assert!(!is_placeholder_email("zelda.q@example.org"));
    }
}
