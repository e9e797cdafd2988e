//! Builds the default plugins (`plugins/`) for wasm32-wasip2, and writes
//! `builtin.rs`, the table `src/plugins/builtin.rs` embeds them with: the
//! list of built-in plugins is kept here, once.

#[path = "build/guests.rs"]
mod guests;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = root.join("plugins");
    // The default plugins compile the shared rules in: a change there
    // rebuilds them.
    let built = guests::build("plugins", &plugins, &[&root.join("wit"), &root.join("rules")]);
    // Each hook's default, then the JavaScript runtime (last: it is the
    // slowest to load with a cold cache, and the defaults should be ready
    // first).
    let builtin = [
        "subject-default",
        "transcript-plain",
        "assign-converting-agent",
        "summary-extractive",
        "javascript",
    ];
    let mut table = format!("pub const BUILTIN: [(&str, &[u8]); {}] = [\n", builtin.len());
    for name in builtin {
        let file = format!("{}.wasm", name.replace('-', "_"));
        assert!(built.contains(&file), "plugins/ did not build {file}");
        table.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\"))),\n"
        ));
    }
    table.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("builtin.rs"), table).expect("write builtin.rs");
    println!("cargo:rerun-if-changed=build/guests.rs");
}
