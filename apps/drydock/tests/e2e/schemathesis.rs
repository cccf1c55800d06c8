//! API fuzzing with schemathesis (PyPI, installed by `scripts/test-env.sh`): thousands of requests
//! generated from drydock's own `/api/openapi.json` against a running drydock watching real
//! containers of real registry images, with authentication configured and credentials sent, so
//! the protected routes are really exercised. Every response must be a non-5xx that conforms to
//! the document (status code, content type, headers, body schema), and drydock must not panic.
//!
//! What the run leaves out, and why:
//! - `GET /api/events` is an endless event stream: a client waiting for its end waits forever.
//!   `api::server_sent_events_announce_watches` covers it.
//! - `POST /api/containers/watch` takes no input (there is nothing to generate), and lasts a watch
//!   of every container of the shared engine, other tests' too. `api::the_container_api_end_to_end`
//!   covers it; `POST /api/containers/{id}/watch` is fuzzed.
//! - The `ignored_auth` check: it sends wrong passwords on purpose, and after ten from one
//!   address drydock answers 429 (the brute-force lockout) where the check insists on 401 or 403.
//!   `security::every_protected_route_refuses_requests_without_credentials` covers every route.
//! - The stateful phase: it follows ids it reads in answers, and `GET /api/containers` lists
//!   every watched container of the shared engine, other tests' too: it would stop, restart and
//!   update those. The other phases fuzz every operation with the fixture's ids.
//! - The Docker action is configured with `DRYRUN=true`: update, preview, rollback and backups are
//!   fuzzed through their real paths (pulls, journal, backups), but no container is recreated,
//!   so the fixture's ids stay valid for the whole run.

use std::process::{Command, Stdio};
use std::time::Instant;

use drydock_testkit::engine::{TestContainer, TestImage, docker, unique};

use crate::security::{Sink, known, tail};
use crate::server::{Server, client, hash_password};

/// Containers stop at once on SIGTERM (a shell as PID 1 ignores it, and every stop would wait
/// for the engine's 10 s kill): stop and restart are fuzzed too.
const QUICK_STOP: &str = "trap 'exit 0' TERM; echo ready; while true; do sleep 1; done";

/// Removes every tag of the fixture's repositories on drop, the `dd-backup-*` tags the dry-run
/// updates leave included.
struct Tags(String);

impl Drop for Tags {
    fn drop(&mut self) {
        let repository = format!("127.0.0.1:5000/drydock-test/{}:", self.0);
        if let Ok(list) = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]) {
            for reference in list.lines().filter(|l| l.starts_with(&repository)) {
                let _ = docker(&["rmi", "-f", reference]);
            }
        }
    }
}

