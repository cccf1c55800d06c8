//! Every route of the Container API against the running binary.

use std::time::Duration;

use drydock_testkit::engine::{TestContainer, TestImage, must, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::server::{Server, client, hash_password, promtool};

const SLEEP: &str = "sleep 3600";
const ANONYMOUS: (&str, &str) = ("DD_ANONYMOUS_AUTH_CONFIRM", "true");
/// Only containers labelled `dd.watch=true` are watched: the engine is shared with other tests.
const OPT_IN: (&str, &str) = ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false");
const WATCH: (&str, &str) = ("dd.watch", "true");

struct Fixture {
    prefix: String,
    _images: Vec<TestImage>,
    containers: Vec<TestContainer>,
    _latest: TestImage,
}

/// Images 1.0.0, 1.0.1, 1.1.0, 2.0.0 and latest, and one container per update kind.
fn fixture() -> Fixture {
    let prefix = unique("e2e");
    let images: Vec<TestImage> = ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]
        .iter()
        .map(|tag| {
            let image = TestImage::build(&prefix, tag);
            image.push();
            image
        })
        .collect();
    let latest = TestImage::build(&prefix, "latest");
    latest.push();
    let v1 = images[0].reference.clone();
    let name = |s: &str| format!("{prefix}-{s}");
    let containers = vec![
        TestContainer::run(
            &name("major"),
            &v1,
            &[WATCH],
            "echo first line; echo second line; sleep 3600",
        ),
        TestContainer::run(
            &name("minor"),
            &v1,
            &[WATCH, ("dd.tag.include", r"^1\.")],
            SLEEP,
        ),
        TestContainer::run(
            &name("patch"),
            &v1,
            &[WATCH, ("dd.tag.include", r"^1\.0\.")],
            SLEEP,
        ),
        TestContainer::run(&name("current"), &images[3].reference, &[WATCH], SLEEP),
        TestContainer::run(&name("digest"), &latest.reference, &[WATCH], SLEEP),
    ];
    Fixture {
        prefix,
        _images: images,
        containers,
        _latest: latest,
    }
}

impl Fixture {
    fn id(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.prefix);
        self.containers
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .id
            .clone()
    }
}

async fn json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ours<'a>(list: &'a Value, prefix: &str) -> Vec<&'a Value> {
    list.as_array()
        .expect("a bare array")
        .iter()
        .filter(|c| c["name"].as_str().unwrap_or_default().starts_with(prefix))
        .collect()
}

fn by_name<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {list}"))
}

