//! What a hosting operator sets on a workspace: whether it runs
//! (`WorkspaceStatus`) and how much it may hold and send (`Quotas`).
//!
//! A quota is a limit or `None` (unlimited). The server has defaults (the
//! `serve --quota-*` flags); the operator may override any of them per
//! workspace, with a number or with `null` (unlimited). The overrides are
//! stored as a JSON object in which a quota left out takes the default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceStatus {
    Active,
    /// Keeps every row; its agents, widget, plugins and mail stop until
    /// the operator resumes it.
    Suspended,
}

impl WorkspaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// A stored value; anything unknown counts as suspended, the safe side.
    pub fn of(stored: &str) -> Self {
        match stored {
            "active" => Self::Active,
            _ => Self::Suspended,
        }
    }

    pub fn parse(field: &'static str, value: &str) -> Result<Self, InvalidInput> {
        match value {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            _ => Err(InvalidInput::new(
                field,
                format!("{field} must be \"active\" or \"suspended\""),
            )),
        }
    }
}

/// One kind of quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Agents,
    Plugins,
    PluginBytes,
    MailsPerDay,
    ChatsPerDay,
    StoredBytes,
}

impl Quota {
    pub const ALL: [Quota; 6] = [
        Quota::Agents,
        Quota::Plugins,
        Quota::PluginBytes,
        Quota::MailsPerDay,
        Quota::ChatsPerDay,
        Quota::StoredBytes,
    ];

    /// Its name in the API, the stored overrides and the error messages.
    pub fn name(self) -> &'static str {
        match self {
            Quota::Agents => "agents",
            Quota::Plugins => "plugins",
            Quota::PluginBytes => "plugin_bytes",
            Quota::MailsPerDay => "mails_per_day",
            Quota::ChatsPerDay => "chats_per_day",
            Quota::StoredBytes => "stored_bytes",
        }
    }

    /// Whether it counts per UTC day (over it: 429 until midnight) rather
    /// than what the workspace holds (over it: 403 until something goes).
    pub fn daily(self) -> bool {
        matches!(self, Quota::MailsPerDay | Quota::ChatsPerDay)
    }
}

/// The limits in force for a workspace, or the server's defaults.
/// `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quotas {
    pub agents: Option<u64>,
    pub plugins: Option<u64>,
    pub plugin_bytes: Option<u64>,
    pub mails_per_day: Option<u64>,
    pub chats_per_day: Option<u64>,
    pub stored_bytes: Option<u64>,
}

impl Quotas {
    pub fn get(&self, quota: Quota) -> Option<u64> {
        match quota {
            Quota::Agents => self.agents,
            Quota::Plugins => self.plugins,
            Quota::PluginBytes => self.plugin_bytes,
            Quota::MailsPerDay => self.mails_per_day,
            Quota::ChatsPerDay => self.chats_per_day,
            Quota::StoredBytes => self.stored_bytes,
        }
    }

    fn slot(&mut self, quota: Quota) -> &mut Option<u64> {
        match quota {
            Quota::Agents => &mut self.agents,
            Quota::Plugins => &mut self.plugins,
            Quota::PluginBytes => &mut self.plugin_bytes,
            Quota::MailsPerDay => &mut self.mails_per_day,
            Quota::ChatsPerDay => &mut self.chats_per_day,
            Quota::StoredBytes => &mut self.stored_bytes,
        }
    }

    /// Refuses `used + adding` past the limit, if there is one.
    pub fn check(&self, quota: Quota, used: u64, adding: u64) -> Result<(), QuotaExceeded> {
        match self.get(quota) {
            Some(limit) if used.saturating_add(adding) > limit => Err(QuotaExceeded { quota, limit }),
            _ => Ok(()),
        }
    }
}

/// The operator's overrides of one workspace, as stored: a JSON object of
/// quota names to a number or `null`; one left out takes the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaOverrides(serde_json::Map<String, serde_json::Value>);

