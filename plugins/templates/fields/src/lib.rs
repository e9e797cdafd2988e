//! template-fields: a Threadline fields plugin.

use threadline_plugin_sdk::describe::Describe;
use threadline_plugin_sdk::fields::{self, Priority, TicketFields};
use threadline_plugin_sdk::{Chat, Context, Error};

pub struct Plugin;

impl fields::Hook for Plugin {
    /// Urgent, tagged `refund`, when the visitor's first message asks for
    /// a refund.
    fn fields(_ctx: &Context, chat: &Chat) -> Result<TicketFields, Error> {
        let first = chat
            .first_visitor_message()
            .map(|m| m.body.to_lowercase())
            .unwrap_or_default();
        if first.contains("refund") || first.contains("charged twice") {
            return Ok(TicketFields {
                priority: Some(Priority::Urgent),
                tags: vec!["refund".into()],
                custom: Vec::new(),
            });
        }
        Ok(TicketFields {
            priority: None,
            tags: Vec::new(),
            custom: Vec::new(),
        })
    }
}

/// No settings: the plugin's name, version and hook are filled in.
impl Describe for Plugin {}

threadline_plugin_sdk::export_plugin!(Plugin, hooks: [fields]);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::Author;
    use threadline_plugin_sdk::fields::Hook;
    use threadline_plugin_sdk::testing::{chat, context};

    #[test]
    fn refunds_are_urgent() {
        let chat = chat("Ada", None, &[(Author::Visitor, "Ada", "I want a refund")]);
        let fields = Plugin::fields(&context(&[]), &chat).unwrap();
        assert_eq!(fields.priority, Some(Priority::Urgent));
        assert_eq!(fields.tags, ["refund"]);
    }
}
