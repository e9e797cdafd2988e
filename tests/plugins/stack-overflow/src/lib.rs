//! Recurses without end: the stack limit must stop it.

every_hook::every_hook!(misbehave);

fn misbehave(_ctx: &threadline_plugin_sdk::Context) -> String {
    #[allow(unconditional_recursion)]
    fn deep(n: u64) -> u64 {
        let frame = std::hint::black_box([n; 32]);
        deep(frame[0] + 1) + frame[31]
    }
    deep(std::hint::black_box(0)).to_string()
}
