//! Container updates through the running server, against the real engine and registry: the API
//! (update, preview, backups, rollback, audit), automatic updates, and crash safety (SIGKILL at
//! random moments of updates and rollbacks, with engine restarts).
//!
//! A binary of its own because the crash test restarts the shared engine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

#[path = "../e2e/seeded.rs"]
#[allow(unreachable_pub, dead_code)]
mod seeded;
#[path = "../e2e/server.rs"]
#[allow(unreachable_pub, dead_code)]
mod server;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drydock_testkit::engine::{
    Leftovers, REGISTRY, TestImage, docker, must, restart_engine, stop_engine, unique,
};
use serde_json::{Value, json};

use seeded::Seeded;
use server::{Server, client};

/// Keeps one test at a time: the crash test restarts the engine the others use.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `1.0.0` and `2.0.0` of a fresh repository, pushed.
fn images(prefix: &str) -> (TestImage, TestImage) {
    let mut images = TestImage::pushed(prefix, &["1.0.0", "2.0.0"]);
    let new = images.remove(1);
    (images.remove(0), new)
}

/// Runs `name` from `image`, labelled for cleanup, restarting unless stopped, and quick to stop.
fn run(prefix: &str, name: &str, image: &str) -> String {
    run_labelled(prefix, name, image, &[])
}

/// [`run`] with more labels.
fn run_labelled(prefix: &str, name: &str, image: &str, labels: &[(&str, &str)]) -> String {
    let test_label = format!("dd.test={prefix}");
    let extra: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        "--label",
        &test_label,
        "--label",
        "dd.watch=true",
    ];
    for label in &extra {
        args.extend(["--label", label.as_str()]);
    }
    args.extend([
        "--restart",
        "unless-stopped",
        "-e",
        "ROLE=app",
        image,
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    must(&args)
}

/// The containers of a test: (name, image, state), by name.
fn containers(prefix: &str) -> Vec<(String, String, String)> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=dd.test={prefix}"),
        "--format",
        "{{.Names}}|{{.Image}}|{{.State}}",
    ])
    .unwrap_or_default();
    let mut list: Vec<(String, String, String)> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split('|').map(str::to_owned);
            (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            )
        })
        .collect();
    list.sort();
    list
}

