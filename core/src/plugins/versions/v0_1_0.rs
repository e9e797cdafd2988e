//! `threadline:plugin@0.1.0` (`wit/0.1.0`), frozen: the host's bindings of
//! it, the records a call copies in, its logging, and its exports.

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

use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::contract::{Contract, missing, mistyped, present};
use crate::domain::MessageKind;
use crate::domain::hooks::{HookAgent, HookCandidate, HookChat, HookKind};
use crate::domain::transcript::PublicMessage;
use crate::plugins::call::{HookInput, HookOutput};
use crate::plugins::sandbox::CallState;

pub fn link(linker: &mut Linker<CallState>) {
    bindings::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
        .expect("link the 0.1.0 plugin interfaces");
}

impl bindings::threadline::plugin::types::Host for CallState {}

impl bindings::threadline::plugin::log::Host for CallState {
    fn log(&mut self, level: bindings::threadline::plugin::log::Level, message: String, fields: Vec<(String, String)>) {
        use bindings::threadline::plugin::log::Level as L;
        let level = match level {
            L::Debug => tracing::Level::DEBUG,
            L::Info => tracing::Level::INFO,
            L::Warn => tracing::Level::WARN,
            L::Error => tracing::Level::ERROR,
        };
        self.log.write(level, &message, &fields);
    }
}

use bindings::exports::threadline::plugin as e;

/// Where a 0.1.0 component's hooks are.
struct Exports {
    subject: Option<e::subject::GuestIndices>,
    transcript: Option<e::transcript::GuestIndices>,
    assignment: Option<e::assignment::GuestIndices>,
    summary: Option<e::summary::GuestIndices>,
}

pub fn find(pre: &InstancePre<CallState>) -> Option<std::sync::Arc<dyn Contract>> {
    let exports = Exports {
        subject: e::subject::GuestIndices::new(pre).ok(),
        transcript: e::transcript::GuestIndices::new(pre).ok(),
        assignment: e::assignment::GuestIndices::new(pre).ok(),
        summary: e::summary::GuestIndices::new(pre).ok(),
    };
    (!exports.hooks().is_empty()).then(|| std::sync::Arc::new(exports) as std::sync::Arc<dyn Contract>)
}

#[async_trait::async_trait]
impl Contract for Exports {
    fn version(&self) -> &'static str {
        VERSION
    }

    fn hooks(&self) -> Vec<HookKind> {
        present([
            self.subject.is_some(),
            self.transcript.is_some(),
            self.assignment.is_some(),
            self.summary.is_some(),
            false,
        ])
    }

    fn check(&self, store: &mut Store<CallState>, instance: &Instance) -> Result<(), String> {
        let wrong = |interface, function| move |e: wasmtime::Error| mistyped(VERSION, interface, function, &e);
        if let Some(i) = &self.subject {
            i.load(&mut *store, instance)
                .map_err(wrong("subject", "default-subject"))?;
        }
        if let Some(i) = &self.transcript {
            i.load(&mut *store, instance).map_err(wrong("transcript", "format"))?;
        }
        if let Some(i) = &self.assignment {
            i.load(&mut *store, instance).map_err(wrong("assignment", "assign"))?;
        }
        if let Some(i) = &self.summary {
            i.load(&mut *store, instance).map_err(wrong("summary", "summarize"))?;
        }
        Ok(())
    }

    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        config: &[(String, String)],
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>> {
        let hook = input.hook();
        let own = |e: String| format!("it returned an error: {}", e.chars().take(500).collect::<String>());
        let ctx = context(config, input.chat());
        Ok(match input {
            HookInput::Subject(chat) => {
                let h = self
                    .subject
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_default_subject(&mut *store, &ctx, &header(&chat))
                    .await?
                    .map(HookOutput::Text)
                    .map_err(own)
            }
            HookInput::Transcript(chat) => {
                let h = self
                    .transcript
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_format(&mut *store, &ctx, &whole(&chat))
                    .await?
                    .map(HookOutput::Text)
                    .map_err(own)
            }
            HookInput::Assignment {
                chat,
                agent: a,
                candidates: c,
            } => {
                let h = self
                    .assignment
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_assign(&mut *store, &ctx, &header(&chat), &agent(&a), &candidates(&c))
                    .await?
                    .map(HookOutput::Text)
                    .map_err(own)
            }
            HookInput::Summary(chat) => {
                let h = self
                    .summary
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_summarize(&mut *store, &ctx, &whole(&chat))
                    .await?
                    .map(HookOutput::Summary)
                    .map_err(own)
            }
            HookInput::Fields(_) => return Err(missing(hook)),
        })
    }
}

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
fn header(chat: &HookChat) -> wit::ChatHeader {
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
fn whole(chat: &HookChat) -> wit::Chat {
    wit::Chat {
        header: header(chat),
        messages: chat.messages.iter().map(message).collect(),
    }
}

fn agent(agent: &HookAgent) -> wit::Agent {
    wit::Agent {
        id: agent.id.clone(),
        name: agent.name.clone(),
    }
}

fn candidates(candidates: &[HookCandidate]) -> Vec<wit::Candidate> {
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
fn context(config: &[(String, String)], chat: &HookChat) -> wit::Context {
    wit::Context {
        config: config.to_vec(),
        time_zone: chat.time_zone.clone(),
        utc_offset_minutes: chat.utc_offset_minutes,
    }
}
