//! `every_hook!(f)` makes a component whose four hooks all answer `f(&ctx)`:
//! each bad test plugin is then only its misbehaviour. The calling crate
//! must sit two folders below `tests/plugins/` and depend on wit-bindgen and
//! threadline-plugin-sdk.

#[macro_export]
macro_rules! every_hook {
    ($misbehave:path) => {
        wit_bindgen::generate!({
            path: "../../../wit/0.1.0",
            world: "threadline:plugin/plugin@0.1.0",
            with: {
                "threadline:plugin/types@0.1.0": threadline_plugin_sdk::types,
                "threadline:plugin/log@0.1.0": threadline_plugin_sdk::log,
            },
        });

        use threadline_plugin_sdk::types::{Agent, Candidate, Chat, ChatHeader, Context};

        struct Bad;

        impl exports::threadline::plugin::subject::Guest for Bad {
            fn default_subject(ctx: Context, _chat: ChatHeader) -> Result<String, String> {
                Ok($misbehave(&ctx))
            }
        }

        impl exports::threadline::plugin::transcript::Guest for Bad {
            fn format(ctx: Context, _chat: Chat) -> Result<String, String> {
                Ok($misbehave(&ctx))
            }
        }

        impl exports::threadline::plugin::assignment::Guest for Bad {
            fn assign(ctx: Context, _chat: ChatHeader, _agent: Agent, _candidates: Vec<Candidate>) -> Result<String, String> {
                Ok($misbehave(&ctx))
            }
        }

        impl exports::threadline::plugin::summary::Guest for Bad {
            fn summarize(ctx: Context, _chat: Chat) -> Result<Option<String>, String> {
                Ok(Some($misbehave(&ctx)))
            }
        }

        export!(Bad);
    };
}
