//! Live updates: what happened to which chat, pushed to open consoles and
//! widgets over websockets.
//!
//! Events are small (ids, a kind, a ticket number): a client that gets one
//! fetches what changed, so nothing private rides on the bus and a missed
//! event is repaired by the next fetch. One process broadcasts in memory; on
//! PostgreSQL every node publishes with `NOTIFY` and listens with `LISTEN`,
//! so an event reaches the sockets of every node without another broker.
//!
//! A node routes each event to the sockets it is for: its workspace's
//! agents, and the visitor of its chat. A socket waits on a channel of its
//! own workspace or chat, so an event wakes only those: with one channel
//! for everything, 10,000 open widgets were 10,000 wake-ups per message,
//! and an event's p99 was 300 ms (`--bench sockets`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::{NumberedNotice, Store};

/// The PostgreSQL channel events travel on.
const CHANNEL: &str = "threadline_events";
/// Events a slow agent's socket may fall behind by before it is told to
/// refetch.
const BACKLOG: usize = 1024;
/// The same for a visitor's socket, which sees one chat: a channel's
/// slots are allocated whole, and a node may hold tens of thousands.
const CHAT_BACKLOG: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ChatStarted,
    MessageCreated,
    ChatClosed,
    ChatReopened,
    ChatConverted,
    ChatRated,
    /// Someone is typing in the chat (`active`), or stopped. Sent by the
    /// sockets themselves, never stored: a client shows it until told
    /// otherwise or until [`TYPING_SHOWN_FOR`] passes without a repeat.
    Typing,
    /// A session or API token was ended (signed out, revoked, its password
    /// changed): sockets opened with it close. Never sent to a client.
    CredentialEnded,
    /// A ticket changed (a field, a comment, a reply's mail went out or
    /// failed): its page refetches. `ticket` names it; `chat_id` is empty,
    /// so no visitor's socket carries it.
    TicketUpdated,
    /// An agent has a chat (`chat_id`) or ticket (`ticket`) open, is typing
    /// in it, or left it (`presence`). Sent by agents' sockets, never
    /// stored, never to a visitor; a console forgets an agent it has not
    /// heard from for [`PRESENCE_SHOWN_FOR`].
    Presence,
}

/// The `credential_id` of a `CredentialEnded` event that ends every
/// credential of the workspace at once (see [`Event::workspace_suspended`]).
pub const EVERY_CREDENTIAL: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Whose event it is; never sent to a client.
    #[serde(rename = "tenant_id")]
    pub tenant_id: String,
    pub kind: EventKind,
    pub chat_id: String,
    /// For a new message: its id, and whether the visitor may see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    #[serde(default)]
    pub internal: bool,
    /// For a conversion: the ticket, e.g. `TK-1001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// For an ended credential: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// For typing: who types, and whether they still are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing: Option<Typing>,
    /// For presence: who, and whether they are still there and typing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
}

/// How long a console shows an agent as there after their last word. An
/// agent's console repeats it more often than this while the page is open.
pub const PRESENCE_SHOWN_FOR: Duration = Duration::from_secs(50);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub agent_id: String,
    pub name: String,
    /// Has it open; `false` when they left it.
    pub here: bool,
    /// Is writing a reply or a note in it.
    pub typing: bool,
}

/// How long a client shows "typing…" after the last word that someone is.
/// A typist's client repeats it more often than this while keys are pressed.
pub const TYPING_SHOWN_FOR: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// `visitor` or `agent`.
    pub by: Typist,
    /// The agent, when an agent types (so their own console ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The agent's name, shown to the visitor and to other agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Still typing; `false` when they sent, cleared or left.
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Typist {
    Visitor,
    Agent,
}

impl Event {
    pub fn new(tenant_id: &str, kind: EventKind, chat_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            kind,
            chat_id: chat_id.to_owned(),
            message_id: None,
            internal: false,
            ticket: None,
            credential_id: None,
            typing: None,
            presence: None,
        }
    }

    /// The credential `credential_id` of the workspace has ended.
    pub fn credential_ended(tenant_id: &str, credential_id: &str) -> Self {
        Self {
            credential_id: Some(credential_id.to_owned()),
            ..Self::new(tenant_id, EventKind::CredentialEnded, "")
        }
    }

    /// The workspace was suspended or erased: every socket of it closes.
    pub fn workspace_suspended(tenant_id: &str) -> Self {
        Self::credential_ended(tenant_id, EVERY_CREDENTIAL)
    }

    /// Ticket `number` (e.g. `TK-1001`) of the workspace changed.
    pub fn ticket_updated(tenant_id: &str, number: &str) -> Self {
        Self {
            ticket: Some(number.to_owned()),
            ..Self::new(tenant_id, EventKind::TicketUpdated, "")
        }
    }

    /// Someone types in `chat_id` of the workspace, or stopped. An agent
    /// writing an internal note types `internal`ly: visitors never see it.
    pub fn typing(tenant_id: &str, chat_id: &str, typing: Typing, internal: bool) -> Self {
        Self {
            internal,
            typing: Some(typing),
            ..Self::new(tenant_id, EventKind::Typing, chat_id)
        }
    }

    /// An agent is on (or left) chat `chat_id`, or ticket `ticket`. Marked
    /// internal besides: no visitor's socket lets it through.
    pub fn presence(tenant_id: &str, chat_id: Option<&str>, ticket: Option<&str>, presence: Presence) -> Self {
        Self {
            internal: true,
            ticket: ticket.map(str::to_owned),
            presence: Some(presence),
            ..Self::new(tenant_id, EventKind::Presence, chat_id.unwrap_or(""))
        }
    }

    /// What a client receives: the event without its workspace.
    pub fn to_client_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("events serialize");
        if let Some(map) = value.as_object_mut() {
            map.remove("tenant_id");
        }
        value.to_string()
    }
}