/// Waits until the server lists the container named `name` with `pred` true; returns it.
async fn listed(server: &Server, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let list: Value = server.get_json("/api/containers").await;
        if let Some(c) = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name && pred(c))
        {
            return c.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{name} never listed as expected; list: {list}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_ACTION_DOCKER_LOCAL_AUTO", "false"),
        ("DD_ACTION_DOCKER_LOCAL_GRACE", "300"),
        ("DD_ACTION_DOCKER_LOCAL_STOPTIMEOUT", "1000"),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn update_preview_backups_rollback_and_audit_through_the_api() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("api-update");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    run(&prefix, &name, &old.reference);
    let server = Server::start(&env(&[]));
    let http = client();
    let container = listed(&server, &name, |c| c["updateAvailable"] == true).await;
    let id = container["id"].as_str().unwrap().to_owned();
    assert_eq!(container["result"]["tag"], "2.0.0");

    // A preview names what would happen and changes nothing.
    let before = containers(&prefix);
    let response = http
        .post(server.url(&format!("/api/containers/{id}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let preview: Value = response.json().await.unwrap();
    assert_eq!(preview["containerName"], name.as_str());
    assert_eq!(preview["currentImage"], old.reference.as_str());
    assert_eq!(preview["newImage"], new.reference.as_str());
    assert_eq!(preview["isRunning"], true);
    assert_eq!(
        containers(&prefix),
        before,
        "the preview changed the engine"
    );

    // The update answers with the updated container.
    let response = http
        .post(server.url(&format!("/api/containers/{id}/update")))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let updated: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{updated}\n{}", server.logs());
    assert_ne!(updated["id"], id.as_str(), "recreated");
    assert_eq!(updated["image"]["tag"]["value"], "2.0.0");
    assert_eq!(updated["updateAvailable"], false);
    assert_eq!(
        containers(&prefix),
        vec![(name.clone(), new.reference.clone(), "running".to_owned())]
    );
    let new_id = updated["id"].as_str().unwrap().to_owned();
    let old_listed: Value = client()
        .get(server.url(&format!("/api/containers/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        old_listed["error"].is_string(),
        "the old record is gone: {old_listed}"
    );

    // The backup, in the seed's shape.
    let backups: Value = server
        .get_json(&format!("/api/containers/{new_id}/backups"))
        .await;
    let backup = &backups.as_array().unwrap()[0];
    assert_eq!(backup["containerId"], id.as_str());
    assert_eq!(backup["containerName"], name.as_str());
    assert_eq!(backup["imageTag"], "1.0.0");
    assert_eq!(backup["triggerName"], "docker.local");
    assert!(backup["imageName"].as_str().unwrap().ends_with(&prefix));
    assert!(backup["timestamp"].is_string() && backup["id"].is_string());

    // A second update has nothing to do.
    let response = http
        .post(server.url(&format!("/api/containers/{new_id}/update")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Rollback to the newest backup.
    let response = http
        .post(server.url(&format!("/api/containers/{new_id}/rollback")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let rolled: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["backup"]["id"], backup["id"]);
    assert_eq!(rolled["result"]["image"]["tag"]["value"], "1.0.0");
    assert_eq!(
        containers(&prefix),
        vec![(name.clone(), old.reference.clone(), "running".to_owned())]
    );
    let unknown = http
        .post(server.url(&format!(
            "/api/containers/{}/rollback",
            rolled["result"]["id"].as_str().unwrap()
        )))
        .json(&json!({"backupId": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The audit log has both, newest first.
    let audit: Value = server
        .get_json(&format!("/api/audit?container={name}"))
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["rollback", "update-applied"], "{audit}");
    assert_eq!(audit["data"][1]["fromVersion"], old.reference.as_str());
    assert_eq!(audit["data"][1]["toVersion"], new.reference.as_str());
}

#[tokio::test]
async fn detected_updates_are_applied_automatically_when_allowed() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("auto-update");
    let _cleanup = Leftovers(prefix.clone());
    let (_old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    run(&prefix, &name, &_old.reference);
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_ACTION_DOCKER_LOCAL_AUTO", "true"),
        ("DD_ACTION_DOCKER_LOCAL_GRACE", "300"),
    ]);
    let started = Instant::now();
    while containers(&prefix) != vec![(name.clone(), new.reference.clone(), "running".to_owned())] {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "not updated automatically: {:?}\n{}",
            containers(&prefix),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audit: Value = server
        .get_json(&format!("/api/audit?container={name}"))
        .await;
    assert_eq!(audit["data"][0]["action"], "update-applied");
    assert_eq!(audit["data"][0]["actor"], "auto");
}

/// A container started with `--rm` is destroyed by the engine when it stops, so recreating it
/// could lose it: the update is refused with a 409 naming the reason, before anything is touched.
#[tokio::test]
async fn an_auto_remove_container_is_refused_and_left_untouched() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("auto-remove");
    let _cleanup = Leftovers(prefix.clone());
    let (old, _new) = images(&prefix);
    let name = format!("{prefix}-app");
    must(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        "--name",
        &name,
        "--label",
        &format!("dd.test={prefix}"),
        "--label",
        "dd.watch=true",
        &old.reference,
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    let server = Server::start(&env(&[]));
    let listed = listed(&server, &name, |c| c["updateAvailable"] == true).await;
    let id = listed["id"].as_str().unwrap();
    let response = server.post(&format!("/api/containers/{id}/update")).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("--rm"),
        "{body}"
    );
    assert_eq!(
        containers(&prefix),
        vec![(name.clone(), old.reference.clone(), "running".to_owned())],
        "untouched"
    );
    let operations: Value = server.get_json("/api/update-operations").await;
    assert!(
        !operations.to_string().contains(&name),
        "nothing journaled: {operations}"
    );
}

/// SIGTERM while an update runs: drydock accepts no new update, lets the running one finish
/// (its health gate included), answers its request, and only then exits.
#[tokio::test]
async fn sigterm_lets_a_running_update_finish() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("sigterm");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    let other = format!("{prefix}-other");
    run(&prefix, &name, &old.reference);
    run(&prefix, &other, &old.reference);
    // A health gate of 8 s (the grace a container without a health check must keep running):
    // longer than the HTTP server's own 5 s shutdown timeout.
    let mut server = Server::start(&env(&[("DD_ACTION_DOCKER_LOCAL_GRACE", "8000")]));
    let id = listed(&server, &name, |c| c["updateAvailable"] == true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_id = listed(&server, &other, |c| c["updateAvailable"] == true).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = tokio::spawn(
        client()
            .post(server.url(&format!("/api/containers/{id}/update")))
            .send(),
    );
    let started = Instant::now();
    loop {
        let operations = server.get_json("/api/update-operations").await;
        if operations.to_string().contains("health-gate") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the update never reached its health gate: {operations}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    must_kill("-TERM", server.child.id());
    // A new update is refused while the running one finishes.
    let refused = server
        .post(&format!("/api/containers/{other_id}/update"))
        .await;
    assert_eq!(refused.status(), 503, "{}", refused.text().await.unwrap());
    let response = update.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "drydock did not exit after SIGTERM\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}\n{}", server.logs());
    assert_eq!(
        containers(&prefix),
        vec![
            (name.clone(), new.reference.clone(), "running".to_owned()),
            (other.clone(), old.reference.clone(), "running".to_owned()),
        ],
        "the running update finished, the refused one changed nothing"
    );
}

/// An interrupted update that cannot be finished at start-up (a container someone else created
/// holds the name) is shown as stranded, in the API and the metrics, and retried in the
/// background: once the name is free, it is finished without a restart.
#[tokio::test]
async fn a_stranded_update_is_shown_and_retried_in_the_background() {
    use drydock_core::operation::{Operation, Phase, parked_name};
    use drydock_core::ports::Store as _;

    let _engine = ENGINE.lock().await;
    let prefix = unique("stranded");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    let old_id = run(&prefix, &name, &old.reference);
    // The crash came while the new container was being created: the old one is parked, and
    // someone else has since put a container under the name.
    let parked = parked_name(&name, chrono::Utc::now());
    must(&["rename", &old_id, &parked]);
    let foreign = must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--label",
        &format!("dd.test={prefix}"),
        &new.reference,
        "sleep",
        "3600",
    ]);
    let store_dir = std::env::temp_dir().join(unique("drydock-stranded-store"));
    let mut op = Operation::new(
        "op-stranded",
        &name,
        &old_id,
        &old.reference,
        &new.reference,
        &parked,
        true,
    );
    op.phase = Phase::Creating;
    op.trigger = "docker.local".into();
    {
        let store = drydock_store_sled::SledStore::open(&store_dir).unwrap();
        store.save_operation(&op).await.unwrap();
    }
    let server = Server::start_with_store(&env(&[]), store_dir);

    until(&server, "shown as stranded", |ops, metrics| {
        ops["stranded"] == json!(["op-stranded"])
            && metrics.contains("dd_update_operations_stranded 1\n")
    })
    .await;
    assert_eq!(
        must(&["inspect", "-f", "{{.Id}}", &name]),
        foreign,
        "the foreign container is left alone"
    );

    must(&["rm", "-f", &foreign]);
    until(&server, "finished in the background", |ops, metrics| {
        ops["stranded"] == json!([])
            && ops["active"] == 0
            && ops["data"][0]["phase"] == "rolled-back"
            && metrics.contains("dd_update_operations_stranded 0\n")
    })
    .await;
    assert_eq!(
        containers(&prefix),
        vec![(name.clone(), old.reference.clone(), "running".to_owned())]
    );
}

/// Waits until `done` holds for `/api/update-operations` and `/metrics`.
async fn until(server: &Server, what: &str, done: impl Fn(&Value, &str) -> bool) {
    let started = Instant::now();
    loop {
        let operations = server.get_json("/api/update-operations").await;
        let metrics = server.get_text("/metrics").await;
        if done(&operations, &metrics) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{what}: {operations}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends `signal` to `pid`.
fn must_kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A watched container that was stopped stays listed, and updating it works: it ends on the new
/// image, still stopped, as it was.
#[tokio::test]
async fn a_stopped_container_is_updated_and_stays_stopped() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("stopped-update");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    let id = run(&prefix, &name, &old.reference);
    let server = Server::start(&env(&[]));
    listed(&server, &name, |c| c["status"] == "running").await;
    must(&["stop", "-t", "5", &id]);
    let stopped = listed(&server, &name, |c| {
        c["status"] == "exited" && c["updateAvailable"] == true
    })
    .await;
    let response = client()
        .post(server.url(&format!(
            "/api/containers/{}/update",
            stopped["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    // Never started, the new container is `created`: stopped, as the old one was.
    let after = containers(&prefix);
    assert!(
        matches!(after.as_slice(), [(n, image, state)]
            if *n == name && *image == new.reference && (state == "created" || state == "exited")),
        "{after:?}"
    );
    listed(&server, &name, |c| {
        c["status"] != "running" && c["image"]["tag"]["value"] == "2.0.0"
    })
    .await;
}

/// `dd.action.include=docker.local:minor`: a major update is not applied automatically (the
/// log says why), while a container whose entry has no threshold is updated; asked for by hand,
/// the major update is applied and its audit entry says it went beyond the threshold.
#[tokio::test]
async fn an_include_threshold_holds_back_larger_updates_until_asked_for() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("threshold");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let held = format!("{prefix}-held");
    let free = format!("{prefix}-free");
    run_labelled(
        &prefix,
        &held,
        &old.reference,
        &[("dd.action.include", "docker.local:minor")],
    );
    run_labelled(
        &prefix,
        &free,
        &old.reference,
        &[("dd.action.include", "docker.local")],
    );
    // AUTO stays at its default, `oninclude`.
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_ACTION_DOCKER_LOCAL_GRACE", "300"),
        ("DD_ACTION_DOCKER_LOCAL_STOPTIMEOUT", "1000"),
    ]);
    let running =
        |name: &str, image: &str| (name.to_owned(), image.to_owned(), "running".to_owned());
    let started = Instant::now();
    loop {
        let held_line = server.logs().lines().any(|l| {
            l.contains("update not applied automatically")
                && l.contains(&held)
                && l.contains("a major update is beyond the automatic threshold minor")
        });
        if held_line && containers(&prefix).contains(&running(&free, &new.reference)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "expected {free} updated and {held} held back: {:?}\n{}",
            containers(&prefix),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        containers(&prefix).contains(&running(&held, &old.reference)),
        "{held} kept its image: {:?}",
        containers(&prefix)
    );

    let listed = listed(&server, &held, |c| c["updateAvailable"] == true).await;
    let response = client()
        .post(server.url(&format!(
            "/api/containers/{}/update",
            listed["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(
        containers(&prefix).contains(&running(&held, &new.reference)),
        "{:?}",
        containers(&prefix)
    );
    let audit: Value = server
        .get_json(&format!("/api/audit?container={held}"))
        .await;
    let entry = &audit["data"][0];
    assert_eq!(
        (entry["action"].as_str(), entry["actor"].as_str()),
        (Some("update-applied"), Some("api")),
        "{audit}"
    );
    let details = entry["details"].as_str().unwrap_or_default();
    assert!(
        details.contains("beyond docker.local") && details.contains("threshold minor"),
        "{audit}"
    );
    let audit: Value = server
        .get_json(&format!("/api/audit?container={free}"))
        .await;
    assert_eq!(audit["data"][0]["actor"], "auto", "{audit}");
    assert!(audit["data"][0]["details"].is_null(), "{audit}");
}

const KILLS: u32 = 50;
const ENGINE_RESTARTS: u32 = 5;

/// Waits until no update operation is open: start-up recovery resolved the one a kill
/// interrupted.
async fn recovered(server: &Server, context: &str) {
    let started = Instant::now();
    loop {
        let operations = server.get_json("/api/update-operations").await;
        if operations["active"] == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{context}: recovery never finished: {operations}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigkill_during_updates_never_loses_a_container() {
    let _engine = ENGINE.lock().await;
    let mut rng = Seeded::from_env("updates crash");
    let seed = rng.seed;
    let prefix = unique("kill-update");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    run(&prefix, &name, &old.reference);
    let env = env(&[]);
    let http = client();

    let wall = Instant::now();
    let mut server = Server::start(&env);
    // How long an uninterrupted update and rollback take on this machine: the kill moments are
    // drawn over all of one and half as long again, so some land after the commit and the answer.
    let mut span = Duration::ZERO;
    for (path, pred) in [("update", true), ("rollback", false)] {
        let container = listed(&server, &name, |c| {
            if pred {
                c["updateAvailable"] == true
            } else {
                c["image"]["tag"]["value"] == "2.0.0"
            }
        })
        .await;
        let id = container["id"].as_str().unwrap();
        let started = Instant::now();
        let response = http
            .post(server.url(&format!("/api/containers/{id}/{path}")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", server.logs());
        span = span.max(started.elapsed());
    }
    let span_ms = u64::try_from(span.as_millis() * 3 / 2)
        .unwrap_or(u64::MAX)
        .max(1);
    let mut finished_before_kill = 0;
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for run in 0..KILLS {
        // Drive the container to the other image: update when on 1.0.0, roll back when on 2.0.0.
        let on_old = containers(&prefix)[0].1 == old.reference;
        let container = if on_old {
            listed(&server, &name, |c| c["updateAvailable"] == true).await
        } else {
            listed(&server, &name, |c| c["image"]["tag"]["value"] == "2.0.0").await
        };
        let id = container["id"].as_str().unwrap().to_owned();
        let (path, target) = if on_old {
            ("update", &new.reference)
        } else {
            ("rollback", &old.reference)
        };
        let request = http
            .post(server.url(&format!("/api/containers/{id}/{path}")))
            .json(&json!({}))
            .send();
        let delay = Duration::from_millis(rng.below(span_ms));
        let acknowledged = match tokio::time::timeout(delay, request).await {
            Ok(response) => {
                finished_before_kill += 1;
                let response = response.unwrap();
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                assert_eq!(
                    status,
                    200,
                    "run {run}: {path} answered {body}\n{}",
                    server.logs()
                );
                true
            }
            Err(_) => false,
        };
        let store = server.kill();
        let engine_restart = run % (KILLS / ENGINE_RESTARTS) == KILLS / ENGINE_RESTARTS - 1;
        if engine_restart {
            restart_engine();
        }
        server = Server::start_with_store(&env, store);
        let context = format!(
            "run {run} ({path} killed after {delay:?}, acknowledged: {acknowledged}, engine restart: {engine_restart}, seed {seed})"
        );

        // Recovery leaves exactly one container, under its name (no `-old-` one parked), running
        // one of the two images: the target one when the update had been acknowledged.
        let started = Instant::now();
        loop {
            let now = containers(&prefix);
            let settled = now.len() == 1
                && now[0].0 == name
                && now[0].2 == "running"
                && (now[0].1 == old.reference || now[0].1 == new.reference);
            if settled {
                assert!(
                    !acknowledged || &now[0].1 == target,
                    "{context}: the acknowledged {path} was undone: {now:?}\n{}",
                    server.logs()
                );
                *outcomes
                    .entry(now[0].1.rsplit(':').next().unwrap_or_default().to_owned())
                    .or_default() += 1;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(45),
                "{context}: {now:?}\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // No operation is left open, and the store lists the container under its name.
        recovered(&server, &context).await;
        listed(&server, &name, |_| true).await;
    }
    eprintln!(
        "updates crash (seed {seed}): {KILLS} kills over 0..{span_ms} ms ({ENGINE_RESTARTS} with an engine restart); {finished_before_kill} requests had finished; final images: {outcomes:?}; {:.1} s",
        wall.elapsed().as_secs_f64()
    );
    // Both ends were reached: kills before the commit left the old image, kills after it (or
    // after the answer) the new one, so the recovery of each kind was checked.
    assert!(
        outcomes.len() == 2,
        "seed {seed}: every run ended on the same image: {outcomes:?}"
    );
}

/// More containers than a watcher checks at once (32, the default), each on a tag of its own:
/// the last ones have their image inspected only once the first ones have their registry
/// answers, so they meet the stopped engine.
const RESTART_CONTAINERS: usize = 40;

/// A TCP proxy in front of the test registry that can hold every request it receives: a watch
/// cycle waiting on it stays in progress for as long as the test needs.
struct HoldingProxy {
    port: u16,
    hold: Arc<AtomicBool>,
    /// How many chunks have waited on `hold`.
    held: Arc<AtomicUsize>,
}

impl HoldingProxy {
    fn start(upstream: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let (holding, counting) = (hold.clone(), held.clone());
        // The listener thread lives as long as the test process; it only ever forwards.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (Ok(client_back), Ok(server_back)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                let gate = (holding.clone(), counting.clone());
                std::thread::spawn(move || pump(client, server, Some(gate)));
                std::thread::spawn(move || pump(server_back, client_back, None));
            }
        });
        Self { port, hold, held }
    }
}

/// Copies `from` to `to`, each chunk waiting while the gate's flag is set (and counted if it did).
fn pump(mut from: TcpStream, mut to: TcpStream, gate: Option<(Arc<AtomicBool>, Arc<AtomicUsize>)>) {
    let mut buf = [0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((hold, held)) = &gate
            && hold.load(Ordering::SeqCst)
        {
            held.fetch_add(1, Ordering::SeqCst);
            while hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Tags pushed through the proxy, removed from the engine on drop.
struct ProxyTags(Vec<String>);

impl Drop for ProxyTags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = docker(&["rmi", tag]);
        }
    }
}

/// Of a listing, our containers (by id).
fn ours<'a>(list: &'a Value, ids: &[String]) -> Vec<&'a Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|c| ids.iter().any(|id| c["id"] == id.as_str()))
        .collect()
}

#[tokio::test]
async fn engine_restart_mid_cycle_keeps_every_container() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("engine-restart");
    let _cleanup = Leftovers(prefix.clone());
    // The containers' images are named through the proxy, so drydock asks the registry through it.
    let proxy = HoldingProxy::start(REGISTRY);
    // One tag per container (1.0.0 … 1.0.39), each its own image (a cycle inspects an image id
    // once), and 2.0.0, the update of them all.
    let versions: Vec<String> = (0..RESTART_CONTAINERS)
        .map(|i| format!("1.0.{i}"))
        .chain(["2.0.0".to_owned()])
        .collect();
    let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
    let built = TestImage::pushed(&format!("{prefix}-many"), &versions);
    let mut tags = ProxyTags(Vec::new());
    let through_proxy =
        |reference: &str| reference.replacen(REGISTRY, &format!("127.0.0.1:{}", proxy.port), 1);
    // The update first, then the containers' own tags, in order.
    for image in built
        .iter()
        .rev()
        .take(1)
        .chain(built.iter().take(RESTART_CONTAINERS))
    {
        let via = through_proxy(&image.reference);
        must(&["tag", &image.reference, &via]);
        must(&["push", "-q", &via]);
        tags.0.push(via);
    }
    let names: Vec<String> = (0..RESTART_CONTAINERS)
        .map(|i| format!("{prefix}-app{i}"))
        .collect();
    // `--restart unless-stopped`: the engine starts them again when it comes back.
    let ids: Vec<String> = names
        .iter()
        .zip(&tags.0[1..])
        .map(|(name, image)| run(&prefix, name, image))
        .collect();
    let mut server = Server::start(&env(&[]));
    for name in &names {
        let c = listed(&server, name, |c| c["updateAvailable"] == true).await;
        assert_eq!(c["result"]["tag"], "2.0.0");
    }

    // The stored list is read all along.
    let done = Arc::new(AtomicBool::new(false));
    let fewest = {
        let url = server.url("/api/containers");
        let done = done.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let http = client();
            let mut fewest = usize::MAX;
            while !done.load(Ordering::SeqCst) {
                let list: Value = http
                    .get(&url)
                    .send()
                    .await
                    .expect("drydock answers")
                    .json()
                    .await
                    .expect("a JSON list");
                fewest = fewest.min(ours(&list, &ids).len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            fewest
        })
    };

    // A cycle starts and waits on the registry, having inspected the first containers' images;
    // the engine stops; then the registry answers and the cycle goes on without the engine.
    proxy.hold.store(true, Ordering::SeqCst);
    let cycle = {
        let url = server.url("/api/containers/watch");
        tokio::spawn(async move { client().post(&url).send().await })
    };
    let asked = Instant::now();
    while proxy.held.load(Ordering::SeqCst) == 0 {
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "the cycle never asked the registry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The registry's first answers are held: the cycle waits with its first containers' images
    // inspected and the others not yet.
    assert!(
        !cycle.is_finished(),
        "the cycle did not wait on the registry"
    );
    let stopped = tokio::task::spawn_blocking(stop_engine).await.unwrap();
    proxy.hold.store(false, Ordering::SeqCst);
    let response = cycle.await.unwrap().expect("drydock answers the cycle");
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    // Every container is still there with its result. A cycle asks the engine about an image
    // before the registry, so the containers inspected before the engine left finish normally,
    // and the ones after them meet the stopped engine: they carry its error and their last result.
    assert_eq!(status, 200, "{body}");
    let checked = ours(&body, &ids);
    assert_eq!(checked.len(), RESTART_CONTAINERS, "{body}");
    let failed: Vec<&&Value> = checked.iter().filter(|c| c["error"].is_object()).collect();
    for c in &checked {
        assert_eq!(c["result"]["tag"], "2.0.0", "{c}");
        assert_eq!(c["updateAvailable"], true, "{c}");
    }
    assert!(
        !failed.is_empty() && failed.len() < RESTART_CONTAINERS,
        "some containers, not all, met the stopped engine: {} did",
        failed.len()
    );
    for c in &failed {
        let message = c["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("engine unavailable"), "{message}");
    }

    // With the engine down, a cycle is a clear error, and the store still has every container.
    let http = client();
    let response = http
        .post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 503, "a cycle without the engine answered {body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("watcher local") && message.contains("engine unavailable"),
        "{message}"
    );
    let stored = server.get_json("/api/containers").await;
    assert_eq!(ours(&stored, &ids).len(), RESTART_CONTAINERS, "{stored}");

    tokio::task::spawn_blocking(move || stopped.start())
        .await
        .unwrap();
    // The engine is back: the next cycle is complete and correct, with the same containers.
    let response = http
        .post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    let after = ours(&after, &ids);
    assert_eq!(after.len(), RESTART_CONTAINERS, "{after:?}");
    for c in after {
        assert!(c["error"].is_null(), "{c}");
        assert_eq!(c["status"], "running", "{c}");
        assert_eq!(c["result"]["tag"], "2.0.0", "{c}");
        assert_eq!(c["updateAvailable"], true, "{c}");
    }
    // Events that arrive as the engine comes back are applied too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::SeqCst);
    let fewest = fewest.await.unwrap();
    assert_eq!(
        fewest,
        RESTART_CONTAINERS,
        "containers left the store while the engine restarted\n{}",
        server.logs()
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "drydock exited\n{}",
        server.logs()
    );
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
    eprintln!(
        "engine restart mid-cycle: {} of {RESTART_CONTAINERS} containers checked after the engine left carry its error",
        failed.len()
    );
}
