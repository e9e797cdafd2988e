//! template-assignment: a Threadline assignment plugin.

use threadline_plugin_sdk::describe::Describe;
use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error, assignment};

pub struct Plugin;

impl assignment::Hook for Plugin {
    /// The online agent with the fewest open tickets; the converting agent
    /// when nobody is online.
    fn assign(_ctx: &Context, _chat: &Chat, converting: &Agent, candidates: &[Candidate]) -> Result<String, Error> {
        let least_loaded = candidates.iter().filter(|c| c.online).min_by_key(|c| c.open_tickets);
        Ok(least_loaded.map_or_else(|| converting.id.clone(), |c| c.id.clone()))
    }
}

/// No settings: the plugin's name, version and hook are filled in.
impl Describe for Plugin {}

threadline_plugin_sdk::export_plugin!(Plugin, hooks: [assignment]);

#[cfg(test)]
mod tests {
    use super::*;
    use threadline_plugin_sdk::assignment::Hook;
    use threadline_plugin_sdk::testing::{agent, candidate, chat, context};

    #[test]
    fn picks_the_least_loaded_online_agent() {
        let candidates = [
            candidate("bob", "Bob", true, 7, &[]),
            candidate("cleo", "Cleo", true, 2, &[]),
            candidate("dev", "Dev", false, 0, &[]),
        ];
        let chat = chat("Ada", None, &[]);
        let chosen = Plugin::assign(&context(&[]), &chat, &agent("bob", "Bob"), &candidates).unwrap();
        assert_eq!(chosen, "cleo");
    }
}