impl QuotaOverrides {
    /// Reads the stored form; anything unreadable in it is ignored (the
    /// default applies), since a row written by a newer server may hold
    /// quotas this one does not know.
    pub fn stored(text: &str) -> Self {
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => Self(map),
            _ => Self::default(),
        }
    }

    pub fn to_stored(&self) -> String {
        serde_json::Value::Object(self.0.clone()).to_string()
    }

    /// Takes a change from the API: known names only, each a whole number
    /// or `null`; the names given replace what was there.
    pub fn apply(&mut self, change: &serde_json::Map<String, serde_json::Value>) -> Result<(), InvalidInput> {
        // All checked before any is taken: a refused change changes nothing.
        for (name, value) in change {
            if !Quota::ALL.iter().any(|q| q.name() == name) {
                let known: Vec<&str> = Quota::ALL.iter().map(|q| q.name()).collect();
                return Err(InvalidInput::new(
                    format!("quotas.{name}"),
                    format!("no quota is called {name:?}; the quotas are {}", known.join(", ")),
                ));
            }
            if !(value.is_null() || value.as_u64().is_some()) {
                return Err(InvalidInput::new(
                    format!("quotas.{name}"),
                    format!("quotas.{name} must be a whole number from 0, or null for unlimited"),
                ));
            }
        }
        for (name, value) in change {
            self.0.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    /// The limits in force: these overrides over `defaults`.
    pub fn over(&self, defaults: &Quotas) -> Quotas {
        let mut quotas = *defaults;
        for quota in Quota::ALL {
            match self.0.get(quota.name()) {
                Some(serde_json::Value::Null) => *quotas.slot(quota) = None,
                Some(value) => {
                    if let Some(n) = value.as_u64() {
                        *quotas.slot(quota) = Some(n);
                    }
                }
                None => {}
            }
        }
        quotas
    }
}

/// A write refused because it would pass a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct QuotaExceeded {
    pub quota: Quota,
    pub limit: u64,
}

impl QuotaExceeded {
    fn message(&self) -> String {
        let when = if self.quota.daily() {
            "; it counts again from midnight UTC"
        } else {
            ""
        };
        format!(
            "the workspace's quota {} ({}) is reached; ask the service's operator to raise it{when}",
            self.quota.name(),
            self.limit
        )
    }
}

/// A slug asked for: 1 to 40 lowercase letters, digits and single dashes
/// between them, as the server makes them from names.
pub fn check_slug(field: &'static str, value: &str) -> Result<String, InvalidInput> {
    let ok = (1..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidInput::new(
            field,
            format!("{field} must be 1 to 40 lowercase letters, digits and single dashes between them"),
        ))
    }
}

/// Today's UTC date as the meter and the daily quotas count it.
pub fn utc_day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// The start of the UTC day of `at`.
pub fn day_start(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    at.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_and_null_means_unlimited() {
        let defaults = Quotas {
            agents: Some(5),
            mails_per_day: Some(100),
            ..Quotas::default()
        };
        let mut overrides = QuotaOverrides::stored(r#"{"agents": 10, "unknown_later": 3}"#);
        let change = serde_json::json!({"mails_per_day": null, "plugins": 2});
        overrides.apply(change.as_object().unwrap()).unwrap();
        let q = overrides.over(&defaults);
        assert_eq!(q.agents, Some(10));
        assert_eq!(q.mails_per_day, None);
        assert_eq!(q.plugins, Some(2));
        assert_eq!(q.stored_bytes, None);
        assert!(q.check(Quota::Plugins, 2, 0).is_ok());
        assert_eq!(
            q.check(Quota::Plugins, 2, 1),
            Err(QuotaExceeded {
                quota: Quota::Plugins,
                limit: 2
            })
        );
    }

    #[test]
    fn a_change_names_known_quotas_with_whole_numbers() {
        let mut o = QuotaOverrides::default();
        let bad = serde_json::json!({"agentz": 1});
        assert_eq!(o.apply(bad.as_object().unwrap()).unwrap_err().field, "quotas.agentz");
        let bad = serde_json::json!({"agents": -1});
        assert!(o.apply(bad.as_object().unwrap()).is_err());
        let bad = serde_json::json!({"agents": "5"});
        assert!(o.apply(bad.as_object().unwrap()).is_err());
        assert_eq!(o, QuotaOverrides::default(), "a refused change changes nothing");
    }
}
