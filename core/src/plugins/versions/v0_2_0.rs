//! `threadline:plugin@0.2.0` (`wit/0.2.0`): the host's bindings of it, the
//! chat resource plugins read, the clock they ask for local time, their
//! logging, and their exports (the five hooks and `describe`).

use std::sync::Arc;

use threadline_rules::clock::Clock;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker, Resource};

use super::contract::{Contract, missing, mistyped, present};
use crate::domain::MessageKind;
use crate::domain::hooks::{HookChat, HookKind};
use crate::domain::rules::ZoneClock;
use crate::domain::transcript::PublicMessage;
use crate::plugins::call::{HookInput, HookOutput};
use crate::plugins::manifest::{Manifest, SettingKind, SettingSpec};
use crate::plugins::sandbox::CallState;

/// The WIT package version of this module.
pub const VERSION: &str = "0.2.0";

/// Messages one `chat.messages` call hands out at most, so that a single
/// call's copy into the guest stays bounded whatever the plugin asks.
pub const MAX_MESSAGES_PER_READ: u32 = 1_000;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "threadline:plugin/plugin@0.2.0",
        // Exports are called async, so a call can be raced against its
        // deadline and yield to the plugin runtime at every epoch tick.
        exports: { default: async },
        // A host resource method that meets a handle it does not hold
        // traps the call (a guest cannot forge one past the component
        // model's checks, so this is a host bug, not the plugin's).
        imports: { "threadline:plugin/types.[drop]chat": trappable },
        with: {
            "threadline:plugin/types.chat": super::ChatHandle,
        },
    });
}

/// The types of the contract, as the host builds them.
pub mod wit {
    pub use super::bindings::threadline::plugin::types::*;
}

/// The chat a call reads: the snapshot the pipeline took, shared, never
/// copied until the plugin asks for a part of it.
pub struct ChatHandle(pub Arc<HookChat>);

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

impl CallState {
    fn chat(&self, handle: &Resource<ChatHandle>) -> &HookChat {
        // The only chat resource of a call is the one the host pushed
        // before it, and the guest can only borrow it.
        &self.resources().get(handle).expect("the call's chat is in its table").0
    }
}

impl wit::HostChat for CallState {
    fn id(&mut self, chat: Resource<ChatHandle>) -> String {
        self.chat(&chat).chat_id.clone()
    }

    fn subject(&mut self, chat: Resource<ChatHandle>) -> Option<String> {
        self.chat(&chat).subject.clone()
    }

    fn visitor(&mut self, chat: Resource<ChatHandle>) -> wit::Visitor {
        let chat = self.chat(&chat);
        wit::Visitor {
            name: chat.visitor_name.clone(),
            email: chat.visitor_email.clone(),
        }
    }

    fn started_at(&mut self, chat: Resource<ChatHandle>) -> i64 {
        self.chat(&chat).started_at.timestamp_millis()
    }

    fn message_count(&mut self, chat: Resource<ChatHandle>) -> u32 {
        self.chat(&chat).messages.len().try_into().unwrap_or(u32::MAX)
    }

    fn first_visitor_message(&mut self, chat: Resource<ChatHandle>) -> Option<wit::Message> {
        self.chat(&chat)
            .messages
            .iter()
            .find(|m| m.kind() == MessageKind::Visitor)
            .map(message)
    }

    fn messages(&mut self, chat: Resource<ChatHandle>, start: u32, count: u32) -> Vec<wit::Message> {
        let messages = &self.chat(&chat).messages;
        let start = (start as usize).min(messages.len());
        let end = start
            .saturating_add(count.min(MAX_MESSAGES_PER_READ) as usize)
            .min(messages.len());
        messages[start..end].iter().map(message).collect()
    }

    fn drop(&mut self, chat: Resource<ChatHandle>) -> wasmtime::Result<()> {
        self.resources_mut().delete(chat)?;
        Ok(())
    }
}

impl wit::Host for CallState {}

impl bindings::threadline::plugin::clock::Host for CallState {
    fn local_time(&mut self, at: i64) -> bindings::threadline::plugin::clock::WallTime {
        // The same conversion the native rules use.
        let wall = ZoneClock::new(self.time_zone()).wall(at);
        bindings::threadline::plugin::clock::WallTime {
            year: wall.year,
            month: wall.month,
            day: wall.day,
            hour: wall.hour,
            minute: wall.minute,
            second: wall.second,
            utc_offset_minutes: wall.offset_minutes,
            abbreviation: wall.zone,
        }
    }
}

fn agent(agent: &crate::domain::hooks::HookAgent) -> wit::Agent {
    wit::Agent {
        id: agent.id.clone(),
        name: agent.name.clone(),
    }
}

fn candidates(candidates: &[crate::domain::hooks::HookCandidate]) -> Vec<wit::Candidate> {
    candidates
        .iter()
        .map(|c| wit::Candidate {
            id: c.id.clone(),
            name: c.name.clone(),
            online: c.online,
            open_tickets: c.open_tickets,
            skills: c.skills.clone(),
            last_assigned_at: c.last_assigned_at.map(|t| t.timestamp_millis()),
        })
        .collect()
}

