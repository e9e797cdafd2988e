//! template-transcript: a Threadline transcript plugin.

use threadline_plugin_sdk::describe::Describe;
use threadline_plugin_sdk::{Chat, Context, Error, rules, transcript};

pub struct Plugin;

impl transcript::Hook for Plugin {
    /// The built-in transcript, under a line that says whose chat it was.
    fn format(_ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let lines = rules::plain_transcript(&chat.all_messages());
        Ok(format!("Chat with {}\n\n{lines}", chat.visitor().name))
    }
}

/// No settings: the plugin's name, version and hook are filled in.
impl Describe for Plugin {}

threadline_plugin_sdk::export_plugin!(Plugin, hooks: [transcript]);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::testing::{chat, context};
    use threadline_plugin_sdk::transcript::Hook;

    #[test]
    fn heads_the_transcript_with_the_visitor() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "Hello?")]);
        let text = Plugin::format(&context(&[]), &chat).unwrap();
        assert_eq!(text, "Chat with Ada\n\n[2026-11-25 10:00:00 UTC] Ada: Hello?");
    }
}
