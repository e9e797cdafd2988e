//! Sleeps three seconds (a WASI poll on a monotonic-clock pollable): the
//! host is waiting, not the plugin running, so only a deadline on the whole
//! call can stop it.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    std::thread::sleep(std::time::Duration::from_secs(3));
    "slept".to_owned()
}
