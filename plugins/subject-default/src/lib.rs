//! The default subject hook: the chat's subject, else "Chat with <visitor>".

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::{Chat, Context, Error, rules, subject};

pub struct SubjectDefault;

impl subject::Hook for SubjectDefault {
    fn default_subject(_ctx: &Context, chat: &Chat) -> Result<String, Error> {
        Ok(rules::default_subject(chat))
    }
}

impl Describe for SubjectDefault {
    fn describe() -> Info {
        describe::info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &["subject"])
    }
}

threadline_plugin_sdk::export_subject_hook!(SubjectDefault);
threadline_plugin_sdk::export_describe!(SubjectDefault);
