//! Hook inputs for a plugin's own tests, which run natively under plain
//! `cargo test`: the hook's logic is an ordinary function, the chat is held
//! in memory, the clock is UTC and logging goes to standard error.

use crate::{Agent, Author, Candidate, Chat, Context, Message, Visitor, WallTime};

/// 2026-11-25T10:00:00Z, when test chats start.
pub const STARTED_AT_MS: i64 = 1_795_600_800_000;

/// A chat's data, as a test builds it.
#[derive(Clone, Debug)]
pub struct TestChat {
    pub id: String,
    pub subject: Option<String>,
    pub visitor: Visitor,
    pub started_at: i64,
    pub messages: Vec<Message>,
}

/// A context with these settings, in UTC.
pub fn context(config: &[(&str, &str)]) -> Context {
    Context {
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        time_zone: "UTC".into(),
    }
}

/// A chat from `visitor`, with these messages a minute apart.
pub fn chat(visitor: &str, subject: Option<&str>, messages: &[(Author, &str, &str)]) -> Chat<'static> {
    let messages = messages
        .iter()
        .enumerate()
        .map(|(i, (author, name, body))| Message {
            author: *author,
            author_name: name.to_string(),
            body: body.to_string(),
            sent_at: STARTED_AT_MS + 60_000 * i as i64,
        })
        .collect();
    Chat::test(TestChat {
        id: "test-chat".into(),
        subject: subject.map(str::to_owned),
        visitor: Visitor {
            name: visitor.into(),
            email: None,
        },
        started_at: STARTED_AT_MS,
        messages,
    })
}

pub fn agent(id: &str, name: &str) -> Agent {
    Agent {
        id: id.into(),
        name: name.into(),
    }
}

pub fn candidate(id: &str, name: &str, online: bool, open_tickets: u32, skills: &[&str]) -> Candidate {
    Candidate {
        id: id.into(),
        name: name.into(),
        online,
        open_tickets,
        skills: skills.iter().map(|s| s.to_string()).collect(),
        last_assigned_at: None,
    }
}

/// `at` in UTC, as the clock answers natively (the rules' own UTC clock).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn utc_wall_time(at: i64) -> WallTime {
    let w = threadline_rules::clock::Clock::wall(&threadline_rules::clock::UtcClock, at);
    WallTime {
        year: w.year,
        month: w.month,
        day: w.day,
        hour: w.hour,
        minute: w.minute,
        second: w.second,
        utc_offset_minutes: w.offset_minutes,
        abbreviation: w.zone,
    }
}
