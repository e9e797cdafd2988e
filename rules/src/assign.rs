//! Who a new ticket goes to: the converting agent, or the one a strategy
//! picks (least loaded, round robin, by skill).

use crate::settings::{BadSetting, bad, boolean};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The agent who converts.
    #[default]
    ConvertingAgent,
    /// The candidate with the fewest open tickets.
    LeastLoaded,
    /// The candidate given a ticket longest ago (never, first).
    RoundRobin,
    /// A candidate with a skill named in the chat (its subject or the
    /// visitor's messages), the least loaded of them.
    Skills,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssignOptions {
    pub strategy: Strategy,
    /// Consider agents who are not online (by default only online ones).
    pub include_offline: bool,
}

impl AssignOptions {
    pub fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, BadSetting> {
        let mut o = Self::default();
        for (k, v) in config {
            match (k, v.trim()) {
                ("strategy", "converting_agent") => o.strategy = Strategy::ConvertingAgent,
                ("strategy", "least_loaded") => o.strategy = Strategy::LeastLoaded,
                ("strategy", "round_robin") => o.strategy = Strategy::RoundRobin,
                ("strategy", "skills") => o.strategy = Strategy::Skills,
                ("strategy", _) => {
                    return Err(bad(k, "takes converting_agent, least_loaded, round_robin or skills"));
                }
                ("include_offline", v) => o.include_offline = boolean(k, v)?,
                _ => {
                    return Err(bad(
                        k,
                        "is not a setting of the assignment rule (it has: strategy, include_offline)",
                    ));
                }
            }
        }
        Ok(o)
    }

    /// Whether the strategy looks at anyone but the converting agent.
    pub fn reads_candidates(&self) -> bool {
        self.strategy != Strategy::ConvertingAgent
    }
}

/// A candidate as the assignment rule reads one.
pub trait Candidate {
    fn id(&self) -> &str;
    fn online(&self) -> bool;
    fn open_tickets(&self) -> u32;
    fn skills(&self) -> &[String];
    fn last_assigned_ms(&self) -> Option<i64>;
}

/// The id of the candidate the strategy picks; the converting agent when
/// nobody qualifies (nobody online, no skill named in the chat). `chat_text`
/// is asked for only by the skills strategy.
pub fn assign<C: Candidate>(
    options: &AssignOptions,
    converting_agent: &str,
    candidates: &[C],
    chat_text: impl FnOnce() -> String,
) -> String {
    let pool: Vec<&C> = candidates
        .iter()
        .filter(|c| options.include_offline || c.online())
        .collect();
    // Ties go to the converting agent, then to the first listed.
    let me = |c: &&C| c.id() != converting_agent;
    let chosen = match options.strategy {
        Strategy::ConvertingAgent => None,
        Strategy::LeastLoaded => pool.iter().min_by_key(|c| (c.open_tickets(), me(c))),
        Strategy::RoundRobin => pool
            .iter()
            .min_by_key(|c| (c.last_assigned_ms().unwrap_or(i64::MIN), me(c))),
        Strategy::Skills => {
            let words: Vec<String> = chat_text()
                .split(|ch: char| !ch.is_alphanumeric() && ch != '-' && ch != '_')
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            pool.iter()
                .filter(|c| c.skills().iter().any(|s| words.contains(&s.to_lowercase())))
                .min_by_key(|c| (c.open_tickets(), me(c)))
        }
    };
    chosen.map_or_else(|| converting_agent.to_owned(), |c| c.id().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S(&'static str, bool, u32, Vec<String>, Option<i64>);

    impl Candidate for S {
        fn id(&self) -> &str {
            self.0
        }
        fn online(&self) -> bool {
            self.1
        }
        fn open_tickets(&self) -> u32 {
            self.2
        }
        fn skills(&self) -> &[String] {
            &self.3
        }
        fn last_assigned_ms(&self) -> Option<i64> {
            self.4
        }
    }

    #[test]
    fn each_strategy_picks_its_agent_and_falls_back_to_the_converting_one() {
        let team = [
            S("bob", true, 7, vec![], Some(300)),
            S("cleo", true, 2, vec![], Some(100)),
            S("dev", false, 0, vec![], None),
            S("eve", true, 2, vec![], Some(200)),
        ];
        let pick = |strategy, offline| {
            let o = AssignOptions {
                strategy,
                include_offline: offline,
            };
            assign(&o, "bob", &team, String::new)
        };
        assert_eq!(pick(Strategy::ConvertingAgent, false), "bob");
        assert_eq!(pick(Strategy::LeastLoaded, false), "cleo", "fewest open, first listed");
        assert_eq!(pick(Strategy::LeastLoaded, true), "dev");
        assert_eq!(pick(Strategy::RoundRobin, false), "cleo", "assigned longest ago");
        assert_eq!(pick(Strategy::RoundRobin, true), "dev", "never assigned goes first");
        assert_eq!(
            pick(Strategy::Skills, false),
            "bob",
            "no skill named: the converting agent"
        );

        let skilled = [
            S("bob", true, 1, vec![], None),
            S("cleo", true, 5, vec!["billing".into()], None),
            S("eve", true, 3, vec!["Billing".into(), "refunds".into()], None),
        ];
        let o = AssignOptions::from_config([("strategy", "skills")]).unwrap();
        assert_eq!(assign(&o, "bob", &skilled, || "A billing question".into()), "eve");
        assert_eq!(assign(&o, "bob", &skilled, || "Where is my parcel?".into()), "bob");
        assert!(AssignOptions::from_config([("strategy", "random")]).is_err());
    }
}
