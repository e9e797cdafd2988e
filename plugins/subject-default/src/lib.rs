//! The default subject hook: the chat's subject, else "Chat with <visitor>";
//! or, when an operator sets one, a template filled in from the chat.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::rules::{self, SubjectOptions};
use threadline_plugin_sdk::{Chat, Context, Error, subject};

pub struct SubjectDefault;

impl subject::Hook for SubjectDefault {
    fn default_subject(ctx: &Context, chat: &Chat) -> Result<String, Error> {
        let options = SubjectOptions::from_config(rules::settings(ctx))?;
        Ok(rules::subject(ctx, chat, &options))
    }
}

impl Describe for SubjectDefault {
    fn describe() -> Info {
        let about = format!(
            "The subject, with placeholders {}. Empty: the chat's own subject, else \"Chat with\" the visitor's name.",
            rules::SUBJECT_PLACEHOLDERS
        );
        describe::settings(vec![describe::text("template", None, &about)])
    }
}

threadline_plugin_sdk::export_plugin!(SubjectDefault, hooks: [subject]);
