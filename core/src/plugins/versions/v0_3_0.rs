//! `threadline:plugin@0.3.0` (`wit/0.3.0`): the event hooks. The host's
//! bindings of it, its logging, and a component's `events` export, called
//! with an event's document turned into the contract's records and
//! answering actions in the host's terms. Its conversion hooks are 0.2.0's
//! (a component exports those beside these), so this version is not in
//! [`super::VERSIONS`], which finds conversion hooks: [`find_events`]
//! finds these.

use serde_json::Value;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use crate::domain::automation::{Action, EventKind};
use crate::plugins::sandbox::CallState;

/// The WIT package version of this module.
pub const VERSION: &str = "0.3.0";

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/0.3.0",
        world: "threadline:plugin/event-hooks@0.3.0",
        exports: { default: async },
    });
}

use bindings::exports::threadline::plugin::events as e;
use bindings::threadline::plugin::types as t;

pub fn link(linker: &mut Linker<CallState>) {
    bindings::EventHooks::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
        .expect("link the 0.3.0 plugin interfaces");
}

impl t::Host for CallState {}

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

/// Where a component's event hooks are.
pub struct EventExports(e::GuestIndices);

/// A component's 0.3.0 event hooks, `None` when it has none.
pub fn find_events(pre: &InstancePre<CallState>) -> Option<EventExports> {
    e::GuestIndices::new(pre).ok().map(EventExports)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn maybe(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

fn person(v: &Value) -> Option<e::Person> {
    v.is_object().then(|| e::Person {
        name: text(v, "name"),
        email: maybe(v, "email"),
    })
}

/// The event's document (`store::event_payload`) as the contract's record.
fn event(document: &Value) -> e::Event {
    let ticket = document.get("ticket").filter(|t| t.is_object()).map(|t| e::Ticket {
        id: text(t, "id"),
        number: text(t, "number"),
        subject: text(t, "subject"),
        status: text(t, "status"),
        priority: text(t, "priority"),
        assignee_id: maybe(t, "assignee_id"),
        tags: t["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        channel: text(t, "channel"),
        requester: person(&t["requester"]),
    });
    let changes = document["changes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(field, c)| e::Change {
                    field: field.clone(),
                    before: maybe(c, "from"),
                    after: maybe(c, "to"),
                })
                .collect()
        })
        .unwrap_or_default();
    let comment = document.get("comment").filter(|c| c.is_object()).map(|c| e::Comment {
        id: text(c, "id"),
        body: text(c, "body"),
        internal: c["internal"].as_bool().unwrap_or(false),
        author_name: text(c, "author_name"),
    });
    let chat = document.get("chat").filter(|c| c.is_object()).map(|c| e::Chat {
        id: text(c, "id"),
        status: text(c, "status"),
        subject: maybe(c, "subject"),
        visitor: person(&c["visitor"]),
        ticket_id: maybe(c, "ticket_id"),
    });
    e::Event {
        id: text(document, "id"),
        kind: text(document, "event"),
        actor: maybe(document, "actor"),
        ticket,
        changes,
        comment,
        chat,
        document: document.to_string(),
    }
}

/// An answer's action in the host's terms, checked as a JavaScript rule's.
fn action(a: e::Action) -> Result<Action, String> {
    let json = match a {
        e::Action::SetStatus(s) => serde_json::json!({"type": "set_status", "status": s}),
        e::Action::SetPriority(p) => serde_json::json!({"type": "set_priority", "priority": p}),
        e::Action::Assign(id) => serde_json::json!({"type": "assign", "agent_id": id}),
        e::Action::SetTags(tags) => serde_json::json!({"type": "set_tags", "tags": tags}),
        e::Action::AddTags(tags) => serde_json::json!({"type": "add_tags", "tags": tags}),
        e::Action::Note(body) => serde_json::json!({"type": "note", "body": body}),
        e::Action::Reply(body) => serde_json::json!({"type": "reply", "body": body}),
    };
    Action::parse(&json)
}

fn explain(err: t::Error) -> String {
    match err {
        t::Error::Setting(s) => format!("its setting {:?}: {}", s.key, s.reason),
        t::Error::Unsupported(m) => format!("it does not support this: {m}"),
        t::Error::Failed(m) => m,
    }
}

