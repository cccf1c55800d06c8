//! Architecture invariant: the core pulls in no runtime, engine client, registry client, web
//! framework or database, with every feature on. Embedders rely on it.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "bollard",
    "oci-client",
    "actix-web",
    "actix-rt",
    "sled",
    "reqwest",
    "hyper",
    "async-std",
    "smol",
];

#[test]
fn core_depends_on_no_runtime_io_or_framework_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--package",
            "drydock-core",
            "--edges",
            "normal",
            "--all-features",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("running cargo tree: {e}"));
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"drydock-core"),
        "cargo tree listed the core: {tree}"
    );
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| crates.contains(f)).collect();
    assert!(
        found.is_empty(),
        "drydock-core depends on {found:?}:\n{tree}"
    );
}
