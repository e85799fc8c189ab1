//! Every dependency declared in a Cargo.toml is used: cargo-machete (installed by
//! tests/support/install-machete.sh into target/) finds none unused.

use std::process::Command;

use crate::harness::{repo, target_dir};

#[test]
fn no_unused_dependencies() {
    let root = target_dir().join("tools");
    let install = Command::new("bash")
        .arg(repo().join("tests/support/install-machete.sh"))
        .arg(&root)
        .output()
        .expect("cannot run tests/support/install-machete.sh");
    assert!(
        install.status.success(),
        "installing cargo-machete failed:\n{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let output = Command::new(root.join("bin/cargo-machete"))
        .arg(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "unused dependencies:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
