//! Answers the agent id its settings name (in the tests, an agent of another workspace).

every_hook::every_hook!(misbehave);

fn misbehave(ctx: &threadline_plugin_sdk::Context) -> String {
    threadline_plugin_sdk::config(ctx, "agent_id")
        .unwrap_or("nobody")
        .to_owned()
}
