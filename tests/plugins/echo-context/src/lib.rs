//! Not a bad plugin: a probe, and the suite's plugin of contract 0.1.0
//! (frozen; built with wit-bindgen alone, as authors did before the 0.2.0
//! SDK). Its subject is what the call told it (the workspace's time zone
//! and offset, its settings, the chat header), so the tests can check what
//! a 0.1.0 plugin is still given.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "threadline:plugin/subject-hook@0.1.0",
});

use threadline::plugin::types::{ChatHeader, Context};

struct Echo;

impl exports::threadline::plugin::subject::Guest for Echo {
    fn default_subject(ctx: Context, chat: ChatHeader) -> Result<String, String> {
        let config: Vec<String> = ctx.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let first = chat.first_visitor_message.map(|m| m.body).unwrap_or_default();
        Ok(format!(
            "tz={} offset={} config={} messages={} first={first}",
            ctx.time_zone,
            ctx.utc_offset_minutes,
            config.join(","),
            chat.message_count
        ))
    }
}

export!(Echo);
