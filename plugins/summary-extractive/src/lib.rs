//! The default summary hook: the first question and the last reply, quoted.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::{Chat, Context, Error, rules, summary};

pub struct SummaryExtractive;

impl summary::Hook for SummaryExtractive {
    fn summarize(_ctx: &Context, chat: &Chat) -> Result<Option<String>, Error> {
        Ok(rules::extractive_summary(&chat.all_messages()))
    }
}

impl Describe for SummaryExtractive {
    fn describe() -> Info {
        describe::info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &["summary"])
    }
}

threadline_plugin_sdk::export_summary_hook!(SummaryExtractive);
threadline_plugin_sdk::export_describe!(SummaryExtractive);
