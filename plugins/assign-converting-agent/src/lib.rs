//! The default assignment hook: the agent who converts gets the ticket; or,
//! by its settings, the least-loaded agent, round robin, or an agent with a
//! skill the chat names, each falling back to the converting agent.

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::rules::{self, AssignOptions};
use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error, assignment};

pub struct AssignConvertingAgent;

impl assignment::Hook for AssignConvertingAgent {
    fn assign(ctx: &Context, chat: &Chat, converting_agent: &Agent, candidates: &[Candidate]) -> Result<String, Error> {
        let options = AssignOptions::from_config(rules::settings(ctx))?;
        Ok(rules::assign(chat, converting_agent, candidates, &options))
    }
}

impl Describe for AssignConvertingAgent {
    fn describe() -> Info {
        describe::settings(vec![
            describe::choice(
                "strategy",
                &["converting_agent", "least_loaded", "round_robin", "skills"],
                Some("converting_agent"),
                "Who gets the ticket: the converting agent; the online agent with the fewest open tickets; the \
                 online agent given a ticket longest ago; or the least loaded online agent with a skill the chat's \
                 subject or the visitor's messages name. Nobody fits: the converting agent.",
            ),
            describe::boolean("include_offline", Some(false), "Consider agents who are not online."),
        ])
    }
}

threadline_plugin_sdk::export_plugin!(AssignConvertingAgent, hooks: [assignment]);
