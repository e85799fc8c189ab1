//! Man pages in `man/` are generated from the clap definitions; this fails when one is stale.
//! Regenerate with: `PF_BLESS=1 cargo test --test integration man_pages`

use crate::harness::{bin, repo};

/// Every tool with a man page.
const TOOLS: &[&str] = &[
    "pf-get",
    "pf-describe",
    "pf-run",
    "pf-auth",
    "pf-state",
    "pf-api",
    "pf-limit",
    "pf-var",
    "pf-secret",
    "pf-logs",
];

#[test]
fn man_pages_are_fresh() {
    let bless = std::env::var_os("PF_BLESS").is_some();
    let mut stale = Vec::new();
    for tool in TOOLS {
        let output = std::process::Command::new(bin(tool))
            .args(["--generate", "man"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{tool} --generate man failed");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains(".TH"),
            "{tool}: not roff"
        );
        let path = repo().join("man").join(format!("{tool}.1"));
        let current = std::fs::read(&path).unwrap_or_default();
        if current != output.stdout {
            if bless {
                std::fs::write(&path, &output.stdout).unwrap();
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages (run PF_BLESS=1 cargo test --test integration man_pages): {stale:?}"
    );
}

#[test]
fn completions_generate() {
    for shell in ["complete-bash", "complete-zsh", "complete-fish"] {
        let output = std::process::Command::new(bin("pf-get"))
            .args(["--generate", shell])
            .output()
            .unwrap();
        assert!(
            output.status.success() && !output.stdout.is_empty(),
            "pf-get --generate {shell}"
        );
    }
}
