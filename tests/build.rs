//! Builds the purpose-built bad plugins (`tests/plugins/`) and the example
//! plugins for the tests, which embed them with `include_bytes!`.

#[path = "../core/build/guests.rs"]
mod guests;

fn main() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..");
    guests::build(
        "test-plugins",
        &here.join("plugins"),
        &[&root.join("wit"), &root.join("plugins/sdk"), &root.join("rules")],
    );
    guests::build(
        "plugins",
        &root.join("plugins"),
        &[&root.join("wit"), &root.join("rules")],
    );
    println!("cargo:rerun-if-changed=../core/build/guests.rs");
}
