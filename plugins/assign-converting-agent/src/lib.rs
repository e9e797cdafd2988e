//! The default assignment hook: the agent who converts gets the ticket.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error, assignment};

pub struct AssignConvertingAgent;

impl assignment::Hook for AssignConvertingAgent {
    fn assign(
        _ctx: &Context,
        _chat: &Chat,
        converting_agent: &Agent,
        _candidates: &[Candidate],
    ) -> Result<String, Error> {
        Ok(converting_agent.id.clone())
    }
}

impl Describe for AssignConvertingAgent {
    fn describe() -> Info {
        describe::info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), &["assignment"])
    }
}

threadline_plugin_sdk::export_assignment_hook!(AssignConvertingAgent);
threadline_plugin_sdk::export_describe!(AssignConvertingAgent);
