//! Builds a workspace of WebAssembly guests (plugins) for `wasm32-wasip2` from
//! a build script, so that the normal `cargo build` of the server produces
//! the plugins it embeds: no manual step on a fresh machine.
//!
//! Shared by `core/build.rs` (the default plugins) and `tests/build.rs` (the
//! purpose-built bad plugins) through `#[path]`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// Builds `workspace` (a directory with a `Cargo.toml` workspace) in release
/// mode, in `<target>/guests/<name>`, and copies each `.wasm` it makes into
/// `OUT_DIR`. Returns their file names.
pub fn build(name: &str, workspace: &Path, also_watch: &[&Path]) -> Vec<String> {
    for dir in std::iter::once(&workspace).chain(also_watch) {
        // A directory is scanned for changes in any file below it.
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    ensure_target_installed();

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = guest_target_dir(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host, not for wasm: flags such as
    // `-C target-cpu=native` would break the guests, and clippy's wrapper
    // would lint them as part of the server.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins in {}: {e}", workspace.display()));
    assert!(
        status.success(),
        "building the plugins in {} for {TARGET} failed (see the errors above)",
        workspace.display()
    );

    let built = target_dir.join(TARGET).join("release");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&built).expect("the guest build made its output directory") {
        let path = entry.expect("readable output directory").path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&path, out_dir.join(&file)).expect("copy a plugin into OUT_DIR");
            names.push(file);
        }
    }
    names.sort();
    names
}

/// Beside the host's own target directory, so `cargo clean` cleans it and a
/// rebuild of the server does not rebuild unchanged plugins.
fn guest_target_dir(name: &str) -> PathBuf {
    let root = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
            let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
            out.ancestors()
                .nth(4)
                .expect("OUT_DIR sits four levels below the target directory")
                .to_path_buf()
        }
    };
    root.join("guests").join(name)
}

/// `rust-toolchain.toml` lists the target, but rustup does not install listed
/// targets on machines with `RUSTUP_AUTO_INSTALL=0`; install it here.
fn ensure_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir()) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build the plugins)");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`rustup target add {TARGET}` failed ({s}); install the target and build again"),
        Err(e) => panic!("the plugins need the {TARGET} target and rustup is not available to install it ({e})"),
    }
}
