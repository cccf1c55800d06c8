//! The harness cannot rot: its smallest configuration (10 containers, no added latency) runs in
//! the test suite against the debug `drydock` that the suite builds anyway. Timings are only
//! printed; the request counts are behaviour, and are checked against the budget.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_smallest_configuration_runs_and_stays_within_the_request_budget() {
    let bench = Path::new(env!("CARGO_BIN_EXE_drydock-bench"));
    // `cargo test --workspace` builds the server next to the harness (its own tests need it).
    let drydock = bench.with_file_name("drydock");
    assert!(
        drydock.is_file(),
        "{} is missing: run `cargo test --workspace`",
        drydock.display()
    );
    // `cargo test -p drydock-bench` alone would not rebuild it: refuse a binary older than the
    // sources it is built from.
    let built = drydock.metadata().unwrap().modified().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let newer = newest_source(&workspace.join("apps/drydock/src"))
        .into_iter()
        .chain(newest_source(&workspace.join("crates")))
        .find(|(at, _)| *at > built);
    assert!(
        newer.is_none(),
        "{} is older than {:?}: run `cargo test --workspace`",
        drydock.display(),
        newer.map(|(_, path)| path)
    );
    let run = format!("smoke{}", std::process::id());
    let json = std::env::temp_dir().join(format!("drydock-bench-{run}.json"));
    let output = Command::new(bench)
        .args(["--containers", "10", "--delays", "0", "--proxy-port", "0"])
        .args(["--steady-cycles", "2", "--load-seconds", "1", "--run", &run])
        .arg("--drydock")
        .arg(&drydock)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "drydock-bench failed:\n{stderr}");
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    let row = &report["rows"][0];
    assert_eq!(row["containers"], 10);
    let repositories = row["repositories"].as_u64().unwrap();
    assert_eq!(repositories, 2);
    let first = &row["first_cycle"]["requests"];
    assert!(
        first["tags_list"].as_u64().unwrap() >= repositories,
        "{first}"
    );
    assert!(first["token"].as_u64().unwrap() <= repositories, "{first}");
    let steady = row["steady_cycles"].as_array().unwrap();
    assert_eq!(steady.len(), 2, "both steady cycles were measured: {row}");
    for cycle in steady {
        let requests = &cycle["requests"];
        let at_most = |kind: &str| requests[kind].as_u64().unwrap() <= repositories;
        assert!(
            at_most("tags_list"),
            "one tag list per repository: {requests}"
        );
        assert!(
            at_most("manifest_head"),
            "one HEAD per (repository, tag): {requests}"
        );
        assert!(at_most("token"), "at most one token per scope: {requests}");
        assert_eq!(requests["manifest_get"], 0, "{requests}");
        assert_eq!(requests["blob_get"], 0, "{requests}");
    }
    assert!(row["idle_rss_kb"].as_u64().unwrap() > 0);
    assert_eq!(row["load"].as_array().unwrap().len(), 2);
}

/// The newest `.rs` file under `dir` that the server is built from (skipping `target`, tests and
/// the testkit), with its modification time.
fn newest_source(dir: &Path) -> Option<(std::time::SystemTime, std::path::PathBuf)> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !["target", "tests", "drydock-testkit"]
                    .contains(&name.to_str().unwrap_or_default())
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(at) = entry.metadata().and_then(|m| m.modified())
                && newest.as_ref().is_none_or(|(n, _)| at > *n)
            {
                newest = Some((at, path));
            }
        }
    }
    newest
}
