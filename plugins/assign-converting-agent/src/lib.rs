//! The default assignment hook: the agent who converts gets the ticket.

use threadline_plugin_sdk::types::{Agent, Candidate, ChatHeader, Context};

struct AssignConvertingAgent;

impl threadline_plugin_sdk::assignment::Hook for AssignConvertingAgent {
    fn assign(
        _ctx: Context,
        _chat: ChatHeader,
        converting_agent: Agent,
        _candidates: Vec<Candidate>,
    ) -> Result<String, String> {
        Ok(converting_agent.id)
    }
}

threadline_plugin_sdk::export_assignment_hook!(AssignConvertingAgent);
