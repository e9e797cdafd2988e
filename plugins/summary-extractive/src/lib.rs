//! The default summary hook: the first question and the last reply, quoted.

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "threadline:plugin/summary-hook@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{Chat, Context};

struct SummaryExtractive;

impl exports::threadline::plugin::summary::Guest for SummaryExtractive {
    fn summarize(_ctx: Context, chat: Chat) -> Result<Option<String>, String> {
        Ok(rules::extractive_summary(&chat.messages))
    }
}

export!(SummaryExtractive);
