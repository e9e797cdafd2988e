//! `every_hook!(f)` makes a component (contract 0.2.0, through the SDK)
//! whose four original hooks all answer `f(ctx)`: each bad test plugin is
//! then only its misbehaviour. The calling crate depends on
//! threadline-plugin-sdk.

#[macro_export]
macro_rules! every_hook {
    ($misbehave:path) => {
        use threadline_plugin_sdk::{Agent, Candidate, Chat, Context, Error};

        pub struct Bad;

        impl threadline_plugin_sdk::subject::Hook for Bad {
            fn default_subject(ctx: &Context, _chat: &Chat) -> Result<String, Error> {
                Ok($misbehave(ctx))
            }
        }

        impl threadline_plugin_sdk::transcript::Hook for Bad {
            fn format(ctx: &Context, _chat: &Chat) -> Result<String, Error> {
                Ok($misbehave(ctx))
            }
        }

        impl threadline_plugin_sdk::assignment::Hook for Bad {
            fn assign(ctx: &Context, _chat: &Chat, _agent: &Agent, _candidates: &[Candidate]) -> Result<String, Error> {
                Ok($misbehave(ctx))
            }
        }

        impl threadline_plugin_sdk::summary::Hook for Bad {
            fn summarize(ctx: &Context, _chat: &Chat) -> Result<Option<String>, Error> {
                Ok(Some($misbehave(ctx)))
            }
        }

        threadline_plugin_sdk::export_subject_hook!(Bad);
        threadline_plugin_sdk::export_transcript_hook!(Bad);
        threadline_plugin_sdk::export_assignment_hook!(Bad);
        threadline_plugin_sdk::export_summary_hook!(Bad);
    };
}
