//! Allocates 1 MiB after 1 MiB and keeps them all: the memory cap must stop it.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}
