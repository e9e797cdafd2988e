//! The default summary hook: the first question and the last reply, quoted.

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{Chat, Context};

struct SummaryExtractive;

impl threadline_plugin_sdk::summary::Hook for SummaryExtractive {
    fn summarize(_ctx: Context, chat: Chat) -> Result<Option<String>, String> {
        Ok(rules::extractive_summary(&chat.messages))
    }
}

threadline_plugin_sdk::export_summary_hook!(SummaryExtractive);
