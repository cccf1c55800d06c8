//! Notifications end to end: real updates found by real watch cycles reach a real HTTP receiver
//! on loopback, in simple and batch mode, once per update across cycles and restarts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drydock_testkit::engine::{TestContainer, TestImage, TestService, unique};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::server::{Server, client};

/// Records the JSON bodies of the requests it receives, by path; always answers 200.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buffer.len() < end + 4 + length {
                        continue;
                    }
                    let path = head
                        .lines()
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_slice(&buffer[end + 4..end + 4 + length])
                        .unwrap_or(Value::Null);
                    seen.lock().unwrap().push((path, body));
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (base, log)
}

fn messages(log: &Arc<Mutex<Vec<(String, Value)>>>, path: &str) -> Vec<Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b.clone())
        .collect()
}

async fn settle() {
    // The dispatcher gathers a cycle's events for 2 s before sending.
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn updates_found_by_a_watch_reach_the_channels_once() {
    let prefix = unique("notify");
    let images: Vec<TestImage> = ["1.0.0", "2.0.0"]
        .iter()
        .map(|t| TestImage::build(&prefix, t))
        .collect();
    for image in &images {
        image.push();
    }
    let label = ("dd.watch", "true");
    let a = TestContainer::run(
        &format!("{prefix}-a"),
        &images[0].reference,
        &[label],
        "sleep 3600",
    );
    let b = TestContainer::run(
        &format!("{prefix}-b"),
        &images[0].reference,
        &[label, ("dd.notification.exclude", "ntfy.one")],
        "sleep 3600",
    );
    let (base, log) = receiver().await;
    let ntfy_url = format!("{base}/ntfy");
    let http_url = format!("{base}/batch");
    let env = [
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_NOTIFICATION_NTFY_ONE_URL", ntfy_url.as_str()),
        ("DD_NOTIFICATION_NTFY_ONE_TOPIC", "updates"),
        (
            "DD_NOTIFICATION_NTFY_ONE_SIMPLEBODY",
            "${container.name} ${container.updateKind.localValue} -> ${container.updateKind.remoteValue} (${container.updateKind.semverDiff})",
        ),
        ("DD_TRIGGER_HTTP_ALL_URL", http_url.as_str()),
        ("DD_TRIGGER_HTTP_ALL_MODE", "batch"),
    ];
    let server = Server::start(&env);
    let http = client();
    let triggers: Value = server.get_json("/api/triggers").await;
    assert_eq!(triggers.as_array().unwrap().len(), 2, "{triggers}");

    // The start-up watch finds both updates.
    settle().await;
    settle().await;
    let for_b: Value = server
        .get_json(&format!("/api/containers/{}/triggers", b.id))
        .await;
    let ids: Vec<&str> = for_b
        .as_array()
        .expect("b is watched")
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["http.all"], "b excludes ntfy.one");
    let ntfy = messages(&log, "/ntfy");
    let ours: Vec<&Value> = ntfy
        .iter()
        .filter(|m| {
            m["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&prefix)
        })
        .collect();
    assert_eq!(ours.len(), 1, "only a (b excludes ntfy.one): {ntfy:?}");
    assert_eq!(
        ours[0]["message"],
        format!("{prefix}-a 1.0.0 -> 2.0.0 (major)")
    );
    assert_eq!(ours[0]["topic"], "updates");
    let batches = messages(&log, "/batch");
    let mentioning = |m: &Value| {
        m.as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["name"].as_str().unwrap_or_default().starts_with(&prefix))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        batches.iter().any(|m| mentioning(m) == 2),
        "one batch lists both: {batches:?}"
    );

    // ONCE: more cycles and a restart announce nothing new.
    for _ in 0..3 {
        http.post(server.url("/api/containers/watch"))
            .send()
            .await
            .unwrap();
    }
    settle().await;
    let store = server.kill();
    let server = Server::start_with_store(&env, store);
    http.post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    settle().await;
    let count = |log: &Arc<Mutex<Vec<(String, Value)>>>| {
        messages(log, "/ntfy")
            .iter()
            .filter(|m| {
                m["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .count()
    };
    assert_eq!(count(&log), 1, "announced once across cycles and a restart");

    // A newer candidate is announced again.
    let newest = TestImage::build(&prefix, "3.0.0");
    newest.push();
    http.post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    settle().await;
    assert_eq!(count(&log), 2);
    let last = messages(&log, "/ntfy")
        .into_iter()
        .rev()
        .find(|m| {
            m["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&prefix)
        })
        .unwrap();
    assert_eq!(
        last["message"],
        format!("{prefix}-a 1.0.0 -> 3.0.0 (major)")
    );

    // Running a trigger by hand sends now; an unknown trigger is 404.
    let response = http
        .post(server.url(&format!("/api/containers/{}/triggers/ntfy/one", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}");
    assert_eq!(count(&log), 3);
    let outbox: Value = server
        .get_json("/api/notifications/outbox?status=delivered")
        .await;
    assert!(
        outbox["counts"]["delivered"].as_u64().unwrap() >= 3,
        "{outbox}"
    );
    assert_eq!(outbox["counts"]["deadLetter"], 0);
    assert!(
        outbox["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "delivered")
    );
    assert_eq!(
        http.get(server.url("/api/notifications/outbox?status=lost"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    // Each trigger has a test action.
    let before = count(&log);
    let tested = http
        .post(server.url("/api/triggers/ntfy/one"))
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 200);
    let sample = messages(&log, "/ntfy").into_iter().last().unwrap();
    assert_eq!(sample["message"], "drydock-test 1.0.0 -> 1.1.0 (minor)");
    assert_eq!(count(&log), before, "the sample is not one of ours");
    let bad = http
        .post(server.url("/api/triggers/ntfy/one"))
        .header("Content-Type", "application/json")
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        http.post(server.url("/api/triggers/ntfy/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let missing = http
        .post(server.url(&format!("/api/containers/{}/triggers/ntfy/nope", a.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    drop(newest);
    drop(server);
}

#[tokio::test]
async fn mqtt_publishes_every_watched_container_for_home_assistant() {
    let prefix = unique("mqtt");
    let current = TestImage::build(&prefix, "1.0.0");
    current.push();
    let _container = TestContainer::run(
        &format!("{prefix}-app"),
        &current.reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );

    let broker = TestService::mosquitto();
    let port = broker.port;
    let url = format!("mqtt://127.0.0.1:{port}");
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        ("DD_NOTIFICATION_MQTT_HA_URL", url.as_str()),
        ("DD_NOTIFICATION_MQTT_HA_HASS_ENABLED", "true"),
    ]);
    // Other tests run at the same time: wait for our container's state rather than a fixed time.
    let wanted = format!("dd/container/local/{prefix}-app ");
    let mut text = String::new();
    for _ in 0..10 {
        let read = std::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                "#",
                "-v",
                "-W",
                "2",
            ])
            .output()
            .expect("mosquitto_sub");
        text = String::from_utf8_lossy(&read.stdout).into_owned();
        if text.lines().any(|l| l.starts_with(&wanted)) {
            break;
        }
    }
    let state_line = text
        .lines()
        .find(|l| l.starts_with(&wanted))
        .unwrap_or_else(|| panic!("no state for an up-to-date container: {text}"));
    let payload: Value = serde_json::from_str(state_line.split_once(' ').unwrap().1).unwrap();
    assert_eq!(payload["image_tag_value"], "1.0.0");
    assert_eq!(payload["update_available"], false);
    assert!(
        text.contains(&format!(
            "homeassistant/update/dd_container_local_{prefix}-app/config "
        )),
        "{text}"
    );
    drop(server);
    drop(broker);
}
