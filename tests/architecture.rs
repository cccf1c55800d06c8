//! The workspace's architecture rules, checked: which crate may depend on which (from `cargo
//! metadata`), a core with no runtime, HTTP or database in its tree, and files cut along their
//! seams (no production file over 800 lines, no two files of a crate importing each other).
//! `docs/ARCHITECTURE.md` names these as checked here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What each workspace package is. A new package must be placed here, or the test fails.
const ROLES: &[(&str, Role)] = &[
    ("drydock-core", Role::Core),
    ("drydock-testkit", Role::Testkit),
    ("drydock-docker", Role::Adapter),
    ("drydock-registry", Role::Adapter),
    ("drydock-store-sled", Role::Adapter),
    ("drydock-triggers", Role::Adapter),
    ("drydock-watch", Role::Service),
    ("drydock-actions", Role::Service),
    ("drydock-notify", Role::Service),
    ("drydock-accounts", Role::Service),
    ("drydock-metrics", Role::Service),
    ("drydock", Role::App),
    ("drydock-bench", Role::App),
    ("drydock-tests", Role::Suites),
    ("drydock-examples", Role::Suites),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The domain and the ports.
    Core,
    /// In-memory adapters and contract suites: tests only.
    Testkit,
    /// Implements ports against one real component.
    Adapter,
    /// A use case over the ports.
    Service,
    /// Configures and wires (the binary), or measures it from outside (the bench).
    App,
    /// Cross-crate test suites and embedding examples.
    Suites,
}

/// Crates the core must not pull in, even transitively, with every feature on.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "bollard",
    "oci-client",
    "reqwest",
    "hyper",
    "actix-web",
    "actix-rt",
    "axum",
    "sled",
    "rusqlite",
    "sqlx",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (package, dependency, kind) for every dependency of a workspace package on another one; kind
/// is `normal`, `dev` or `build`.
fn internal_dependencies() -> Vec<(String, String, String)> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let names: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in &names {
        assert!(
            ROLES.iter().any(|(n, _)| n == name),
            "package {name} has no role in tests/architecture.rs: say what it is"
        );
    }
    let mut out = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            let target = dependency["name"].as_str().unwrap();
            if names.contains(target) {
                let kind = dependency["kind"].as_str().unwrap_or("normal").to_owned();
                out.push((name.to_owned(), target.to_owned(), kind));
            }
        }
    }
    out
}

