//! The default transcript hook: one line a message, UTC timestamps, speakers.

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "threadline:plugin/transcript-hook@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{Chat, Context};

struct TranscriptPlain;

impl exports::threadline::plugin::transcript::Guest for TranscriptPlain {
    fn format(_ctx: Context, chat: Chat) -> Result<String, String> {
        Ok(rules::plain_transcript(&chat.messages))
    }
}

export!(TranscriptPlain);
