//! A workspace's people: roles, availability, and the mails that invite a
//! colleague or reset a password.

use chrono::{DateTime, Duration, Utc};

use super::InvalidInput;

/// What an agent may do: admins also manage the team, settings and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
        }
    }

    pub fn of(is_admin: bool) -> Self {
        if is_admin { Self::Admin } else { Self::Agent }
    }

    pub fn parse(field: &'static str, value: &str) -> Result<Self, InvalidInput> {
        match value {
            "admin" => Ok(Self::Admin),
            "agent" => Ok(Self::Agent),
            _ => Err(InvalidInput::new(field, format!("{field} is admin or agent"))),
        }
    }
}

/// Whether an agent takes new work: what assignment rules call online and
/// what the widget shows as "someone is here".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Online,
    Away,
    Offline,
}

/// An agent who said `online` but whose console has been quiet this long
/// counts as away: an open console reports every minute (see
/// `http::events`), so this is a closed laptop, not a slow typist.
pub const QUIET_AFTER: Duration = Duration::minutes(5);

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(field: &'static str, value: &str) -> Result<Self, InvalidInput> {
        match value {
            "online" => Ok(Self::Online),
            "away" => Ok(Self::Away),
            "offline" => Ok(Self::Offline),
            _ => Err(InvalidInput::new(field, format!("{field} is online, away or offline"))),
        }
    }

    /// What the agent is now: what they said (`stored`), except that
    /// `online` goes `away` when they have not been seen for
    /// [`QUIET_AFTER`].
    pub fn effective(stored: &str, last_seen_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match Self::parse("availability", stored).unwrap_or(Self::Online) {
            Self::Online if last_seen_at.is_none_or(|t| now - t > QUIET_AFTER) => Self::Away,
            said => said,
        }
    }
}

/// How long an invitation's link works.
pub const INVITATION_TTL: Duration = Duration::days(7);
/// How long a password reset's link works.
pub const RESET_TTL: Duration = Duration::hours(1);

/// An account mail: an invitation or a password reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMail {
    pub subject: String,
    pub body: String,
}

/// The invitation `inviter` sends to join `workspace`; `link` opens the
/// console with the invitation's token.
pub fn invitation(workspace: &str, inviter: &str, link: &str, expires_at: DateTime<Utc>) -> AccountMail {
    AccountMail {
        subject: format!("{inviter} invited you to {workspace} on Threadline"),
        body: format!(
            "{inviter} invited you to answer customers with the {workspace} team.\n\n\
             Choose a password and join:\n{link}\n\n\
             The link works once, until {}.\n\
             If you did not expect this, ignore this mail: nothing happens without you.\n",
            expires_at.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// The mail with a link to choose a new password.
pub fn password_reset(workspace: &str, link: &str) -> AccountMail {
    AccountMail {
        subject: format!("Reset your {workspace} password"),
        body: format!(
            "Someone asked to reset the password of your {workspace} account on Threadline.\n\n\
             Choose a new password here:\n{link}\n\n\
             The link works once, for an hour. If it was not you, ignore this mail: \
             your password stays as it is.\n"
        ),
    }
}

/// `public_url` (no trailing slash) + the console's page for `what`, with
/// the token in the fragment: browsers never send a fragment to a server,
/// so it stays out of access logs and `Referer` headers.
pub fn console_link(public_url: &str, what: &str, token: &str) -> String {
    format!("{}/console#{what}={token}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_online_agent_is_away_and_what_others_said_stands() {
        let now = Utc::now();
        let recent = Some(now - Duration::minutes(1));
        let long_ago = Some(now - Duration::minutes(6));
        assert_eq!(Availability::effective("online", recent, now), Availability::Online);
        assert_eq!(Availability::effective("online", long_ago, now), Availability::Away);
        assert_eq!(Availability::effective("online", None, now), Availability::Away);
        assert_eq!(Availability::effective("offline", recent, now), Availability::Offline);
        assert_eq!(Availability::effective("away", recent, now), Availability::Away);
    }

    #[test]
    fn roles_and_availabilities_name_their_choices_when_refused() {
        assert_eq!(Role::parse("role", "admin"), Ok(Role::Admin));
        assert!(
            Role::parse("role", "owner")
                .unwrap_err()
                .message
                .contains("admin or agent")
        );
        assert!(
            Availability::parse("availability", "busy")
                .unwrap_err()
                .message
                .contains("online, away or offline")
        );
    }

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        assert_eq!(
            console_link("https://help.acme.test/", "invitation", "tli_x"),
            "https://help.acme.test/console#invitation=tli_x"
        );
        let m = invitation("Acme", "Ada", "https://h/console#invitation=t", Utc::now());
        assert!(m.body.contains("https://h/console#invitation=t"));
        assert_eq!(m.subject, "Ada invited you to Acme on Threadline");
    }
}
