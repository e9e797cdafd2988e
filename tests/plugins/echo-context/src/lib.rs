//! Not a bad plugin: a probe. Its subject is what the call told it (the
//! workspace's time zone and offset, its settings, the chat header), so the
//! tests can check what a plugin is given.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "threadline:plugin/subject-hook@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use threadline_plugin_sdk::types::{ChatHeader, Context};

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