fn context(config: &[(String, String)], chat: &HookChat) -> wit::Context {
    wit::Context {
        config: config.to_vec(),
        time_zone: chat.time_zone.clone(),
    }
}

/// A plugin's own error, as the operator reads it.
fn explain_error(e: wit::Error) -> String {
    let clip = |s: String| -> String { s.chars().take(500).collect() };
    match e {
        wit::Error::Setting(s) => format!("it says its setting {:?} is wrong: {}", clip(s.key), clip(s.reason)),
        wit::Error::Unsupported(why) => format!("it does not handle this chat: {}", clip(why)),
        wit::Error::Failed(why) => format!("it returned an error: {}", clip(why)),
    }
}

fn fields(f: bindings::exports::threadline::plugin::fields::TicketFields) -> crate::domain::hooks::TicketFields {
    use crate::domain::hooks::Priority;
    use bindings::exports::threadline::plugin::fields::Priority as P;
    crate::domain::hooks::TicketFields {
        priority: f.priority.map(|p| match p {
            P::Low => Priority::Low,
            P::Normal => Priority::Normal,
            P::High => Priority::High,
            P::Urgent => Priority::Urgent,
        }),
        tags: f.tags,
        custom: f.custom,
    }
}

pub fn link(linker: &mut Linker<CallState>) {
    bindings::Plugin::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
        .expect("link the 0.2.0 plugin interfaces");
}

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

/// Where a 0.2.0 component's hooks and `describe` are.
struct Exports {
    subject: Option<e::subject::GuestIndices>,
    transcript: Option<e::transcript::GuestIndices>,
    assignment: Option<e::assignment::GuestIndices>,
    summary: Option<e::summary::GuestIndices>,
    fields: Option<e::fields::GuestIndices>,
    describe: Option<e::describe::GuestIndices>,
}

pub fn find(pre: &InstancePre<CallState>) -> Option<std::sync::Arc<dyn Contract>> {
    let exports = Exports {
        subject: e::subject::GuestIndices::new(pre).ok(),
        transcript: e::transcript::GuestIndices::new(pre).ok(),
        assignment: e::assignment::GuestIndices::new(pre).ok(),
        summary: e::summary::GuestIndices::new(pre).ok(),
        fields: e::fields::GuestIndices::new(pre).ok(),
        describe: e::describe::GuestIndices::new(pre).ok(),
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
            self.fields.is_some(),
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
        if let Some(i) = &self.fields {
            i.load(&mut *store, instance).map_err(wrong("fields", "fields"))?;
        }
        if let Some(i) = &self.describe {
            i.load(&mut *store, instance).map_err(wrong("describe", "describe"))?;
        }
        Ok(())
    }

    fn describes(&self) -> bool {
        self.describe.is_some()
    }

    async fn invoke(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        config: &[(String, String)],
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>> {
        let hook = input.hook();
        let ctx = context(config, input.chat());
        // The chat is lent, not copied: the plugin reads what it needs
        // through the resource's getters.
        let handle = store
            .data_mut()
            .resources_mut()
            .push(ChatHandle(input.chat().clone()))?;
        let chat = Resource::<ChatHandle>::new_borrow(handle.rep());
        let out = match input {
            HookInput::Subject(_) => {
                let h = self
                    .subject
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_default_subject(&mut *store, &ctx, chat)
                    .await?
                    .map(HookOutput::Text)
            }
            HookInput::Transcript(_) => {
                let h = self
                    .transcript
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_format(&mut *store, &ctx, chat).await?.map(HookOutput::Text)
            }
            HookInput::Assignment {
                agent: a,
                candidates: c,
                ..
            } => {
                let h = self
                    .assignment
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_assign(&mut *store, &ctx, chat, &agent(&a), &candidates(&c))
                    .await?
                    .map(HookOutput::Text)
            }
            HookInput::Summary(_) => {
                let h = self
                    .summary
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_summarize(&mut *store, &ctx, chat)
                    .await?
                    .map(HookOutput::Summary)
            }
            HookInput::Fields(_) => {
                let h = self
                    .fields
                    .as_ref()
                    .ok_or_else(|| missing(hook))?
                    .load(&mut *store, instance)?;
                h.call_fields(&mut *store, &ctx, chat)
                    .await?
                    .map(|f| HookOutput::Fields(fields(f)))
            }
        };
        Ok(out.map_err(explain_error))
    }

    async fn describe(&self, store: &mut Store<CallState>, instance: &Instance) -> wasmtime::Result<Option<Manifest>> {
        let Some(indices) = &self.describe else {
            return Ok(None);
        };
        let info = indices.load(&mut *store, instance)?.call_describe(&mut *store).await?;
        use e::describe::SettingKind as K;
        Ok(Some(Manifest {
            name: info.name,
            version: info.version,
            hooks: info.hooks,
            settings: info
                .settings
                .into_iter()
                .map(|s| SettingSpec {
                    key: s.key,
                    kind: match s.kind {
                        K::Text => SettingKind::Text,
                        K::Integer => SettingKind::Integer,
                        K::Boolean => SettingKind::Boolean,
                        K::Choice => SettingKind::Choice,
                    },
                    default: s.default,
                    description: s.description,
                    choices: s.choices,
                })
                .collect(),
        }))
    }
}
