//! The default subject hook: the chat's subject, else "Chat with <visitor>".

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "threadline:plugin/subject-hook@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{ChatHeader, Context};

struct SubjectDefault;

impl exports::threadline::plugin::subject::Guest for SubjectDefault {
    fn default_subject(_ctx: Context, chat: ChatHeader) -> Result<String, String> {
        Ok(rules::default_subject(&chat))
    }
}

export!(SubjectDefault);
