//! Answers the agent id its settings name (in the tests, an agent of another workspace).

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "threadline:plugin/plugin@0.1.0",
    with: {
        "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
        "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
    },
});

use exports::threadline::plugin::{assignment, subject, summary, transcript};
use threadline_plugin_sdk::types::{Agent, Candidate, Chat, ChatHeader, Context};

#[allow(unused_variables)]
fn misbehave(ctx: &Context) -> String {
    threadline_plugin_sdk::config(ctx, "agent_id")
        .unwrap_or("nobody")
        .to_owned()
}

struct Bad;

impl subject::Guest for Bad {
    fn default_subject(ctx: Context, _chat: ChatHeader) -> Result<String, String> {
        Ok(misbehave(&ctx))
    }
}

impl transcript::Guest for Bad {
    fn format(ctx: Context, _chat: Chat) -> Result<String, String> {
        Ok(misbehave(&ctx))
    }
}

impl assignment::Guest for Bad {
    fn assign(ctx: Context, _chat: ChatHeader, _agent: Agent, _candidates: Vec<Candidate>) -> Result<String, String> {
        Ok(misbehave(&ctx))
    }
}

impl summary::Guest for Bad {
    fn summarize(ctx: Context, _chat: Chat) -> Result<Option<String>, String> {
        Ok(Some(misbehave(&ctx)))
    }
}

export!(Bad);
