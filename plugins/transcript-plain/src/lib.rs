//! The default transcript hook: one line a message, UTC timestamps, speakers.

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{Chat, Context};

struct TranscriptPlain;

impl threadline_plugin_sdk::transcript::Hook for TranscriptPlain {
    fn format(_ctx: Context, chat: Chat) -> Result<String, String> {
        Ok(rules::plain_transcript(&chat.messages))
    }
}

threadline_plugin_sdk::export_transcript_hook!(TranscriptPlain);
