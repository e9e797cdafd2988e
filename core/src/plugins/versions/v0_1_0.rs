//! `threadline:plugin@0.1.0` (`wit/0.1.0`), frozen: the host's bindings of
//! it and the WIT types adapters build.

/// The WIT package version this server implements.
pub const VERSION: &str = "0.1.0";

pub mod bindings {

    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "threadline:plugin/plugin@0.1.0",
        // Exports are called async, so a call can be raced against its
        // deadline and yield to the plugin runtime at every epoch tick.
        exports: { default: async },
    });
}

/// The types of the contract, as the host builds them.
pub mod wit {
    pub use super::bindings::threadline::plugin::types::*;
}

use crate::domain::MessageKind;
use crate::domain::hooks::{HookAgent, HookCandidate, HookChat};
use crate::domain::transcript::PublicMessage;

fn message(m: &PublicMessage) -> wit::Message {
    wit::Message {
        author: match m.kind() {
            MessageKind::Visitor => wit::Author::Visitor,
            MessageKind::Agent => wit::Author::Agent,
            MessageKind::System => wit::Author::System,
            // A PublicMessage cannot be built from an internal note.
            MessageKind::InternalNote => unreachable!("internal notes never become public messages"),
        },
        author_name: m.author_name.clone(),
        body: m.body.clone(),
        sent_at: m.created_at.timestamp_millis(),
    }
}

/// The chat without its messages, as 0.1.0's subject and assignment hooks
/// get it.
pub fn header(chat: &HookChat) -> wit::ChatHeader {
    wit::ChatHeader {
        id: chat.chat_id.clone(),
        subject: chat.subject.clone(),
        visitor: wit::Visitor {
            name: chat.visitor_name.clone(),
            email: chat.visitor_email.clone(),
        },
        started_at: chat.started_at.timestamp_millis(),
        first_visitor_message: chat
            .messages
            .iter()
            .find(|m| m.kind() == MessageKind::Visitor)
            .map(message),
        message_count: chat.messages.len().try_into().unwrap_or(u32::MAX),
    }
}

/// The whole chat, copied in as one record (0.1.0 has no other way).
pub fn whole(chat: &HookChat) -> wit::Chat {
    wit::Chat {
        header: header(chat),
        messages: chat.messages.iter().map(message).collect(),
    }
}

pub fn agent(agent: &HookAgent) -> wit::Agent {
    wit::Agent {
        id: agent.id.clone(),
        name: agent.name.clone(),
    }
}

pub fn candidates(candidates: &[HookCandidate]) -> Vec<wit::Candidate> {
    candidates
        .iter()
        .map(|c| wit::Candidate {
            id: c.id.clone(),
            name: c.name.clone(),
            online: c.online,
            open_tickets: c.open_tickets,
            skills: c.skills.clone(),
        })
        .collect()
}

/// What the workspace tells a call, with 0.1.0's single offset taken at the
/// chat's start.
pub fn context(config: &[(String, String)], chat: &HookChat) -> wit::Context {
    wit::Context {
        config: config.to_vec(),
        time_zone: chat.time_zone.clone(),
        utc_offset_minutes: chat.utc_offset_minutes,
    }
}
