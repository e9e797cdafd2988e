//! Events, rules and their actions, in the host's terms: which events
//! exist, what the built-in timed rules take, what an action may do and how
//! a rule's answer is checked, and how a webhook delivery is signed.

use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::hooks::Priority;
use super::{InvalidInput, TicketStatus, message_body};

string_enum!(
    /// Something that happened that rules and webhooks can hear.
    EventKind {
        TicketCreated => "ticket_created",
        TicketUpdated => "ticket_updated",
        CommentAdded => "comment_added",
        ChatStarted => "chat_started",
        ChatClosed => "chat_closed",
        SlaBreached => "sla_breached",
    }
);

impl EventKind {
    /// Its bit in `tenants.event_listeners`.
    pub fn bit(self) -> i32 {
        1 << Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The bits of `kinds`.
    pub fn mask(kinds: impl IntoIterator<Item = EventKind>) -> i32 {
        kinds.into_iter().fold(0, |m, k| m | k.bit())
    }

    /// Whether something in `mask` listens to this kind.
    pub fn heard(self, mask: i32) -> bool {
        mask & self.bit() != 0
    }
}

/// The `event` of a built-in timed rule: the scheduler runs it.
pub const SCHEDULE: &str = "schedule";

/// Rule actions applied per event at most.
pub const MAX_ACTIONS: usize = 10;

/// How deep a cascade of rules may go: an event caused by a rule's action
/// is depth 1, one caused by an action on that is depth 2, and so on; an
/// event at this depth fires no rule (its webhooks still hear it).
pub const MAX_DEPTH: i32 = 3;

string_enum!(
    /// The rules operators set up without code, run by the scheduler.
    Builtin {
        ClosePending => "close-pending",
        EscalateBeforeBreach => "escalate-before-breach",
        ChatWaitReply => "chat-wait-reply",
    }
);

/// A built-in rule with its settings checked.
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltinRule {
    /// Close `pending` tickets after `days` without a customer reply.
    ClosePending { days: u32 },
    /// `minutes` before a ticket's next service-level target falls due:
    /// any of reassign, raise the priority, add an internal note.
    EscalateBeforeBreach {
        minutes: u32,
        assignee_id: Option<String>,
        priority: Option<Priority>,
        note: Option<String>,
    },
    /// Answer a chat that waited `minutes` for an agent, once.
    ChatWaitReply { minutes: u32, message: String },
}

impl BuiltinRule {
    /// Reads `config` for `builtin`; errors name `config.<key>`.
    pub fn parse(builtin: Builtin, config: &Value) -> Result<Self, InvalidInput> {
        let obj = config
            .as_object()
            .ok_or_else(|| InvalidInput::new("config", "config must be an object"))?;
        let known: &[&str] = match builtin {
            Builtin::ClosePending => &["days"],
            Builtin::EscalateBeforeBreach => &["minutes", "assignee_id", "priority", "note"],
            Builtin::ChatWaitReply => &["minutes", "message"],
        };
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(InvalidInput::new(
                format!("config.{k}"),
                format!("{builtin} takes {}", known.join(", ")),
            ));
        }
        let number = |key: &'static str, max: u32| -> Result<u32, InvalidInput> {
            let field = format!("config.{key}");
            match obj.get(key) {
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n <= u64::from(max))
                    .map(|n| n as u32)
                    .ok_or_else(|| InvalidInput::new(field, format!("{key} must be a whole number from 0 to {max}"))),
                None => Err(InvalidInput::new(field, format!("{key} is required"))),
            }
        };
        let text = |key: &'static str| -> Result<Option<String>, InvalidInput> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => message_body("config", s)
                    .map(Some)
                    .map_err(|e| InvalidInput::new(format!("config.{key}"), e.message.replacen("config", key, 1))),
                Some(_) => Err(InvalidInput::new(
                    format!("config.{key}"),
                    format!("{key} must be text"),
                )),
            }
        };
        Ok(match builtin {
            Builtin::ClosePending => Self::ClosePending {
                days: number("days", 3650)?,
            },
            Builtin::EscalateBeforeBreach => {
                let priority = match obj.get("priority") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_str().and_then(Priority::parse).ok_or_else(|| {
                        InvalidInput::new("config.priority", "priority must be low, normal, high or urgent")
                    })?),
                };
                let rule = Self::EscalateBeforeBreach {
                    minutes: number("minutes", 60 * 24 * 30)?,
                    assignee_id: text("assignee_id")?,
                    priority,
                    note: text("note")?,
                };
                if let Self::EscalateBeforeBreach {
                    assignee_id: None,
                    priority: None,
                    note: None,
                    ..
                } = rule
                {
                    return Err(InvalidInput::new(
                        "config",
                        "say what to do: assignee_id, priority or note (any of them)",
                    ));
                }
                rule
            }
            Builtin::ChatWaitReply => Self::ChatWaitReply {
                minutes: number("minutes", 60 * 24)?,
                message: text("message")?.ok_or_else(|| InvalidInput::new("config.message", "message is required"))?,
            },
        })
    }
}

