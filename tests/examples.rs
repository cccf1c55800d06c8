//! The embedding examples run as a user runs them: `watch_once`, built by `cargo build
//! --examples` (scripts/test.sh does it first), against the test environment's engine and
//! registry.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;

use drydock_testkit::engine::{TestContainer, TestImage, unique};

/// `target/<profile>/examples/<name>`, next to this test binary's `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built: scripts/test.sh (the README's test command) runs `cargo build --examples` first",
        path.display()
    );
    path
}

#[test]
fn watch_once_prints_one_cycle_of_the_engine() {
    let repo = unique("example");
    let images = TestImage::pushed(&repo, &["1.0.0", "1.1.0"]);
    let name = unique("watch-once");
    let _container = TestContainer::run(
        &name,
        &images[0].reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );
    let output = Command::new(example("watch_once"))
        // Only containers that ask to be watched: the shared engine has others.
        .env("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| {
            panic!(
                "no line for {name}:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(
        line.contains(":1.0.0") && line.ends_with("1.1.0 (minor)"),
        "{line}"
    );
    assert!(stdout.contains(" containers, "), "{stdout}");
}
