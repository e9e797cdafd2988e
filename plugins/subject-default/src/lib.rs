//! The default subject hook: the chat's subject, else "Chat with <visitor>".

use threadline_plugin_sdk::rules;
use threadline_plugin_sdk::types::{ChatHeader, Context};

struct SubjectDefault;

impl threadline_plugin_sdk::subject::Hook for SubjectDefault {
    fn default_subject(_ctx: Context, chat: ChatHeader) -> Result<String, String> {
        Ok(rules::default_subject(&chat))
    }
}

threadline_plugin_sdk::export_subject_hook!(SubjectDefault);
