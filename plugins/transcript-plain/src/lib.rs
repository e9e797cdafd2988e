//! The default transcript hook: one line a message with its time and
//! speaker; by its settings Markdown, UTC or the workspace's zone, shorter
//! dates, without system messages, or with e-mail addresses, phone and card
//! numbers redacted.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::rules::{self, TranscriptOptions};
use threadline_plugin_sdk::{Chat, Context, Error, transcript};

pub struct TranscriptPlain;

impl transcript::Hook for TranscriptPlain {
    fn format(ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let options = TranscriptOptions::from_config(rules::settings(ctx))?;
        Ok(rules::transcript(ctx, &chat.all_messages(), &options))
    }
}

impl Describe for TranscriptPlain {
    fn describe() -> Info {
        describe::settings(vec![
            describe::choice(
                "format",
                &["plain", "markdown"],
                Some("plain"),
                "One line a message, or Markdown paragraphs.",
            ),
            describe::choice(
                "time_zone",
                &["workspace", "utc"],
                Some("workspace"),
                "Times in the workspace's time zone or in UTC.",
            ),
            describe::choice(
                "date_format",
                &["iso", "minutes", "time"],
                Some("iso"),
                "2026-11-25 10:21:01, 2026-11-25 10:21, or 10:21.",
            ),
            describe::boolean(
                "include_system",
                Some(true),
                "Keep system messages (joins, conversions).",
            ),
            describe::boolean(
                "redact",
                Some(false),
                "Replace e-mail addresses, phone numbers and card numbers before the text reaches the ticket.",
            ),
        ])
    }
}

threadline_plugin_sdk::export_plugin!(TranscriptPlain, hooks: [transcript]);
