//! Panics, which aborts: a trap.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    panic!("this plugin always traps")
}
