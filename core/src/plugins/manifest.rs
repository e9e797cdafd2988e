//! What a 0.2.0 plugin says of itself (its `describe` export): name,
//! version, hooks and settings schema. Read once at upload, kept with the
//! plugin, shown by `GET /api/v1/plugins`, and used to check the settings an
//! operator gives it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::hooks::HookKind;

/// Settings a plugin may declare, and the sizes of what it says.
const MAX_SETTINGS: usize = 64;
const MAX_CHOICES: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 1_000;
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// The hooks it exports.
    pub hooks: Vec<String>,
    pub settings: Vec<SettingSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    Text,
    Integer,
    Boolean,
    Choice,
}

/// One setting an operator may give the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettingSpec {
    pub key: String,
    pub kind: SettingKind,
    /// What the plugin uses when the setting is not given.
    pub default: Option<String>,
    pub description: String,
    /// The allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl SettingSpec {
    /// Whether `value` is one this setting takes; the reason when not.
    pub fn accepts(&self, value: &str) -> Result<(), String> {
        let ok = match self.kind {
            SettingKind::Text => true,
            SettingKind::Integer => value.trim().parse::<i64>().is_ok(),
            SettingKind::Boolean => matches!(value.trim(), "true" | "false"),
            SettingKind::Choice => self.choices.iter().any(|c| c == value),
        };
        if ok {
            return Ok(());
        }
        Err(match self.kind {
            SettingKind::Integer => format!("{} takes a whole number", self.key),
            SettingKind::Boolean => format!("{} takes true or false", self.key),
            _ => format!("{} takes one of: {}", self.key, self.choices.join(", ")),
        })
    }
}

fn single_line(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl Manifest {
    /// Refuses a description that is malformed or disagrees with what the
    /// component exports, so what operators are shown is true.
    pub fn check(&self, exported: &[HookKind]) -> Result<(), String> {
        if !single_line(&self.name, MAX_NAME_CHARS) || !single_line(&self.version, MAX_NAME_CHARS) {
            return Err(format!(
                "its describe() name and version must be single lines of 1 to {MAX_NAME_CHARS} characters"
            ));
        }
        let mut said: Vec<&str> = self.hooks.iter().map(String::as_str).collect();
        said.sort_unstable();
        said.dedup();
        let mut real: Vec<&str> = exported.iter().map(|h| h.as_str()).collect();
        real.sort_unstable();
        if said != real {
            return Err(format!(
                "its describe() lists the hooks [{}] but it exports [{}]",
                said.join(", "),
                real.join(", ")
            ));
        }
        if self.settings.len() > MAX_SETTINGS {
            return Err(format!(
                "it declares {} settings, over the {MAX_SETTINGS} allowed",
                self.settings.len()
            ));
        }
        for (i, s) in self.settings.iter().enumerate() {
            if !single_line(&s.key, MAX_NAME_CHARS) {
                return Err(format!("its setting #{} has no usable key", i + 1));
            }
            if self.settings[..i].iter().any(|o| o.key == s.key) {
                return Err(format!("it declares the setting {:?} twice", s.key));
            }
            if s.description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(format!(
                    "the description of {:?} is over {MAX_DESCRIPTION_CHARS} characters",
                    s.key
                ));
            }
            match s.kind {
                SettingKind::Choice if s.choices.is_empty() || s.choices.len() > MAX_CHOICES => {
                    return Err(format!("the choice {:?} needs 1 to {MAX_CHOICES} choices", s.key));
                }
                SettingKind::Choice => {}
                _ if !s.choices.is_empty() => {
                    return Err(format!("{:?} lists choices but is not a choice", s.key));
                }
                _ => {}
            }
            if let Some(d) = &s.default {
                s.accepts(d)
                    .map_err(|why| format!("the default of {:?} does not fit its own kind ({why})", s.key))?;
            }
        }
        Ok(())
    }

    /// Checks an operator's settings for this plugin: every key declared,
    /// every value of its kind. The error names the key.
    pub fn check_config(&self, config: &BTreeMap<String, String>) -> Result<(), (String, String)> {
        for (key, value) in config {
            let Some(spec) = self.settings.iter().find(|s| &s.key == key) else {
                let known: Vec<&str> = self.settings.iter().map(|s| s.key.as_str()).collect();
                return Err((
                    key.clone(),
                    if known.is_empty() {
                        format!("{} takes no settings", self.name)
                    } else {
                        format!("{} has no setting {key:?} (it has: {})", self.name, known.join(", "))
                    },
                ));
            };
            spec.accepts(value).map_err(|why| (key.clone(), why))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            name: "vip".into(),
            version: "1.0.0".into(),
            hooks: vec!["subject".into()],
            settings: vec![
                SettingSpec {
                    key: "prefix".into(),
                    kind: SettingKind::Text,
                    default: Some("[VIP]".into()),
                    description: "Put before the subject".into(),
                    choices: vec![],
                },
                SettingSpec {
                    key: "max".into(),
                    kind: SettingKind::Integer,
                    default: None,
                    description: String::new(),
                    choices: vec![],
                },
                SettingSpec {
                    key: "style".into(),
                    kind: SettingKind::Choice,
                    default: Some("plain".into()),
                    description: String::new(),
                    choices: vec!["plain".into(), "markdown".into()],
                },
            ],
        }
    }

    #[test]
    fn a_description_must_match_the_exports_and_its_own_defaults() {
        let m = manifest();
        assert_eq!(m.check(&[HookKind::Subject]), Ok(()));
        assert!(
            m.check(&[HookKind::Subject, HookKind::Summary])
                .unwrap_err()
                .contains("exports")
        );
        let mut bad = manifest();
        bad.settings[2].default = Some("html".into());
        assert!(
            bad.check(&[HookKind::Subject])
                .unwrap_err()
                .contains("default of \"style\"")
        );
        let mut twice = manifest();
        twice.settings.push(twice.settings[0].clone());
        assert!(twice.check(&[HookKind::Subject]).unwrap_err().contains("twice"));
    }

    #[test]
    fn settings_are_checked_by_key_and_kind() {
        let m = manifest();
        let cfg = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(
            m.check_config(&cfg(&[("prefix", "x"), ("max", "80"), ("style", "markdown")])),
            Ok(())
        );
        assert_eq!(m.check_config(&cfg(&[("max", "eighty")])).unwrap_err().0, "max");
        assert_eq!(m.check_config(&cfg(&[("style", "html")])).unwrap_err().0, "style");
        let (key, why) = m.check_config(&cfg(&[("prefx", "x")])).unwrap_err();
        assert_eq!(key, "prefx");
        assert!(why.contains("prefix, max, style"), "{why}");
    }
}
