//! Example: give the ticket to the online agent with the fewest open
//! tickets, preferring agents who have the skill named by the `skill`
//! setting. Ties go to the converting agent, then to the first listed.
//!
//! Settings (`PUT /api/v1/pipeline`): `skill` (optional), `include_offline`
//! (`true` to consider agents who are not online).

use threadline_plugin_sdk::describe::{self, Describe, Info};
use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error, assignment, config, info, setting};

pub struct LeastLoaded;

impl assignment::Hook for LeastLoaded {
    fn assign(ctx: &Context, _chat: &Chat, converting: &Agent, candidates: &[Candidate]) -> Result<String, Error> {
        let include_offline = setting::<bool>(ctx, "include_offline")?.unwrap_or(false);
        let skill = config(ctx, "skill");
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
            return Ok(converting.id.clone());
        };
        let open = chosen.open_tickets.to_string();
        info("least-loaded pick", &[("agent", &chosen.name), ("open_tickets", &open)]);
        Ok(chosen.id.clone())
    }
}

impl Describe for LeastLoaded {
    fn describe() -> Info {
        describe::settings(vec![
            describe::text("skill", None, "Prefer agents with this skill."),
            describe::boolean("include_offline", Some(false), "Consider agents who are not online."),
        ])
    }
}

threadline_plugin_sdk::export_plugin!(LeastLoaded, hooks: [assignment]);