#[tokio::test]
async fn the_container_api_end_to_end() {
    let f = fixture();
    let server = Server::start(&[ANONYMOUS, OPT_IN]);
    let http = client();
    let get = |path: &str| http.get(server.url(path)).send();

    // Watch all: a bare array with every update kind.
    let (status, list) = json(
        http.post(server.url("/api/containers/watch"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ours(&list, &f.prefix).len(), 5, "{list}");
    let expect = [
        ("major", true, "2.0.0", "major"),
        ("minor", true, "1.1.0", "minor"),
        ("patch", true, "1.0.1", "patch"),
        ("current", false, "2.0.0", ""),
    ];
    for (suffix, available, tag, kind) in expect {
        let c = by_name(&list, &format!("{}-{suffix}", f.prefix));
        assert_eq!(c["updateAvailable"], available, "{suffix}: {c}");
        assert_eq!(c["result"]["tag"], tag, "{suffix}: {c}");
        if available {
            assert_eq!(c["updateKind"]["kind"], "tag");
            assert_eq!(c["updateKind"]["semverDiff"], kind);
            assert_eq!(c["updateKind"]["remoteValue"], tag);
        } else {
            assert_eq!(c["updateKind"]["kind"], "unknown");
            assert_eq!(c["updateKind"]["localValue"], Value::Null);
        }
        assert_eq!(c["image"]["tag"]["semver"], true);
        assert_eq!(c["watcher"], "local");
        assert_eq!(c["status"], "running");
    }
    let digest = by_name(&list, &format!("{}-digest", f.prefix));
    assert_eq!(digest["updateAvailable"], false, "{digest}");
    assert_eq!(digest["image"]["tag"]["semver"], false);

    // `latest` re-pushed: a digest update.
    let newer = TestImage::build(&f.prefix, "latest");
    let new_digest = newer.push();
    let (status, c) = json(
        http.post(server.url(&format!("/api/containers/{}/watch", f.id("digest"))))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c["updateAvailable"], true, "{c}");
    assert_eq!(c["updateKind"]["kind"], "digest");
    assert_eq!(c["updateKind"]["remoteValue"], new_digest.as_str());
    drop(newer);

    // The list, with and without a trailing slash; one container; an unknown one.
    // The list holds what the watches stored: the digest update just found, the tag updates.
    for path in ["/api/containers", "/api/containers/"] {
        let (status, list) = json(get(path).await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(ours(&list, &f.prefix).len(), 5);
        let digest = by_name(&list, &format!("{}-digest", f.prefix));
        assert_eq!(
            digest["updateKind"]["remoteValue"],
            new_digest.as_str(),
            "{path}"
        );
        let minor = by_name(&list, &format!("{}-minor", f.prefix));
        assert_eq!(
            (
                minor["updateAvailable"].clone(),
                minor["result"]["tag"].clone()
            ),
            (json!(true), json!("1.1.0")),
            "{path}"
        );
    }
    let major = f.id("major");
    let (status, c) = json(get(&format!("/api/containers/{major}")).await.unwrap()).await;
    assert_eq!(
        (status, c["id"].as_str()),
        (StatusCode::OK, Some(major.as_str()))
    );
    assert_eq!(c["name"], format!("{}-major", f.prefix));
    assert_eq!(
        (
            c["updateAvailable"].clone(),
            c["result"]["tag"].clone(),
            c["updateKind"]["semverDiff"].clone()
        ),
        (json!(true), json!("2.0.0"), json!("major")),
        "{c}"
    );
    assert_eq!(c["image"]["tag"]["value"], "1.0.0", "{c}");
    let (status, body) = json(get("/api/containers/no-such-id").await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());

    // Triggers: none configured in this version.
    let (status, triggers) = json(
        get(&format!("/api/containers/{major}/triggers"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, triggers), (StatusCode::OK, json!([])));
    let response = http
        .post(server.url(&format!("/api/containers/{major}/triggers/ntfy/one")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Update policy: skip, clear, snooze, unsnooze, and bad bodies.
    let policy = |body: Value| {
        http.patch(server.url(&format!("/api/containers/{major}/update-policy")))
            .json(&body)
            .send()
    };
    let (status, c) = json(policy(json!({"action": "skip-current"})).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(c["updateAvailable"], false);
    assert_eq!(c["updatePolicy"]["skipTags"], json!(["2.0.0"]));
    let (_, c) = json(policy(json!({"action": "clear-skips"})).await.unwrap()).await;
    assert_eq!(c["updateAvailable"], true);
    let (status, c) = json(
        policy(json!({"action": "snooze", "days": 7}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c["updateAvailable"], false);
    assert!(c["updatePolicy"]["snoozeUntil"].is_string());
    let (_, c) = json(policy(json!({"action": "unsnooze"})).await.unwrap()).await;
    assert_eq!(c["updateAvailable"], true);
    let (status, c) = json(
        policy(json!({"action": "snooze", "snoozeUntil": "2099-01-01T00:00:00Z"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, c["updateAvailable"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (_, c) = json(policy(json!({"action": "clear"})).await.unwrap()).await;
    assert_eq!(c["updateAvailable"], true);
    for bad in [
        json!({"action": "nap"}),
        json!({}),
        json!({"action": "snooze"}),
        json!({"action": "snooze", "days": 0}),
        json!({"action": "snooze", "days": "x"}),
    ] {
        let (status, body) = json(policy(bad.clone()).await.unwrap()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    let response = http
        .patch(server.url(&format!("/api/containers/{major}/update-policy")))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let current = f.id("current");
    let (status, _) = json(
        http.patch(server.url(&format!("/api/containers/{current}/update-policy")))
            .json(&json!({"action": "skip-current"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "nothing to skip");

    // A skip survives a new watch.
    json(policy(json!({"action": "skip-current"})).await.unwrap()).await;
    let (_, c) = json(
        http.post(server.url(&format!("/api/containers/{major}/watch")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c["updateAvailable"], false, "{c}");
    json(policy(json!({"action": "clear"})).await.unwrap()).await;

    // No scanner configured: what these routes answer then (a configured scanner's answers are
    // the scanning issue's tests). Nothing scanned, a scan or an SBOM refused naming the
    // variable that would configure one, an unknown container still 404.
    let (status, v) = json(
        get(&format!("/api/containers/{major}/vulnerabilities"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, v["status"].clone(), v["vulnerabilities"].clone()),
        (StatusCode::OK, json!("not-scanned"), json!([]))
    );
    let (status, body) = json(
        http.post(server.url(&format!("/api/containers/{major}/scan")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("DD_SECURITY_SCANNER"),
        "{body}"
    );
    let (status, body) = json(
        get(&format!("/api/containers/{major}/sbom?format=spdx-json"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("DD_SECURITY_SCANNER"),
        "{body}"
    );
    let (status, body) = json(
        get(&format!("/api/containers/{major}/sbom?format=pdf"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap_or_default().contains("pdf"),
        "{body}"
    );
    for route in ["vulnerabilities", "sbom"] {
        let status = get(&format!("/api/containers/no-such-id/{route}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{route}");
    }

    // Logs.
    let (status, logs) = json(
        get(&format!(
            "/api/containers/{major}/logs?tail=10&timestamps=false"
        ))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let text = logs["logs"].as_str().unwrap();
    assert!(
        text.contains("first line") && text.contains("second line"),
        "{text}"
    );
    let (_, logs) = json(
        get(&format!(
            "/api/containers/{major}/logs?tail=1&timestamps=false"
        ))
        .await
        .unwrap(),
    )
    .await;
    assert!(!logs["logs"].as_str().unwrap().contains("first line"));
    let (_, logs) = json(
        get(&format!("/api/containers/{major}/logs?tail=1"))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        logs["logs"].as_str().unwrap().starts_with("20"),
        "timestamps by default"
    );
    assert_eq!(
        get(&format!("/api/containers/{major}/logs?tail=lots"))
            .await
            .unwrap()
            .status(),
        400
    );

    // Without a Docker action trigger, updates are refused after the checks that apply anyway.
    let (status, body) = json(
        http.post(server.url(&format!("/api/containers/{major}/update")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "no Docker trigger in this version: {body}");
    assert!(body["error"].as_str().unwrap().contains("Docker trigger"));
    assert_eq!(
        http.post(server.url(&format!("/api/containers/{current}/update")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        http.post(server.url("/api/containers/nope/update"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.post(server.url(&format!("/api/containers/{major}/preview")))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "no Docker trigger, no preview"
    );
    let (status, backups) = json(
        get(&format!("/api/containers/{major}/backups"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, backups), (StatusCode::OK, json!([])));
    assert_eq!(
        http.post(server.url(&format!("/api/containers/{major}/rollback")))
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "no Docker trigger, no rollback"
    );

    // Delete forgets the container; the engine keeps it.
    let patch = f.id("patch");
    assert_eq!(
        http.delete(server.url(&format!("/api/containers/{patch}")))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        get(&format!("/api/containers/{patch}"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(must(&["inspect", "-f", "{{.State.Running}}", &patch]).contains("true"));

    // Unknown routes are JSON 404s.
    let (status, body) = json(get("/api/nothing-here").await.unwrap()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::NOT_FOUND, json!("Route not found"))
    );
}

/// Stops at once on SIGTERM (a shell as PID 1 ignores it: each stop would wait the 10 s kill).
const QUICK_STOP: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// As a dashboard user does it: stop a container, come back a few seconds later (long after the
/// engine's stop event has been applied), find it in the list as stopped, start it, restart it.
/// The engine is asked at every step.
#[tokio::test]
async fn a_container_stopped_through_the_api_can_be_started_again_later() {
    let repo = unique("e2e-stop");
    let images = TestImage::pushed(&repo, &["1.0.0", "1.1.0"]);
    let name = unique("e2e-stop-c");
    let container = TestContainer::run(&name, &images[0].reference, &[WATCH], QUICK_STOP);
    let id = container.id.clone();
    let server = Server::start(&[ANONYMOUS, OPT_IN]);
    let http = client();
    let engine = |field: &str| must(&["inspect", "-f", field, &id]);
    let action = |verb: &str| {
        http.post(server.url(&format!("/api/containers/{id}/{verb}")))
            .send()
    };
    let listed = || async {
        let list = server.get_json("/api/containers").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.as_str())
            .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
    };
    let mut waited = 0;
    while listed().await.is_none() {
        assert!(waited < 300, "{name} never listed:\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    let (status, body) = json(action("stop").await.unwrap()).await;
    assert_eq!(
        (status, body["result"]["status"].clone()),
        (StatusCode::OK, json!("exited")),
        "{body}"
    );
    assert_eq!(engine("{{.State.Running}}"), "false");
    // The user comes back later: the container stays listed, as stopped, all along.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            listed().await.as_deref(),
            Some("exited"),
            "a stopped container stays listed with its status:\n{}",
            server.logs()
        );
    }

    let (status, body) = json(action("start").await.unwrap()).await;
    assert_eq!(
        (status, body["result"]["status"].clone()),
        (StatusCode::OK, json!("running")),
        "{body}"
    );
    assert_eq!(engine("{{.State.Running}}"), "true");
    let started = engine("{{.State.StartedAt}}");

    let (status, body) = json(action("restart").await.unwrap()).await;
    assert_eq!(
        (status, body["result"]["status"].clone()),
        (StatusCode::OK, json!("running")),
        "{body}"
    );
    assert_eq!(engine("{{.State.Running}}"), "true");
    assert_ne!(
        engine("{{.State.StartedAt}}"),
        started,
        "restart started it again"
    );
}

/// Waits until `GET /api/containers/{id}` answers with `status`.
async fn listed_as(server: &Server, id: &str, status: &str) {
    let started = std::time::Instant::now();
    loop {
        let response = client()
            .get(server.url(&format!("/api/containers/{id}")))
            .send()
            .await
            .unwrap();
        let c: Value = response.json().await.unwrap_or(Value::Null);
        if c["status"] == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{id} never listed as {status}: {c}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A watched container stopped by the engine (not through drydock) stays listed as stopped
/// under the default `WATCHALL=false`: the deletion guard still answers 403 for it, not 404, and
/// the metrics tell it from a running one.
#[tokio::test]
async fn a_container_stopped_by_the_engine_stays_listed_guarded_and_counted() {
    let repo = unique("e2e-halt");
    let images = TestImage::pushed(&repo, &["1.0.0"]);
    let name = unique("e2e-halt-c");
    let container = TestContainer::run(&name, &images[0].reference, &[WATCH], QUICK_STOP);
    let id = container.id.clone();
    // WUD's metrics name each container with its status.
    let server = Server::start(&[
        ANONYMOUS,
        OPT_IN,
        ("DD_SERVER_FEATURE_DELETE", "false"),
        ("DD_COMPAT", "wud"),
    ]);
    let http = client();
    listed_as(&server, &id, "running").await;
    must(&["stop", "-t", "5", &id]);
    listed_as(&server, &id, "exited").await;
    // Long after the stop event: still there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    listed_as(&server, &id, "exited").await;
    let deleted = http
        .delete(server.url(&format!("/api/containers/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 403, "{}", deleted.text().await.unwrap());
    assert_eq!(must(&["inspect", "-f", "{{.State.Status}}", &id]), "exited");
    let metrics = server.get_text("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("wud_containers{") && l.contains(&format!("name=\"{name}\"")))
        .unwrap_or_else(|| panic!("{name} in the metrics:\n{metrics}"));
    assert!(line.contains("status=\"exited\""), "{line}");
}

#[tokio::test]
async fn feature_flags_forbid_actions_and_delete() {
    let f = fixture();
    let server = Server::start(&[
        ANONYMOUS,
        OPT_IN,
        ("DD_SERVER_FEATURE_CONTAINERACTIONS", "false"),
        ("DD_SERVER_FEATURE_DELETE", "false"),
    ]);
    let http = client();
    http.post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    let id = f.id("major");
    for verb in ["start", "stop", "restart", "update", "rollback"] {
        let (status, body) = json(
            http.post(server.url(&format!("/api/containers/{id}/{verb}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 403, "{verb}: {body}");
    }
    assert_eq!(
        http.delete(server.url(&format!("/api/containers/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        http.get(server.url(&format!("/api/containers/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn authentication_fails_closed() {
    let http = client();
    // Nothing configured: every protected route 401, /health 503 saying why, /api/app open.
    let closed = Server::start(&[OPT_IN]);
    for path in [
        "/api/containers",
        "/api/watchers",
        "/metrics",
        "/api/events",
    ] {
        assert_eq!(
            http.get(closed.url(path)).send().await.unwrap().status(),
            401,
            "{path}"
        );
    }
    let (status, body) = json(http.get(closed.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 503);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("DD_ANONYMOUS_AUTH_CONFIRM")
    );
    assert_eq!(
        http.get(closed.url("/api/app"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Basic auth with an argon2id hash made by `drydock hash-password`.
    let secret = "canary-password-7f3e";
    let hash = hash_password(secret);
    let server = Server::start(&[
        OPT_IN,
        ("DD_AUTH_BASIC_ADMIN_USER", "admin"),
        ("DD_AUTH_BASIC_ADMIN_HASH", &hash),
    ]);
    let url = server.url("/api/containers");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .basic_auth("admin", Some("wrong"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .basic_auth("admin", Some(secret))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The password never shows up in a log line, read once the server has exited.
    let logs = server.logs_after_exit();
    assert!(
        logs.contains("drydock is serving"),
        "the log was read: {logs}"
    );
    assert!(!logs.contains(secret));

    // A weak hash stops start-up with a message naming the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
        .env_clear()
        .env("DD_AUTH_BASIC_ADMIN_USER", "admin")
        .env("DD_AUTH_BASIC_ADMIN_HASH", "{SHA}abc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DD_AUTH_BASIC_ADMIN_HASH"));
}

#[tokio::test]
async fn metrics_and_openapi_pass_independent_validators() {
    let f = fixture();
    let server = Server::start(&[ANONYMOUS, OPT_IN]);
    let http = client();
    http.post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("dd_containers{watcher=\"local\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("dd_updates_available{kind=\"major\"}"));
    assert!(metrics.contains("dd_registry_requests_total"));
    let (passed, findings) = promtool(&metrics);
    assert!(passed, "promtool: {findings}");
    let dir = std::env::temp_dir().join(unique("openapi"));
    std::fs::create_dir_all(&dir).unwrap();

    let document = http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, &document).unwrap();
    let check = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let document: Value = serde_json::from_str(&document).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/containers",
        "/api/containers/{id}/update-policy",
        "/api/containers/{id}/logs",
        "/metrics",
        "/health",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is described");
    }
    let _ = std::fs::remove_dir_all(&dir);
    drop(f);
}

#[tokio::test]
async fn server_sent_events_announce_watches() {
    // The event must come from the watch this test asks for: the container is known and current
    // before the stream opens, then a newer tag is pushed and only that watch can find it.
    let repo = unique("e2e-sse");
    let images = TestImage::pushed(&repo, &["1.0.0"]);
    let name = unique("e2e-sse-c");
    let container = TestContainer::run(&name, &images[0].reference, &[WATCH], SLEEP);
    let server = Server::start(&[ANONYMOUS, OPT_IN]);
    let http = client();
    let path = format!("/api/containers/{}", container.id);
    let mut waited = 0;
    loop {
        let response = http.get(server.url(&path)).send().await.unwrap();
        if response.status() == StatusCode::OK {
            let c: Value = response.json().await.unwrap();
            if c["result"]["tag"] == "1.0.0" {
                assert_eq!(c["updateAvailable"], false, "{c}");
                break;
            }
        }
        assert!(waited < 300, "{name} never watched:\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let mut events = http.get(server.url("/api/events")).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let _newer = TestImage::pushed(&repo, &["2.0.0"]);
    let (status, watched) = json(
        http.post(server.url(&format!("{path}/watch")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, watched["updateAvailable"].clone()),
        (StatusCode::OK, json!(true))
    );
    // Read until the update event about our container (other tests' labelled containers are
    // watched by this server too: ours is found by name).
    let mut seen = String::new();
    let ours = |seen: &str| {
        seen.split("\n\n")
            .any(|e| e.contains("event: dd:update-available") && e.contains(&name))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ours(&seen) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, events.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    assert!(ours(&seen), "no dd:update-available about {name}:\n{seen}");
}

#[tokio::test]
async fn bad_configuration_stops_start_up_naming_the_variable() {
    for (key, value) in [
        ("DD_SERVER_PORT", "eighty"),
        ("DD_WATCHER_LOCAL_CRON", "often"),
        ("DD_SERVER_UNKNOWN", "x"),
        // A misspelt key, and a misspelt watcher name that would watch `local`'s engine under
        // another name (orphaning its skips and snoozes).
        ("DD_WATCHER_LOCAL_CRN", "x"),
        ("DD_WATCHER_LOCALL_CRON", "*/5 * * * *"),
        ("WUD_WATCHER_LOCAL_WATCHAL", "true"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
            .env_clear()
            .env(key, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(key),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The binary's command line, on a clean environment watching only labelled containers (the
/// shared engine has others).
fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
        .env_clear()
        .env("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn check_and_explain_on_the_command_line() {
    let f = fixture();
    // Scoped to this test's containers: the exit code is theirs, whatever else the shared
    // engine runs.
    let name = |suffix: &str| format!("{}-{suffix}", f.prefix);
    let (major_name, minor_name, current_name) = (name("major"), name("minor"), name("current"));
    let out = run(&["check", "--json", &major_name, &minor_name]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "updates available: exit 1; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "only the asked ones: {list}"
    );
    let major = by_name(&list, &major_name);
    assert_eq!(major["result"]["tag"], "2.0.0");
    let out = run(&["check", &current_name]);
    assert_eq!(out.status.code(), Some(0), "up to date: exit 0");
    let out = run(&["check", &current_name, "no-such-container-anywhere"]);
    assert_eq!(out.status.code(), Some(2), "an unknown name: exit 2");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-container-anywhere"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["check", &minor_name]);
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{}-minor", f.prefix)))
        .unwrap();
    assert!(
        row.contains("1.0.0") && row.contains("1.1.0") && row.contains("minor"),
        "{row}"
    );

    let out = run(&["explain", &format!("{}-minor", f.prefix)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1.1.0") && text.contains("CHOSEN"), "{text}");
    assert!(
        text.contains("2.0.0") && text.contains("does not match the include rule"),
        "{text}"
    );
    assert!(text.contains("=> update to 1.1.0 (minor)"), "{text}");

    let out = run(&["explain", "no-such-container-anywhere"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `explain` asks about the image the watch asks about: with `dd.registry.lookup.image`, the
/// lookup image's tags (here a repository with a 9.9.9 the container's own lacks), not its own.
#[tokio::test]
async fn explain_follows_the_registry_lookup_label_as_the_watch_does() {
    let own = unique("e2e-own");
    let lookup = unique("e2e-lookup");
    let own_images = TestImage::pushed(&own, &["1.0.0", "1.1.0"]);
    let _lookup = TestImage::pushed(&lookup, &["1.0.0", "9.9.9"]);
    let lookup_image = format!("127.0.0.1:5000/drydock-test/{lookup}:1.0.0");
    let name = unique("e2e-lookup-c");
    let _container = TestContainer::run(
        &name,
        &own_images[0].reference,
        &[WATCH, ("dd.registry.lookup.image", lookup_image.as_str())],
        SLEEP,
    );
    let out = run(&["explain", &name]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("drydock-test/{lookup}")), "{text}");
    assert!(text.contains("9.9.9") && !text.contains("1.1.0"), "{text}");
    assert!(text.contains("=> update to 9.9.9 (major)"), "{text}");
    // The watch agrees.
    let out = run(&["check", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_name(&list, &name)["result"]["tag"], "9.9.9");
}

#[tokio::test]
async fn the_api_speaks_tls_when_configured() {
    let dir = std::path::PathBuf::from(
        std::env::var("DRYDOCK_TEST_ENV").unwrap_or_else(|_| "/tmp/drydock-test-env".into()),
    );
    let cert = dir.join("tls/server.crt");
    let key = dir.join("tls/server.key");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start(&[
        ANONYMOUS,
        OPT_IN,
        ("DD_SERVER_TLS_ENABLED", "true"),
        ("DD_SERVER_TLS_CERT", &cert),
        ("DD_SERVER_TLS_KEY", &key),
    ]);
    let ca = std::fs::read(dir.join("tls/ca.crt")).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let url = server.url("/api/app").replace("http://", "https://");
    let (status, body) = json(http.get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, body["name"].clone()),
        (StatusCode::OK, json!("drydock"))
    );
    assert!(
        client().get(server.url("/api/app")).send().await.is_err(),
        "no plain HTTP on a TLS port"
    );
}
