//! Answers 10 MB: the output caps must refuse it.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    "x".repeat(10 * 1024 * 1024)
}