/// `N generated` from schemathesis's summary: the number of test cases (requests) it sent.
fn generated(output: &str) -> Option<u64> {
    output.lines().rev().find_map(|line| {
        let (count, _) = line.trim().split_once(" generated")?;
        count.trim().parse().ok()
    })
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_mismatch() {
    let prefix = unique("fuzz");
    let _tags = Tags(prefix.clone());
    let images = TestImage::pushed(&prefix, &["1.0.0", "1.1.0", "2.0.0", "latest"]);
    let watch = ("dd.watch", "true");
    let name = |s: &str| format!("{prefix}-{s}");
    let sink = Sink::start().await;
    let password = unique("fuzz-password");
    let hash = hash_password(&password);
    let server = Server::start(&[
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        // Stopped containers stay watched: a fuzzed `stop` must not make the container unknown
        // (and so impossible to `start`) for the rest of the run.
        ("DD_WATCHER_LOCAL_WATCHALL", "true"),
        ("DD_AUTH_BASIC_FUZZ_USER", "fuzz"),
        ("DD_AUTH_BASIC_FUZZ_HASH", &hash),
        ("DD_NOTIFICATION_HTTP_SINK_URL", &sink.url),
        ("DD_ACTION_DOCKER_FUZZ_DRYRUN", "true"),
        ("DD_ACTION_DOCKER_FUZZ_AUTO", "false"),
    ]);
    // A tag update, an up-to-date container (its updateKind values are `null`) and a
    // digest-watched one, found by drydock through the engine's events; and one for `DELETE`
    // alone, which makes drydock forget a container until its next watch.
    let containers = [
        TestContainer::run(&name("update"), &images[0].reference, &[watch], QUICK_STOP),
        TestContainer::run(&name("current"), &images[2].reference, &[watch], QUICK_STOP),
        TestContainer::run(&name("digest"), &images[3].reference, &[watch], QUICK_STOP),
    ];
    let victim = TestContainer::run(&name("delete"), &images[1].reference, &[watch], QUICK_STOP);
    for container in containers.iter().chain([&victim]) {
        known(&server, &container.id, Some(("fuzz", &password))).await;
    }
    let http = client();

    // Path parameters: mostly the fixture's real ids and the configured trigger, sometimes
    // whatever schemathesis makes up (a 404 is part of the contract too).
    let ids: Vec<String> = containers.iter().map(|c| format!("\"{}\"", c.id)).collect();
    let dir = std::env::temp_dir().join(unique("schemathesis"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"
request-timeout = 60.0

[generation]
database = "none"
# drydock ignores query parameters it does not know, as HTTP APIs do; an unknown one is not a
# request to refuse.
allow-extra-parameters = false

# Every check schemathesis has (here rather than `--checks all` on the command line, which would
# override the per-operation settings below), but `ignored_auth` (see above).
[checks]
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
negative_data_rejection.enabled = true
positive_data_acceptance.enabled = true
missing_required_header.enabled = true
unsupported_method.enabled = true
allow_header_conformance.enabled = true
use_after_free.enabled = true
ensure_resource_availability.enabled = true
object_level_authorization.enabled = true
ignored_auth.enabled = false
# A generous bound: a hung request fails the run; a slow machine does not.
max_response_time = 60.0

# Only the fixture's ids, never ids read from answers: `GET /api/containers` lists every watched
# container of the shared engine, other tests' too, and this run stops, restarts and updates.
[phases.examples.extra-data-sources]
responses = false
[phases.coverage.extra-data-sources]
responses = false
[phases.fuzzing.extra-data-sources]
responses = false

[dictionaries.ids]
values = [{ids}]

[dictionaries.kinds]
values = ["http"]

[dictionaries.names]
values = ["sink"]

[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.8 }}
"path.type" = {{ dictionary = "kinds", probability = 0.8 }}
"path.name" = {{ dictionary = "names", probability = 0.8 }}

# Schema-valid requests these routes refuse, as documented, for the state they find: no update
# to apply or preview, a snooze date already past, no scanner configured.
[[operations]]
include-path-regex = "/(update|update-policy|preview|scan|sbom)$"
checks.positive_data_acceptance.expected-statuses = ["2XX", "400", "401", "403", "404", "409", "429"]

[dictionaries.victims]
values = ["{victim}"]

[[operations]]
include-method = "DELETE"
parameters."path.id" = {{ dictionary = "victims", probability = 0.8 }}

# A test notification takes any container-shaped body: drydock fills in what is missing and
# ignores what it does not know, as every reader of the Container API does.
[[operations]]
include-path = "/api/triggers/{{type}}/{{name}}"
checks.negative_data_rejection.enabled = false
"#,
            ids = ids.join(", "),
            victim = victim.id
        ),
    )
    .unwrap();

    let seed = std::env::var("DRYDOCK_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20241127".to_owned());
    let started = Instant::now();
    // The CLI's entry point through `python3`, which finds it wherever pip put the scripts.
    let mut command = Command::new("python3");
    command
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())",
        ])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .args(["--config-file"])
        .arg(&config)
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--exclude-path", "/api/events"])
        .args(["--exclude-path", "/api/containers/watch"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--auth", &format!("fuzz:{password}")])
        .args(["--max-examples", "75", "--seed", &seed, "--workers", "1"])
        .stdin(Stdio::null());
    // On a blocking thread: the receiver of the test's notifications runs on this test's runtime,
    // which must keep answering while schemathesis runs.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("schemathesis (PyPI, installed by scripts/test-env.sh)");
    let elapsed = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let logs = server.logs();
    eprintln!(
        "schemathesis: {} requests generated in {:.0} s (seed {seed})",
        generated(&text).unwrap_or_default(),
        elapsed.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "schemathesis found failures (seed {seed}):\n{text}\n--- drydock's log (tail) ---\n{}",
        tail(&logs, 60)
    );
    let count = generated(&text).unwrap_or_else(|| panic!("no summary in:\n{text}"));
    assert!(count >= 2000, "only {count} requests generated:\n{text}");
    assert!(
        !logs.contains("panicked"),
        "drydock panicked:\n{}",
        tail(&logs, 60)
    );
    // Still serving after all that.
    let health = http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(containers);
    drop(victim);
}

#[test]
fn the_summary_count_is_read() {
    let summary = "Test cases:\n  2409 generated, 2409 passed, 12 skipped\n\nSeed: 1\n";
    assert_eq!(generated(summary), Some(2409));
    assert_eq!(generated("no summary"), None);
}