/// What a rule may do; the host checks each against the workspace (an
/// assignee must be one of its active agents) when it applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SetStatus(TicketStatus),
    SetPriority(Priority),
    /// `None` unassigns.
    Assign(Option<String>),
    /// Replaces the ticket's tags.
    SetTags(Vec<String>),
    AddTags(Vec<String>),
    /// An internal comment on the ticket.
    Note(String),
    /// A public reply: a comment mailed to the requester, or a message in
    /// a chat; `{requester_name}`, `{ticket_number}` and `{ticket_subject}`
    /// are filled in.
    Reply(String),
}

impl Action {
    /// Its name in the activity and the API.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SetStatus(_) => "set_status",
            Self::SetPriority(_) => "set_priority",
            Self::Assign(_) => "assign",
            Self::SetTags(_) => "set_tags",
            Self::AddTags(_) => "add_tags",
            Self::Note(_) => "note",
            Self::Reply(_) => "reply",
        }
    }

    /// Reads one action of a rule's answer: `{"type": "set_status",
    /// "status": "pending"}` and the like (README, "Actions").
    pub fn parse(value: &Value) -> Result<Self, String> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or("an action is an object with a \"type\"")?;
        let field = |key: &str| value.get(key).ok_or(format!("{kind} needs \"{key}\""));
        let string = |key: &str| -> Result<String, String> {
            field(key)?
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("{kind}'s \"{key}\" must be a string"))
        };
        let tags = |key: &str| -> Result<Vec<String>, String> {
            let list = field(key)?
                .as_array()
                .ok_or(format!("{kind}'s \"{key}\" must be a list"))?;
            let tags: Vec<String> = list
                .iter()
                .map(|t| {
                    t.as_str()
                        .map(str::to_owned)
                        .ok_or(format!("{kind}'s tags must be strings"))
                })
                .collect::<Result<_, _>>()?;
            let checked = super::hooks::validate::fields(super::hooks::TicketFields {
                priority: None,
                tags,
                custom: Vec::new(),
            })
            .map_err(|e| format!("{kind}: {}", e.replacen("returned ", "", 1)))?;
            Ok(checked.tags)
        };
        let body = |key: &str| -> Result<String, String> {
            message_body("body", &string(key)?).map_err(|e| format!("{kind}: {}", e.message))
        };
        Ok(match kind {
            "set_status" => Self::SetStatus(
                TicketStatus::from_str(&string("status")?)
                    .map_err(|_| "set_status's status must be open, in_progress, pending, solved or closed")?,
            ),
            "set_priority" => Self::SetPriority(
                Priority::parse(&string("priority")?)
                    .ok_or("set_priority's priority must be low, normal, high or urgent")?,
            ),
            "assign" => match field("agent_id")? {
                Value::Null => Self::Assign(None),
                Value::String(s) => Self::Assign(Some(s.clone())),
                _ => return Err("assign's \"agent_id\" must be an agent's id or null".into()),
            },
            "set_tags" => Self::SetTags(tags("tags")?),
            "add_tags" => Self::AddTags(tags("tags")?),
            "note" => Self::Note(body("body")?),
            "reply" => Self::Reply(body("body")?),
            other => {
                return Err(format!(
                    "unknown action {other:?}: the actions are set_status, set_priority, assign, set_tags, \
                     add_tags, note and reply"
                ));
            }
        })
    }

    /// Reads a rule's whole answer: a list of at most [`MAX_ACTIONS`].
    pub fn parse_all(value: &Value) -> Result<Vec<Self>, String> {
        let list = match value {
            Value::Null => return Ok(Vec::new()),
            Value::Array(list) => list,
            _ => return Err("a rule returns a list of actions (or nothing)".into()),
        };
        if list.len() > MAX_ACTIONS {
            return Err(format!(
                "a rule returns at most {MAX_ACTIONS} actions; it returned {}",
                list.len()
            ));
        }
        list.iter()
            .enumerate()
            .map(|(i, a)| Self::parse(a).map_err(|e| format!("action {}: {e}", i + 1)))
            .collect()
    }
}

