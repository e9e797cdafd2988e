//! What a socket's client may say once admitted (typing, and an agent's
//! presence), who says it, and the throttle that thins it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::realtime::{Event, Presence, Typing, Typist};

/// Who is at the other end of a socket, for what they may say.
pub(super) enum Speaker {
    Agent {
        tenant_id: String,
        agent_id: String,
        name: String,
    },
    Visitor {
        tenant_id: String,
        chat_id: String,
    },
}

/// What a client may send once admitted.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum ClientFrame {
    Typing {
        #[serde(default)]
        chat_id: Option<String>,
        active: bool,
        #[serde(default)]
        internal: bool,
    },
    /// An agent's console is on a chat or a ticket (typing or not), or on
    /// neither (both left out).
    Presence {
        #[serde(default)]
        chat_id: Option<String>,
        #[serde(default)]
        ticket: Option<String>,
        #[serde(default)]
        typing: bool,
    },
}

impl Speaker {
    /// The event a client's frame stands for, if it stands for one.
    pub(super) fn event(&self, frame: ClientFrame) -> Option<Event> {
        let (chat_id, active, internal) = match frame {
            ClientFrame::Typing {
                chat_id,
                active,
                internal,
            } => (chat_id, active, internal),
            ClientFrame::Presence {
                chat_id,
                ticket,
                typing,
            } => return self.presence(chat_id, ticket, typing),
        };
        match self {
            Speaker::Agent {
                tenant_id,
                agent_id,
                name,
            } => {
                // Only the agent's own workspace hears it, so a chat id of
                // another reaches nobody; one that is no id at all is dropped.
                let chat_id = chat_id.filter(|id| uuid::Uuid::parse_str(id).is_ok())?;
                let typing = Typing {
                    by: Typist::Agent,
                    agent_id: Some(agent_id.clone()),
                    name: Some(name.clone()),
                    active,
                };
                Some(Event::typing(tenant_id, &chat_id, typing, internal))
            }
            Speaker::Visitor { tenant_id, chat_id } => {
                let typing = Typing {
                    by: Typist::Visitor,
                    agent_id: None,
                    name: None,
                    active,
                };
                Some(Event::typing(tenant_id, chat_id, typing, false))
            }
        }
    }
}

impl Speaker {
    /// An agent's presence; a visitor has none. A chat id that is no id,
    /// or a ticket that is no ticket number, counts as being nowhere.
    fn presence(&self, chat_id: Option<String>, ticket: Option<String>, typing: bool) -> Option<Event> {
        let Speaker::Agent {
            tenant_id,
            agent_id,
            name,
        } = self
        else {
            return None;
        };
        let chat_id = chat_id.filter(|id| uuid::Uuid::parse_str(id).is_ok());
        let ticket = match chat_id {
            Some(_) => None,
            None => ticket
                .as_deref()
                .and_then(crate::domain::TicketNumber::parse)
                .map(|n| n.to_string()),
        };
        let here = chat_id.is_some() || ticket.is_some();
        let presence = Presence {
            agent_id: agent_id.clone(),
            name: name.clone(),
            here,
            typing: here && typing,
        };
        Some(Event::presence(
            tenant_id,
            chat_id.as_deref(),
            ticket.as_deref(),
            presence,
        ))
    }
}

/// The same place, left.
pub(super) fn left(mut event: Event) -> Event {
    if let Some(p) = event.presence.as_mut() {
        p.here = false;
        p.typing = false;
    }
    event
}

/// Thins a socket's typing notices: the same news for the same chat at most
/// every [`TypingThrottle::REPEAT`], and a few notices a second in all (a
/// bucket), so a client that sends one per key press, or a bot that sends
/// thousands, costs the bus a handful of messages a second.
pub(super) struct TypingThrottle {
    last: HashMap<String, (Instant, bool)>,
    tokens: f64,
    refilled: Instant,
}

impl TypingThrottle {
    const REPEAT: Duration = Duration::from_secs(2);
    const BURST: f64 = 4.0;
    const PER_SECOND: f64 = 2.0;
    /// Chats remembered; past it the memory starts over (a socket types in
    /// a few chats, not hundreds).
    const CHATS: usize = 32;

    pub(super) fn new(now: Instant) -> Self {
        Self {
            last: HashMap::new(),
            tokens: Self::BURST,
            refilled: now,
        }
    }

    /// Whether a notice may go out now: the bucket alone decides. For
    /// presence, where a console repeats itself on purpose (a colleague
    /// just arrived and must hear who is there).
    pub(super) fn allow_any(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    pub(super) fn allow(&mut self, chat_id: &str, active: bool, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        self.refilled = now;
        if let Some(&(at, was)) = self.last.get(chat_id)
            && was == active
            && now.saturating_duration_since(at) < Self::REPEAT
        {
            return false;
        }
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        if self.last.len() >= Self::CHATS && !self.last.contains_key(chat_id) {
            self.last.clear();
        }
        self.last.insert(chat_id.to_owned(), (now, active));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_news_goes_out_at_once_and_repeats_are_thinned() {
        let t0 = Instant::now();
        let mut throttle = TypingThrottle::new(t0);
        assert!(throttle.allow("c1", true, t0));
        assert!(
            !throttle.allow("c1", true, t0 + Duration::from_millis(500)),
            "a repeat within 2 s"
        );
        assert!(
            throttle.allow("c1", false, t0 + Duration::from_millis(600)),
            "stopping is news"
        );
        assert!(
            throttle.allow("c2", true, t0 + Duration::from_millis(700)),
            "another chat"
        );
        assert!(throttle.allow("c1", true, t0 + Duration::from_millis(2700)));
    }

    #[test]
    fn a_flood_of_typing_gets_a_few_notices_a_second() {
        let t0 = Instant::now();
        let mut throttle = TypingThrottle::new(t0);
        let mut sent = 0;
        // 10 seconds of a bot flipping between typing and not, 1000 times a second.
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(i);
            if throttle.allow("c1", i % 2 == 0, now) {
                sent += 1;
            }
        }
        assert!((15..=25).contains(&sent), "{sent} notices in 10 s");
    }
}
