//! template-subject: a Threadline subject plugin.

use threadline_plugin_sdk::describe::{self, Describe};
use threadline_plugin_sdk::{Chat, Context, Error, rules, setting, subject};

pub struct Plugin;

impl subject::Hook for Plugin {
    /// The built-in subject, after a prefix an operator can set.
    fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let prefix: String = setting(ctx, "prefix")?.unwrap_or_else(|| "[Chat]".into());
        Ok(format!("{prefix} {}", rules::default_subject(chat)))
    }
}

impl Describe for Plugin {
    /// The settings the server shows an operator and checks.
    fn describe() -> describe::Info {
        describe::settings(vec![describe::text(
            "prefix",
            Some("[Chat]"),
            "Put before the subject.",
        )])
    }
}

threadline_plugin_sdk::export_plugin!(Plugin, hooks: [subject]);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::subject::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn prefixes_the_default_subject() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "Hello?")]);
        let subject = Plugin::default_subject(&context(&[("prefix", "[VIP]")]), &chat).unwrap();
        assert_eq!(subject, "[VIP] Chat with Ada");
    }
}
