//! States and kinds, with the string forms stored in the database and shown
//! in the API.

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

string_enum!(
    /// A chat is open while people talk, closed when it ends (by an agent, or
    /// by conversion to a ticket). A closed chat can be reopened.
    ChatStatus { Open => "open", Closed => "closed" }
);

string_enum!(
    /// Who wrote a message. Internal notes are agent-only: never shown to the
    /// visitor, never copied into a ticket, never given to a plugin.
    MessageKind {
        Visitor => "visitor",
        Agent => "agent",
        InternalNote => "internal_note",
        System => "system",
    }
);

impl MessageKind {
    /// Whether the visitor may see messages of this kind.
    pub fn is_public(self) -> bool {
        !matches!(self, MessageKind::InternalNote)
    }
}

string_enum!(
    /// A ticket's lifecycle. A converted chat starts `in_progress`: someone is
    /// already working on it. See [`TicketStatus::can_become`].
    TicketStatus {
        Open => "open",
        InProgress => "in_progress",
        Pending => "pending",
        Solved => "solved",
        Closed => "closed",
    }
);

impl TicketStatus {
    /// Whether the ticket still counts towards its assignee's open tickets.
    /// The database keeps that count with triggers that list the same
    /// statuses (migration `m20261126_000004_conversion_cost`).
    pub fn is_open(self) -> bool {
        !matches!(self, TicketStatus::Solved | TicketStatus::Closed)
    }

    /// The transitions agents may make: any status but `closed` may become
    /// any other (a solved ticket reopens as `open` or `in_progress`);
    /// `closed` is final, as help desks keep it: a new request about the
    /// same thing is a new ticket.
    pub fn can_become(self, next: TicketStatus) -> bool {
        self != TicketStatus::Closed && self != next
    }
}

/// A visitor whose socket has been closed this long (and who has not
/// written since) has left: an agent's answer is mailed to them, if they
/// gave an address. Their open socket notes them every minute, so a visitor
/// still on the page is never taken for gone.
pub const VISITOR_GONE_AFTER: chrono::Duration = chrono::Duration::minutes(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_string_form() {
        for s in ChatStatus::ALL {
            assert_eq!(s.as_str().parse::<ChatStatus>().unwrap(), *s);
        }
        for k in MessageKind::ALL {
            assert_eq!(k.as_str().parse::<MessageKind>().unwrap(), *k);
        }
        for t in TicketStatus::ALL {
            assert_eq!(t.as_str().parse::<TicketStatus>().unwrap(), *t);
        }
        assert!("Open".parse::<ChatStatus>().is_err());
    }

    #[test]
    fn only_internal_notes_are_hidden_from_visitors() {
        let hidden: Vec<_> = MessageKind::ALL.iter().filter(|k| !k.is_public()).collect();
        assert_eq!(hidden, [&MessageKind::InternalNote]);
    }
}
