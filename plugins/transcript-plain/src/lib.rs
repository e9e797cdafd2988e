//! The default transcript hook: one line a message, UTC timestamps, speakers.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::{Chat, Context, Error, rules, transcript};

pub struct TranscriptPlain;

impl transcript::Hook for TranscriptPlain {
    fn format(_ctx: &Context, chat: &Chat) -> Result<String, Error> {
        Ok(rules::plain_transcript(&chat.all_messages()))
    }
}

impl Describe for TranscriptPlain {
    fn describe() -> Info {
        describe::info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &["transcript"])
    }
}

threadline_plugin_sdk::export_transcript_hook!(TranscriptPlain);
threadline_plugin_sdk::export_describe!(TranscriptPlain);