/// The variables a reply's text may use.
pub struct ReplyVariables<'a> {
    pub requester_name: &'a str,
    pub ticket_number: &'a str,
    pub ticket_subject: &'a str,
}

/// `text` with its variables filled in; an unknown `{…}` stays as written.
pub fn fill(text: &str, v: &ReplyVariables<'_>) -> String {
    text.replace("{requester_name}", v.requester_name)
        .replace("{ticket_number}", v.ticket_number)
        .replace("{ticket_subject}", v.ticket_subject)
}

/// The `X-Threadline-Signature` of `body` sent at `unix_seconds`:
/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<seconds>.<body>">`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_kind_has_its_own_bit() {
        let all = EventKind::mask(EventKind::ALL.iter().copied());
        assert_eq!(all.count_ones() as usize, EventKind::ALL.len());
        assert!(EventKind::SlaBreached.heard(all));
        assert!(!EventKind::ChatStarted.heard(EventKind::TicketCreated.bit()));
    }

    #[test]
    fn built_in_settings_are_checked() {
        assert_eq!(
            BuiltinRule::parse(Builtin::ClosePending, &json!({"days": 0})).unwrap(),
            BuiltinRule::ClosePending { days: 0 }
        );
        let e = BuiltinRule::parse(Builtin::ClosePending, &json!({"days": -1})).unwrap_err();
        assert_eq!(e.field, "config.days");
        let e = BuiltinRule::parse(Builtin::ClosePending, &json!({"dayz": 1})).unwrap_err();
        assert_eq!(e.field, "config.dayz");
        let e = BuiltinRule::parse(Builtin::EscalateBeforeBreach, &json!({"minutes": 30})).unwrap_err();
        assert_eq!(e.field, "config");
        let e = BuiltinRule::parse(Builtin::ChatWaitReply, &json!({"minutes": 5})).unwrap_err();
        assert_eq!(e.field, "config.message");
    }

    #[test]
    fn actions_are_read_and_checked() {
        let actions = Action::parse_all(&json!([
            {"type": "set_status", "status": "pending"},
            {"type": "assign", "agent_id": null},
            {"type": "add_tags", "tags": ["VIP"]},
            {"type": "reply", "body": "Hi {requester_name}"},
        ]))
        .unwrap();
        assert_eq!(actions[0], Action::SetStatus(TicketStatus::Pending));
        assert_eq!(actions[1], Action::Assign(None));
        assert_eq!(actions[2], Action::AddTags(vec!["vip".into()]));
        let e = Action::parse_all(&json!([{"type": "delete_ticket"}])).unwrap_err();
        assert!(e.starts_with("action 1: unknown action"), "{e}");
        let e = Action::parse_all(&json!([{"type": "set_status", "status": "gone"}])).unwrap_err();
        assert!(e.contains("must be open"), "{e}");
        let many: Vec<Value> = (0..11).map(|_| json!({"type": "note", "body": "x"})).collect();
        assert!(Action::parse_all(&Value::Array(many)).is_err());
        assert_eq!(Action::parse_all(&Value::Null).unwrap(), vec![]);
    }

    #[test]
    fn signatures_follow_the_documented_form() {
        // Checked against Python: hmac.new(b"whsec", b"1700000000.{}", sha256).hexdigest()
        let s = signature("whsec", 1_700_000_000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="), "{s}");
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature("other", 1_700_000_000, b"{}"));
    }
}
