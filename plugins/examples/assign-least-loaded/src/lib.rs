//! Example: give the ticket to the online agent with the fewest open
//! tickets, preferring agents who have the skill named by the `skill`
//! setting. Ties go to the converting agent, then to the first listed.
//!
//! Settings (`PUT /api/v1/pipeline`): `skill` (optional), `include_offline`
//! (`true` to consider agents who are not online).

use threadline_plugin_sdk::types::{Agent, Candidate, ChatHeader, Context};
use threadline_plugin_sdk::{config, info};

struct LeastLoaded;

impl threadline_plugin_sdk::assignment::Hook for LeastLoaded {
    fn assign(
        ctx: Context,
        _chat: ChatHeader,
        converting: Agent,
        candidates: Vec<Candidate>,
    ) -> Result<String, String> {
        let include_offline = config(&ctx, "include_offline") == Some("true");
        let skill = config(&ctx, "skill");
        let pool: Vec<&Candidate> = candidates.iter().filter(|c| include_offline || c.online).collect();
        let skilled: Vec<&Candidate> = match skill {
            Some(s) => pool
                .iter()
                .copied()
                .filter(|c| c.skills.iter().any(|k| k == s))
                .collect(),
            None => Vec::new(),
        };
        let pool = if skilled.is_empty() { pool } else { skilled };
        let Some(chosen) = pool.iter().min_by_key(|c| (c.open_tickets, c.id != converting.id)) else {
            // Nobody qualifies: keep the default behaviour.
            return Ok(converting.id);
        };
        let open = chosen.open_tickets.to_string();
        info("least-loaded pick", &[("agent", &chosen.name), ("open_tickets", &open)]);
        Ok(chosen.id.clone())
    }
}

threadline_plugin_sdk::export_assignment_hook!(LeastLoaded);
