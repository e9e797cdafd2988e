//! The default assignment hook: the agent who converts gets the ticket.

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "threadline:plugin/assignment-hook@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use threadline_plugin_sdk::types::{Agent, Candidate, ChatHeader, Context};

struct AssignConvertingAgent;

impl exports::threadline::plugin::assignment::Guest for AssignConvertingAgent {
    fn assign(
        _ctx: Context,
        _chat: ChatHeader,
        converting_agent: Agent,
        _candidates: Vec<Candidate>,
    ) -> Result<String, String> {
        Ok(converting_agent.id)
    }
}

export!(AssignConvertingAgent);
