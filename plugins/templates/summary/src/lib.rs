//! template-summary: a Threadline summary plugin.

use threadline_plugin_sdk::describe::Describe;
use threadline_plugin_sdk::{Chat, Context, Error, rules, summary};

pub struct Plugin;

impl summary::Hook for Plugin {
    /// The built-in summary, with how long the chat ran.
    fn summarize(_ctx: &Context, chat: &Chat) -> Result<Option<String>, Error> {
        let messages = chat.all_messages();
        let minutes = match (messages.first(), messages.last()) {
            (Some(first), Some(last)) => (last.sent_at - first.sent_at) / 60_000,
            _ => 0,
        };
        Ok(rules::extractive_summary(&messages).map(|s| format!("{s}\nThe chat ran {minutes} min.")))
    }
}

/// No settings: the plugin's name, version and hook are filled in.
impl Describe for Plugin {}

threadline_plugin_sdk::export_plugin!(Plugin, hooks: [summary]);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::summary::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn says_how_long_the_chat_ran() {
        let chat = chat(
            "Ada",
            None,
            &[(Author::Visitor, "Ada", "Hello?"), (Author::Agent, "Bob", "Hi!")],
        );
        let summary = Plugin::summarize(&context(&[]), &chat).unwrap().unwrap();
        assert!(summary.ends_with("The chat ran 1 min."), "{summary}");
    }
}
