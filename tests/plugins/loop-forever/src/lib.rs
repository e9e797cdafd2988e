//! Spins forever: the fuel budget or the epoch deadline must stop it.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
