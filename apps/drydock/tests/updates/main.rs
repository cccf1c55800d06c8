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

#[path = "../e2e/server.rs"]
#[allow(unreachable_pub, dead_code)]
mod server;

use std::time::{Duration, Instant};

use drydock_testkit::engine::{Leftovers, TestImage, docker, must, restart_engine, unique};
use serde_json::{Value, json};

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
    must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        "--label",
        &format!("dd.test={prefix}"),
        "--label",
        "dd.watch=true",
        "--restart",
        "unless-stopped",
        "-e",
        "ROLE=app",
        image,
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ])
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
            started.elapsed() < Duration::from_secs(30),
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

const KILLS: u32 = 50;
const ENGINE_RESTARTS: u32 = 5;

#[tokio::test]
async fn sigkill_during_updates_never_loses_a_container() {
    let _engine = ENGINE.lock().await;
    let prefix = unique("kill-update");
    let _cleanup = Leftovers(prefix.clone());
    let (old, new) = images(&prefix);
    let name = format!("{prefix}-app");
    run(&prefix, &name, &old.reference);
    let env = env(&[]);
    let http = client();

    let mut seed: u64 = u64::from(std::process::id()) | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut server = Server::start(&env);
    let mut finished_before_kill = 0;
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for run in 0..KILLS {
        // Recovery of the previous run's operation has finished.
        let started = Instant::now();
        while server.get_json("/api/update-operations").await["active"] != 0 {
            assert!(
                started.elapsed() < Duration::from_secs(45),
                "run {run}: recovery never finished\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Drive the container to the other image: update when on 1.0.0, roll back when on 2.0.0.
        let on_old = containers(&prefix)[0].1 == old.reference;
        let container = if on_old {
            listed(&server, &name, |c| c["updateAvailable"] == true).await
        } else {
            listed(&server, &name, |c| c["image"]["tag"]["value"] == "2.0.0").await
        };
        let id = container["id"].as_str().unwrap().to_owned();
        let path = if on_old { "update" } else { "rollback" };
        let request = http
            .post(server.url(&format!("/api/containers/{id}/{path}")))
            .json(&json!({}))
            .send();
        let delay = Duration::from_millis(next() % 1_600);
        let finished = tokio::time::timeout(delay, request).await;
        if let Ok(response) = finished {
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
        }
        let store = server.kill();
        let engine_restart = run % (KILLS / ENGINE_RESTARTS) == KILLS / ENGINE_RESTARTS - 1;
        if engine_restart {
            restart_engine();
        }
        server = Server::start_with_store(&env, store);

        // Recovery leaves exactly one container, under its name, running one of the two images.
        let started = Instant::now();
        loop {
            let now = containers(&prefix);
            let settled = now.len() == 1
                && now[0].0 == name
                && now[0].2 == "running"
                && (now[0].1 == old.reference || now[0].1 == new.reference);
            if settled {
                *outcomes
                    .entry(now[0].1.rsplit(':').next().unwrap_or_default().to_owned())
                    .or_default() += 1;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(45),
                "run {run} (killed after {delay:?}, engine restart: {engine_restart}): {now:?}\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "{KILLS} kills ({ENGINE_RESTARTS} with an engine restart); {finished_before_kill} requests had finished; final images: {outcomes:?}"
    );
}
