//! Builds the default plugins (`plugins/`) for wasm32-wasip2; `src/plugins/`
//! embeds them with `include_bytes!`.

#[path = "build/guests.rs"]
mod guests;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = root.join("plugins");
    // The default plugins compile the shared rules in: a change there
    // rebuilds them.
    let built = guests::build("plugins", &plugins, &[&root.join("wit"), &root.join("rules")]);
    for name in [
        "subject_default.wasm",
        "transcript_plain.wasm",
        "assign_converting_agent.wasm",
        "summary_extractive.wasm",
        "javascript.wasm",
    ] {
        assert!(built.iter().any(|b| b == name), "plugins/ did not build {name}");
    }
    println!("cargo:rerun-if-changed=build/guests.rs");
}