/// The event bus of one server process. Cheap to clone; the PostgreSQL
/// listener stops when the last clone is dropped (the server stopped).
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Arc<Routes>,
    store: Store,
    /// On PostgreSQL, events go through NOTIFY (and come back to this node
    /// through its own LISTEN), so every node sees the same stream.
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = &self.listener {
            task.abort();
        }
    }
}

impl Bus {
    /// Starts the bus; on PostgreSQL, also the task that listens for other
    /// nodes' events (it reconnects by itself if the connection drops).
    pub async fn start(store: Store, database_url: &str) -> anyhow::Result<Self> {
        let routes = Arc::new(Routes::default());
        let mut listener = None;
        if database_url.starts_with("postgres") {
            let mut pg = sea_orm::sqlx::postgres::PgListener::connect(database_url).await?;
            pg.listen(CHANNEL).await?;
            let routes = routes.clone();
            listener = Some(tokio::spawn(async move {
                loop {
                    match pg.recv().await {
                        Ok(n) => match serde_json::from_str::<Event>(n.payload()) {
                            Ok(event) => routes.route(event),
                            Err(e) => tracing::warn!(error = %e, "ignoring a malformed event"),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "event listener lost its connection; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                routes,
                store,
                listener,
            }),
        })
    }

    /// Publishes an event. Never fails the request that caused it: a lost
    /// event costs a client a refetch, not a user an error.
    pub async fn publish(&self, event: Event) {
        if self.inner.listener.is_some() {
            let payload = serde_json::to_string(&event).expect("events serialize");
            if let Err(e) = self.inner.store.notify(CHANNEL, &payload).await {
                tracing::warn!(error = %e, "cannot publish an event");
            }
        } else {
            self.inner.routes.route(event);
        }
    }

    /// On PostgreSQL, `event` as a `NOTIFY` for a commit to send itself,
    /// its `ticket` the number the commit takes (see [`NumberedNotice`]):
    /// the event then leaves with the commit, in its round trip, and only
    /// if it commits. `None` where events travel in memory: the caller
    /// publishes after the commit.
    pub fn numbered_notice(&self, event: Event) -> Option<NumberedNotice> {
        self.inner.listener.as_ref()?;
        Some(numbered_notice(event))
    }

    /// Every event of the workspace `tenant_id`, from now on: an agent's
    /// socket.
    pub fn subscribe_workspace(&self, tenant_id: &str) -> Subscription {
        self.inner.routes.subscribe(tenant_id, None)
    }

    /// The events of one chat, and the workspace's suspension: a visitor's
    /// socket.
    pub fn subscribe_chat(&self, tenant_id: &str, chat_id: &str) -> Subscription {
        self.inner.routes.subscribe(tenant_id, Some(chat_id))
    }
}

/// `event` as a `NOTIFY` on the events' channel whose `ticket` is the
/// number spliced between `before` and `after`.
fn numbered_notice(mut event: Event) -> NumberedNotice {
    // A marker no ticket holds, found again in the serialized event.
    const MARK: &str = "\u{1}";
    event.ticket = Some(MARK.to_owned());
    let payload = serde_json::to_string(&event).expect("events serialize");
    let quoted = serde_json::to_string(MARK).expect("strings serialize");
    let (before, after) = payload.split_once(&quoted).expect("the marker is in the payload");
    NumberedNotice {
        channel: CHANNEL,
        before: format!("{before}\"{}", crate::domain::ticket_number::PREFIX),
        after: format!("\"{after}"),
    }
}

/// This node's open channels: per workspace, its agents' and each watched
/// chat's. A channel goes when its last socket does.
#[derive(Default)]
struct Routes {
    workspaces: Mutex<HashMap<String, WorkspaceRoutes>>,
}

#[derive(Default)]
struct WorkspaceRoutes {
    agents: Option<broadcast::Sender<Arc<Event>>>,
    chats: HashMap<String, broadcast::Sender<Arc<Event>>>,
}

impl Routes {
    fn route(&self, event: Event) {
        let workspaces = self.workspaces.lock().unwrap();
        let Some(routes) = workspaces.get(&event.tenant_id) else {
            return;
        };
        let event = Arc::new(event);
        if let Some(agents) = &routes.agents {
            let _ = agents.send(event.clone());
        }
        let suspended =
            event.kind == EventKind::CredentialEnded && event.credential_id.as_deref() == Some(EVERY_CREDENTIAL);
        if suspended {
            for chat in routes.chats.values() {
                let _ = chat.send(event.clone());
            }
        } else if let Some(chat) = routes.chats.get(&event.chat_id) {
            let _ = chat.send(event);
        }
    }

    fn subscribe(self: &Arc<Self>, tenant_id: &str, chat_id: Option<&str>) -> Subscription {
        let mut workspaces = self.workspaces.lock().unwrap();
        let routes = workspaces.entry(tenant_id.to_owned()).or_default();
        let sender = match chat_id {
            None => routes.agents.get_or_insert_with(|| broadcast::channel(BACKLOG).0),
            Some(chat) => routes
                .chats
                .entry(chat.to_owned())
                .or_insert_with(|| broadcast::channel(CHAT_BACKLOG).0),
        };
        Subscription {
            receiver: Some(sender.subscribe()),
            routes: self.clone(),
            tenant_id: tenant_id.to_owned(),
            chat_id: chat_id.map(str::to_owned),
        }
    }

    /// A socket's receiver went: its channel goes too if it was the last.
    fn unsubscribed(&self, tenant_id: &str, chat_id: Option<&str>) {
        let mut workspaces = self.workspaces.lock().unwrap();
        let Some(routes) = workspaces.get_mut(tenant_id) else {
            return;
        };
        match chat_id {
            None => {
                if routes.agents.as_ref().is_some_and(|s| s.receiver_count() == 0) {
                    routes.agents = None;
                }
            }
            Some(chat) => {
                if routes.chats.get(chat).is_some_and(|s| s.receiver_count() == 0) {
                    routes.chats.remove(chat);
                }
            }
        }
        if routes.agents.is_none() && routes.chats.is_empty() {
            workspaces.remove(tenant_id);
        }
    }
}

/// A socket's events. Dropping it closes the channel when it was the
/// channel's last.
pub struct Subscription {
    receiver: Option<broadcast::Receiver<Arc<Event>>>,
    routes: Arc<Routes>,
    tenant_id: String,
    chat_id: Option<String>,
}

impl Subscription {
    /// The next event; `Lagged` when the socket fell behind.
    pub async fn recv(&mut self) -> Result<Arc<Event>, broadcast::error::RecvError> {
        self.receiver.as_mut().expect("held until dropped").recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The receiver first, so the count the routes read is without it.
        drop(self.receiver.take());
        self.routes.unsubscribed(&self.tenant_id, self.chat_id.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload a commit builds from a numbered notice is the event as
    /// it would have been published after the commit, number included.
    #[test]
    fn a_numbered_notice_spells_the_event_with_its_number() {
        let event = Event::new("t1", EventKind::ChatConverted, "c\"1");
        let notice = numbered_notice(event.clone());
        assert_eq!(notice.channel, CHANNEL);
        let sent = format!("{}{}{}", notice.before, 1042, notice.after);
        let mut expected = event;
        expected.ticket = Some(crate::domain::TicketNumber(1042).to_string());
        assert_eq!(serde_json::from_str::<Event>(&sent).unwrap(), expected);
        assert_eq!(sent, serde_json::to_string(&expected).unwrap());
    }

    /// An event reaches its workspace's agents and its chat's visitor, no
    /// one else; a suspension reaches every socket of the workspace; and
    /// channels go with their last socket.
    #[tokio::test]
    async fn events_go_only_to_the_sockets_they_are_for() {
        let routes = Arc::new(Routes::default());
        let mut agents = routes.subscribe("t1", None);
        let mut chat_a = routes.subscribe("t1", Some("a"));
        let mut chat_b = routes.subscribe("t1", Some("b"));
        let mut other = routes.subscribe("t2", None);
        routes.route(Event::new("t1", EventKind::MessageCreated, "a"));
        assert_eq!(agents.recv().await.unwrap().chat_id, "a");
        assert_eq!(chat_a.recv().await.unwrap().chat_id, "a");
        assert!(chat_b.receiver.as_mut().unwrap().try_recv().is_err());
        assert!(other.receiver.as_mut().unwrap().try_recv().is_err());

        routes.route(Event::workspace_suspended("t1"));
        for s in [&mut agents, &mut chat_a, &mut chat_b] {
            assert_eq!(s.recv().await.unwrap().kind, EventKind::CredentialEnded);
        }
        assert!(other.receiver.as_mut().unwrap().try_recv().is_err());

        let again = routes.subscribe("t1", Some("a"));
        drop(chat_a);
        assert!(routes.workspaces.lock().unwrap()["t1"].chats.contains_key("a"));
        drop(again);
        drop(chat_b);
        assert!(routes.workspaces.lock().unwrap()["t1"].chats.is_empty());
        drop(agents);
        assert!(!routes.workspaces.lock().unwrap().contains_key("t1"));
        drop(other);
        assert!(routes.workspaces.lock().unwrap().is_empty());
    }
}
