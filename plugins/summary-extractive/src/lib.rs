//! The default summary hook: the first question and the last reply, quoted;
//! by its settings off, shorter or longer, or redacted.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::rules::{self, SummaryOptions};
use threadline_plugin_sdk::{Chat, Context, Error, summary};

pub struct SummaryExtractive;

impl summary::Hook for SummaryExtractive {
    fn summarize(ctx: &Context, chat: &Chat) -> Result<Option<String>, Error> {
        let options = SummaryOptions::from_config(rules::settings(ctx))?;
        if !options.enabled {
            return Ok(None);
        }
        Ok(rules::summary(&chat.all_messages(), &options))
    }
}

impl Describe for SummaryExtractive {
    fn describe() -> Info {
        describe::settings(vec![
            describe::boolean("enabled", Some(true), "Write a summary when a chat closes."),
            describe::integer("length", Some(200), "Characters quoted of each message (20 to 2000)."),
            describe::boolean(
                "redact",
                Some(false),
                "Replace e-mail addresses, phone numbers and card numbers in the quotes.",
            ),
        ])
    }
}

threadline_plugin_sdk::export_plugin!(SummaryExtractive, hooks: [summary]);