fn role(name: &str) -> Role {
    ROLES.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Every broken dependency rule, as a sentence.
fn broken_dependency_rules(dependencies: &[(String, String, String)]) -> Vec<String> {
    let mut broken = Vec::new();
    for (from, to, kind) in dependencies {
        let (from_role, to_role) = (role(from), role(to));
        if kind != "dev" && to_role == Role::Testkit {
            broken.push(format!(
                "{from} has a {kind} dependency on the testkit: fakes in production"
            ));
        }
        if kind == "dev" {
            // Cross-crate suites live in tests/: a library crate's own tests use the core and
            // the testkit only.
            if matches!(from_role, Role::Adapter | Role::Service | Role::Core)
                && !matches!(to_role, Role::Core | Role::Testkit)
            {
                broken.push(format!(
                    "{from}'s tests depend on {to}: a suite that crosses crates belongs in tests/"
                ));
            }
            continue;
        }
        match from_role {
            Role::Core => broken.push(format!("the core depends on {to}")),
            Role::Adapter | Role::Service if to_role != Role::Core => broken.push(format!(
                "{from} ({}) depends on {to}: adapters and services depend on the core only",
                if from_role == Role::Adapter {
                    "an adapter"
                } else {
                    "a service"
                }
            )),
            Role::Testkit if to_role != Role::Core => {
                broken.push(format!("the testkit depends on {to}"));
            }
            _ => {}
        }
    }
    broken
}

#[test]
fn crates_depend_on_each_other_only_as_the_layers_allow() {
    let broken = broken_dependency_rules(&internal_dependencies());
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_rules_catch_what_they_forbid() {
    let dep = |from: &str, to: &str, kind: &str| (from.to_owned(), to.to_owned(), kind.to_owned());
    for wrong in [
        dep("drydock", "drydock-testkit", "normal"),
        dep("drydock-docker", "drydock-registry", "normal"),
        dep("drydock-watch", "drydock-docker", "normal"),
        dep("drydock-notify", "drydock-watch", "normal"),
        dep("drydock-core", "drydock-watch", "normal"),
        dep("drydock-actions", "drydock-docker", "dev"),
    ] {
        assert_eq!(
            broken_dependency_rules(std::slice::from_ref(&wrong)).len(),
            1,
            "{wrong:?}"
        );
    }
    for right in [
        dep("drydock", "drydock-watch", "normal"),
        dep("drydock-watch", "drydock-core", "normal"),
        dep("drydock-watch", "drydock-testkit", "dev"),
        dep("drydock-tests", "drydock-docker", "dev"),
    ] {
        assert!(broken_dependency_rules(&[right]).is_empty());
    }
}

#[test]
fn the_core_depends_on_no_runtime_io_or_framework_crate() {
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
        .current_dir(workspace_root())
        .output()
        .expect("running cargo tree");
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
    assert!(crates.contains(&"drydock-core"), "{tree}");
    let found: Vec<&&str> = FORBIDDEN_IN_CORE
        .iter()
        .filter(|f| crates.contains(f))
        .collect();
    assert!(
        found.is_empty(),
        "drydock-core depends on {found:?}:\n{tree}"
    );
}

/// The production part of a source file: what comes before its test module (a `#[cfg(test)]`
/// item other than a `mod tests;` declaration). A file that is a test module (`tests.rs`) has
/// none.
fn production(path: &Path, text: &str) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("#[cfg(test)]") {
            match lines.peek() {
                Some(next) if next.starts_with("mod ") && next.trim_end().ends_with(';') => {
                    lines.next();
                    continue;
                }
                _ => break,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every `src` directory of the workspace's crates and apps.
fn source_roots() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut roots = Vec::new();
    for group in ["crates", "apps"] {
        for entry in std::fs::read_dir(root.join(group)).unwrap() {
            let src = entry.unwrap().path().join("src");
            if src.is_dir() {
                roots.push(src);
            }
        }
    }
    roots.sort();
    roots
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_production_file_is_over_800_lines() {
    let mut long = Vec::new();
    for src in source_roots() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = production(&file, &text).lines().count();
            if lines > 800 {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split along its seams:\n{}",
        long.join("\n")
    );
}

/// The module path of a source file under `src` (`a/b.rs` and `a/b/mod.rs` are `["a", "b"]`;
/// `lib.rs` and `main.rs` are the root).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !["mod", "lib", "main"].contains(&stem) {
        parts.push(stem.to_owned());
    }
    parts
}

/// The modules `text` (the production code of module `here`) refers to through `crate::`,
/// `super::` or `self::` paths, comments (doc links) left out.
fn referenced(here: &[String], text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.contains("::"))
        .collect();
    for word in words {
        let segments: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
        let Some((&first, rest)) = segments.split_first() else {
            continue;
        };
        // A file `a/b.rs` and a file `a/b/mod.rs` are both module a::b: `super` is a.
        let (mut base, rest): (Vec<String>, &[&str]) = match first {
            "crate" => (Vec::new(), rest),
            "self" => (here.to_vec(), rest),
            "super" => {
                let mut parent = here.to_vec();
                parent.pop();
                (parent, rest)
            }
            // A path through a child module, written without `self::`.
            _ => (here.to_vec(), &segments[..]),
        };
        let mut rest = rest.iter().peekable();
        while rest.peek() == Some(&&"super") {
            base.pop();
            rest.next();
        }
        for segment in rest {
            base.push((*segment).to_owned());
            out.push(base.clone());
        }
    }
    out
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let mut cycles = Vec::new();
    for src in source_roots() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .map(|f| (module_of(&src, f), f.clone()))
            .collect();
        let mut edges: BTreeSet<(Vec<String>, Vec<String>)> = BTreeSet::new();
        for (module, file) in &modules {
            let text = production(file, &std::fs::read_to_string(file).unwrap());
            for target in referenced(module, &text) {
                if &target != module && modules.contains_key(&target) {
                    edges.insert((module.clone(), target));
                }
            }
        }
        for (a, b) in &edges {
            if a < b && edges.contains(&(b.clone(), a.clone())) {
                cycles.push(format!(
                    "{} and {} import each other",
                    modules[a].display(),
                    modules[b].display()
                ));
            }
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

#[test]
fn every_port_method_says_which_errors_it_returns() {
    let ports = workspace_root().join("crates/drydock-core/src/ports");
    let mut silent = Vec::new();
    let mut methods = 0;
    for entry in std::fs::read_dir(&ports).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut in_trait = false;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("pub trait ") {
                in_trait = true;
            } else if in_trait && *line == "}" {
                in_trait = false;
            }
            let signature = line.trim_start_matches("    ");
            let is_method = in_trait
                && line.starts_with("    ")
                && !line.starts_with("     ")
                && (signature.starts_with("fn ") || signature.starts_with("async fn "));
            if !is_method {
                continue;
            }
            methods += 1;
            let doc: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("///"))
                .copied()
                .collect();
            if !doc.iter().any(|l| l.contains("Errors:")) {
                silent.push(format!("{}: {}", path.display(), signature));
            }
        }
    }
    assert!(methods > 40, "found only {methods} port methods");
    assert!(
        silent.is_empty(),
        "port methods that do not say which errors they return:\n{}",
        silent.join("\n")
    );
}
