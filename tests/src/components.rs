//! WebAssembly components for the plugin tests: the purpose-built bad
//! plugins of `tests/plugins/` and the examples of `plugins/` (built by
//! `build.rs`), and components the tests make themselves.

pub mod wasm {
    macro_rules! component {
        ($name:ident, $file:literal) => {
            pub const $name: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/", $file));
        };
    }
    component!(LOOP_FOREVER, "loop_forever.wasm");
    component!(ALLOC_UNBOUNDED, "alloc_unbounded.wasm");
    component!(STACK_OVERFLOW, "stack_overflow.wasm");
    component!(TRAP, "trap.wasm");
    component!(HUGE_OUTPUT, "huge_output.wasm");
    component!(FOREIGN_AGENT, "foreign_agent.wasm");
    component!(LOG_FLOOD, "log_flood.wasm");
    component!(ECHO_CONTEXT, "echo_context.wasm");
    component!(PROBE_V2, "probe_v2.wasm");
    component!(EVENTS_V3, "events_v3.wasm");
    component!(SLEEP, "sleep.wasm");
    component!(MISTYPED_V1, "mistyped_v1.wasm");
    component!(MISTYPED_V2, "mistyped_v2.wasm");
    component!(MISTYPED_V3, "mistyped_v3.wasm");
    component!(ASSIGN_LEAST_LOADED, "assign_least_loaded.wasm");
    component!(SUBJECT_DEFAULT, "subject_default.wasm");
    component!(SUMMARY_LLM, "summary_llm.wasm");
}

/// Components made by the tests themselves.
pub mod make {
    use wasm_encoder::{CodeSection, Component, Function, FunctionSection, Module, ModuleSection, TypeSection};

    /// A valid component holding one core module with one function of about
    /// `body_bytes` bytes that pushes a third as many constants and then adds
    /// them up: every one is live at once, which takes Cranelift about a
    /// gigabyte and tens of seconds for a 7 MB function (300 MB, 4 s for
    /// 1.2 MB). It exports no hook, so even a compile that succeeds ends in
    /// a refusal.
    pub fn compile_heavy(body_bytes: usize) -> Vec<u8> {
        let values = (body_bytes / 3).max(2) as u32;
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut f = Function::new([]);
        let mut sink = f.instructions();
        for _ in 0..values {
            sink.i64_const(1);
        }
        for _ in 1..values {
            sink.i64_add();
        }
        sink.drop().end();
        let mut code = CodeSection::new();
        code.function(&f);
        let mut module = Module::new();
        module.section(&types).section(&functions).section(&code);
        let mut component = Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }

    /// `wasm` with a custom section appended that makes its bytes (and so
    /// its SHA-256) unique to `tag`, changing nothing it does.
    pub fn distinct(wasm: &[u8], tag: &str) -> Vec<u8> {
        let name = b"threadline-test";
        let mut payload = Vec::new();
        leb(&mut payload, name.len() as u64);
        payload.extend_from_slice(name);
        payload.extend_from_slice(tag.as_bytes());
        let mut out = wasm.to_vec();
        out.push(0); // custom section
        leb(&mut out, payload.len() as u64);
        out.extend_from_slice(&payload);
        out
    }

    fn leb(out: &mut Vec<u8>, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
}