/// The event hooks' functions, in the order of [`e::Guest`]'s.
const EVENT_FUNCTIONS: [&str; 6] = [
    "ticket-created",
    "ticket-updated",
    "comment-added",
    "chat-started",
    "chat-closed",
    "sla-breached",
];

impl EventExports {
    /// Looks its functions up on `instance` with this version's types (see
    /// [`super::Contract::check`]); when they do not all match, finds the
    /// first that does not, to name it.
    pub fn check(&self, store: &mut Store<CallState>, instance: &Instance) -> Result<(), String> {
        let Err(all) = self.0.load(&mut *store, instance) else {
            return Ok(());
        };
        let interface = format!("threadline:plugin/events@{VERSION}");
        let culprit = instance
            .get_export_index(&mut *store, None, &interface)
            .and_then(|events| {
                EVENT_FUNCTIONS.iter().find_map(|name| {
                    let f = instance.get_export_index(&mut *store, Some(&events), name)?;
                    // Every event hook has the one signature.
                    let typed = instance
                        .get_typed_func::<(&t::Context, &e::Event), (Result<Vec<e::Action>, t::Error>,)>(
                            &mut *store,
                            f,
                        );
                    typed
                        .err()
                        .map(|err| super::contract::mistyped(VERSION, "events", name, &err))
                })
            });
        Err(culprit.unwrap_or_else(|| format!("its export {interface} does not have the contract's types: {all:#}")))
    }

    /// Calls the hook of `kind` on `instance` with `document`; the inner
    /// error is the plugin's own, worded for the admin.
    pub async fn call(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        kind: EventKind,
        config: Vec<(String, String)>,
        time_zone: String,
        document: &Value,
    ) -> wasmtime::Result<Result<Vec<Action>, String>> {
        let guest = self.0.load(&mut *store, instance)?;
        let ctx = t::Context { config, time_zone };
        let ev = event(document);
        let answer = match kind {
            EventKind::TicketCreated => guest.call_ticket_created(&mut *store, &ctx, &ev).await?,
            EventKind::TicketUpdated => guest.call_ticket_updated(&mut *store, &ctx, &ev).await?,
            EventKind::CommentAdded => guest.call_comment_added(&mut *store, &ctx, &ev).await?,
            EventKind::ChatStarted => guest.call_chat_started(&mut *store, &ctx, &ev).await?,
            EventKind::ChatClosed => guest.call_chat_closed(&mut *store, &ctx, &ev).await?,
            EventKind::SlaBreached => guest.call_sla_breached(&mut *store, &ctx, &ev).await?,
        };
        Ok(match answer {
            Err(err) => Err(explain(err)),
            Ok(actions) if actions.len() > crate::domain::automation::MAX_ACTIONS => Err(format!(
                "it answered {} actions; at most {} are taken",
                actions.len(),
                crate::domain::automation::MAX_ACTIONS
            )),
            Ok(actions) => actions
                .into_iter()
                .enumerate()
                .map(|(i, a)| action(a).map_err(|m| format!("action {}: {m}", i + 1)))
                .collect(),
        })
    }
}

/// A component with event hooks and no conversion hook: to the pipeline,
/// a plugin that exports none of its hooks.
pub struct EventsOnly;

#[async_trait::async_trait]
impl super::Contract for EventsOnly {
    fn version(&self) -> &'static str {
        VERSION
    }

    fn hooks(&self) -> Vec<crate::domain::hooks::HookKind> {
        Vec::new()
    }

    /// Nothing of its own: its event hooks are checked apart.
    fn check(&self, _store: &mut Store<CallState>, _instance: &Instance) -> Result<(), String> {
        Ok(())
    }

    async fn invoke(
        &self,
        _store: &mut Store<CallState>,
        _instance: &Instance,
        _config: &[(String, String)],
        input: crate::plugins::call::HookInput,
    ) -> wasmtime::Result<Result<crate::plugins::call::HookOutput, String>> {
        Err(super::contract::missing(input.hook()))
    }
}
