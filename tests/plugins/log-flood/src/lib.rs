//! Logs 10,000 long lines, then answers normally: the host keeps only its per-call cap.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    let long = "y".repeat(4096);
    for i in 0..10_000 {
        threadline_plugin_sdk::info(&long, &[("i", &i.to_string())]);
    }
    "Logged a lot".to_owned()
}
