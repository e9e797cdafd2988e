//! A probe of contract 0.2.0. Its subject says what the call gave it: the
//! zone, the settings, the message count, the first visitor message, the
//! last message read through a ranged read, and that message's local time
//! as the host's clock gives it. Its fields come from its settings
//! (`priority`, `tags` comma-separated, `fail` to return a typed error).
//! It counts its calls in a static: every call must say `call=1`, since a
//! call's memory never reaches the next one.

use std::sync::atomic::{AtomicU32, Ordering};

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::fields::{Priority, TicketFields};
use threadline_plugin_sdk::{Chat, Context, Error, SettingError, config, fields, local_time, subject};

pub struct Probe;

static CALLS: AtomicU32 = AtomicU32::new(0);

impl subject::Hook for Probe {
    fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error> {
        if let Some(why) = config(ctx, "fail") {
            return Err(Error::Unsupported(why.into()));
        }
        let count = chat.message_count();
        let last = chat.messages(count.saturating_sub(1), 1).pop();
        let (body, local) = match &last {
            Some(m) => {
                let t = local_time(m.sent_at);
                (
                    m.body.clone(),
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}{:+}{}",
                        t.year, t.month, t.day, t.hour, t.minute, t.utc_offset_minutes, t.abbreviation
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        let first = chat.first_visitor_message().map(|m| m.body).unwrap_or_default();
        let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(format!(
            "tz={} messages={count} first={first} last={body} at={local} call={call}",
            ctx.time_zone
        ))
    }
}

impl fields::Hook for Probe {
    fn fields(ctx: &Context, _chat: &Chat) -> Result<TicketFields, Error> {
        let priority = match config(ctx, "priority") {
            None => None,
            Some("low") => Some(Priority::Low),
            Some("normal") => Some(Priority::Normal),
            Some("high") => Some(Priority::High),
            Some("urgent") => Some(Priority::Urgent),
            Some(other) => {
                return Err(Error::Setting(SettingError {
                    key: "priority".into(),
                    reason: format!("{other:?} is not a priority"),
                }));
            }
        };
        let tags = config(ctx, "tags")
            .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default();
        Ok(TicketFields {
            priority,
            tags,
            custom: vec![("source".into(), "chat".into())],
        })
    }
}

impl Describe for Probe {
    fn describe() -> Info {
        let mut info = describe::info("probe-v2", env!("CARGO_PKG_VERSION"), &["subject", "fields"]);
        info.settings = vec![
            describe::choice(
                "priority",
                &["low", "normal", "high", "urgent"],
                None,
                "The new ticket's priority.",
            ),
            describe::text("tags", None, "Tags for the new ticket, comma-separated."),
            describe::text("fail", None, "Refuse every chat with this reason."),
        ];
        info
    }
}

threadline_plugin_sdk::export_subject_hook!(Probe);
threadline_plugin_sdk::export_fields_hook!(Probe);
threadline_plugin_sdk::export_describe!(Probe);
