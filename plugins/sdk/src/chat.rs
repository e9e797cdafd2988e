//! The chat a hook reads: lent by the server (each getter asks the host,
//! so a plugin copies in only what it reads), or built by a test.

use crate::__types;
use crate::{Message, Visitor};

/// Messages one read asks for: the most the host hands out per call.
const PAGE: u32 = 1_000;

/// The chat being converted (or closed), internal notes already removed.
pub struct Chat<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    Lent(&'a __types::Chat),
    Test(crate::testing::TestChat),
}

impl<'a> Chat<'a> {
    #[doc(hidden)]
    pub fn lent(chat: &'a __types::Chat) -> Self {
        Self {
            source: Source::Lent(chat),
        }
    }

    pub(crate) fn test(chat: crate::testing::TestChat) -> Chat<'static> {
        Chat {
            source: Source::Test(chat),
        }
    }

    pub fn id(&self) -> String {
        match &self.source {
            Source::Lent(c) => c.id(),
            Source::Test(t) => t.id.clone(),
        }
    }

    /// The chat's own subject, when it has one.
    pub fn subject(&self) -> Option<String> {
        match &self.source {
            Source::Lent(c) => c.subject(),
            Source::Test(t) => t.subject.clone(),
        }
    }

    pub fn visitor(&self) -> Visitor {
        match &self.source {
            Source::Lent(c) => c.visitor(),
            Source::Test(t) => t.visitor.clone(),
        }
    }

    /// Milliseconds since the epoch.
    pub fn started_at(&self) -> i64 {
        match &self.source {
            Source::Lent(c) => c.started_at(),
            Source::Test(t) => t.started_at,
        }
    }

    /// How many public messages the chat has.
    pub fn message_count(&self) -> u32 {
        match &self.source {
            Source::Lent(c) => c.message_count(),
            Source::Test(t) => t.messages.len() as u32,
        }
    }

    /// The visitor's first message, if any.
    pub fn first_visitor_message(&self) -> Option<Message> {
        match &self.source {
            Source::Lent(c) => c.first_visitor_message(),
            Source::Test(t) => t.messages.iter().find(|m| m.author == crate::Author::Visitor).cloned(),
        }
    }

    /// Up to `count` messages from index `start` (0 is the oldest); fewer
    /// at the end of the chat, and at most 1,000 per read.
    pub fn messages(&self, start: u32, count: u32) -> Vec<Message> {
        match &self.source {
            Source::Lent(c) => c.messages(start, count),
            Source::Test(t) => {
                let start = (start as usize).min(t.messages.len());
                let end = start.saturating_add(count.min(PAGE) as usize).min(t.messages.len());
                t.messages[start..end].to_vec()
            }
        }
    }

    /// Every message, oldest first (read a page at a time).
    pub fn all_messages(&self) -> Vec<Message> {
        let total = self.message_count();
        let mut all = Vec::with_capacity(total as usize);
        while (all.len() as u32) < total {
            let page = self.messages(all.len() as u32, PAGE);
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        all
    }
}
