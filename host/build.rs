//! Builds the guest for `wasm32-unknown-unknown` with its own target
//! directory, turns the core module into a component with `wit-component`,
//! and hands the component's path to the host as `MAPSYNC_GUEST_WASM`.
//!
//! Not `wasm32-wasip2`: its std imports WASI (stdio, clocks, random, exit,
//! environment) whether the code uses it or not, and a component that
//! imports only mapsync's own interfaces runs on any host (jco, wasmtime
//! without WASI) with nothing to stub.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for watched in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // Beside the workspace's own target dir, so every host profile shares it
    // and `cargo clean` clears it too.
    let target_dir = env::var_os("MAPSYNC_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target_dir(&root).join("guest"));

    // `mapsync --version` names the contract the component keeps.
    let wit =
        std::fs::read_to_string(root.join("wit/mapsync.wit")).expect("reading wit/mapsync.wit");
    let package = wit
        .lines()
        .find_map(|line| line.trim().strip_prefix("package ")?.strip_suffix(';'))
        .expect("wit/mapsync.wit names no package");
    println!("cargo:rustc-env=MAPSYNC_WIT_PACKAGE={package}");

    ensure_target_installed();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args([
            "build",
            "--package",
            "mapsync-guest",
            "--release",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    // The outer build's flags and wrappers are for the host, not the guest.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .expect("running cargo to build the guest component");
    assert!(
        status.success(),
        "building the guest component (mapsync-guest for {TARGET}) failed"
    );

    let module = target_dir
        .join(TARGET)
        .join("release")
        .join("mapsync_guest.wasm");
    assert!(
        module.exists(),
        "the guest build left no {}",
        module.display()
    );
    let component = target_dir.join("mapsync.wasm");
    componentize(&module, &component);
    println!("cargo:rustc-env=MAPSYNC_GUEST_WASM={}", component.display());
}

/// The core module carries its WIT world in a custom section (put there by
/// wit-bindgen); the encoder wraps the module in a component with exactly
/// the imports and exports that world names, and validates the result.
fn componentize(module: &Path, component: &Path) {
    let bytes = std::fs::read(module).expect("reading the guest's core module");
    let encoded = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .and_then(|mut encoder| encoder.encode())
        .unwrap_or_else(|e| panic!("turning {} into a component: {e:?}", module.display()));
    // Written aside and renamed, so a reader never sees half a component.
    let partial = component.with_extension("partial");
    std::fs::write(&partial, encoded).expect("writing the guest component");
    std::fs::rename(&partial, component).expect("writing the guest component");
}

fn workspace_target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// rustup does not add a target listed in `rust-toolchain.toml` to a
/// toolchain that is already installed, so a fresh machine would fail here
/// with a puzzling error. Add it when rustup is in charge and it is missing.
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return;
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    match add.status() {
        Ok(s) if s.success() => {}
        _ => println!(
            "cargo:warning=the {TARGET} target is missing and `rustup target add {TARGET}` failed; \
             run `rustup toolchain install` in the project folder"
        ),
    }
}
