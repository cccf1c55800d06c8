//! A full disk under the store: drydock's store on a small tmpfs, filled until writes fail. Writes
//! then answer 507 with a message naming the store and what to do, the process keeps serving,
//! and after space is freed and drydock restarted, every write acknowledged before is there.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use drydock_testkit::engine::{TestContainer, TestImage, unique};
use serde_json::{Value, json};

use crate::server::{Server, client};

/// A tmpfs mounted for one test (the tests run as root), unmounted and removed on drop, panics
/// included.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("drydock-full-disk"));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount (the tests run as root)");
        assert!(status.success(), "mount -t tmpfs failed");
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process not yet reaped): detach it now, the kernel frees it later.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Writes `filler` until its file system is full.
fn fill(filler: &Path) {
    let mut file = std::fs::File::create(filler).unwrap();
    let chunk = vec![0_u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // What a partial chunk left: the last bytes, one at a time.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

fn snooze_date(n: i64) -> String {
    let base = Utc.with_ymd_and_hms(2099, 6, 1, 0, 0, 0).single().unwrap();
    (base + chrono::Duration::seconds(n)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_and_keeps_what_was_acknowledged() {
    let tmpfs = Tmpfs::mount("16m");
    let store_dir = tmpfs.0.join("store");
    let filler = tmpfs.0.join("filler");
    let prefix = unique("full-disk");
    let image = TestImage::build(&prefix, "1.0.0");
    image.push();
    let newer = TestImage::build(&prefix, "1.1.0");
    newer.push();
    let container = TestContainer::run(
        &format!("{prefix}-app"),
        &image.reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );
    let env = [
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
    ];
    let http = client();
    let server = Server::start_with_store(&env, store_dir.clone());
    let started = Instant::now();
    while !server
        .get_json("/api/containers")
        .await
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == container.id.as_str())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the start-up watch did not store the container\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Writes acknowledged while there is space; then the filler takes all of it, and the store's
    // own writes use up what is left of the pages it already has.
    let path = format!("/api/containers/{}/update-policy", container.id);
    let url = server.url(&path);
    let mut acknowledged: i64 = 0;
    for _ in 0..10 {
        let body = json!({"action": "snooze", "snoozeUntil": snooze_date(acknowledged)});
        let response = http.patch(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        acknowledged += 1;
    }
    fill(&filler);
    let refusal = loop {
        let body = json!({"action": "snooze", "snoozeUntil": snooze_date(acknowledged)});
        let response = http.patch(&url).json(&body).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status != 200 {
            break (status, body);
        }
        acknowledged += 1;
        assert!(
            acknowledged < 100_000,
            "the store never ran out of space\n{}",
            server.logs()
        );
    };

    // The refusal is a JSON error that says what happened and what to do.
    let (status, body) = refusal;
    assert_eq!(status, 507, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    for words in ["disk holding the store is full", "not saved", "restarted"] {
        assert!(message.contains(words), "{message}");
    }
    assert!(
        message.contains(&store_dir.display().to_string()),
        "names the store: {message}"
    );
    // Later writes are refused the same way; reads still answer; the process is up.
    let again = http
        .patch(&url)
        .json(&json!({"action": "snooze", "snoozeUntil": snooze_date(acknowledged + 1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 507);
    let list = http
        .get(server.url("/api/containers"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let watch = http
        .post(server.url("/api/containers/watch"))
        .send()
        .await
        .unwrap();
    let watch_status = watch.status();
    let watch_body: Value = watch.json().await.unwrap();
    assert!(
        watch_status == 507 || watch_status == 200,
        "{watch_status}: {watch_body}"
    );
    // Both answers are in the served API description, for clients generated from it.
    let document = server.get_json("/api/openapi.json").await;
    let documented = |method: &str, path: &str, status: u16| {
        document["paths"][path][method]["responses"]
            .get(status.to_string())
            .is_some()
    };
    assert!(
        documented("patch", "/api/containers/{id}/update-policy", 507),
        "the update-policy route's answers: {}",
        document["paths"]["/api/containers/{id}/update-policy"]["patch"]["responses"]
    );
    assert!(documented(
        "post",
        "/api/containers/watch",
        watch_status.as_u16()
    ));
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none(), "drydock exited");
    assert!(!server.logs().contains("panicked"), "{}", server.logs());

    // Space is freed and drydock restarted: every acknowledged write is there.
    std::fs::remove_file(&filler).unwrap();
    let store = server.kill();
    let server = Server::start_with_store(&env, store);
    let stored = server
        .get_json(&format!("/api/containers/{}", container.id))
        .await;
    let snooze = stored["updatePolicy"]["snoozeUntil"].as_str();
    // The refused write may have reached the disk before a later step of it failed.
    let last = snooze_date(acknowledged - 1);
    let refused = snooze_date(acknowledged);
    assert!(
        snooze == Some(last.as_str()) || snooze == Some(refused.as_str()),
        "{acknowledged} acknowledged, the last until {last}; stored: {stored}"
    );
    // And writes work again.
    let response = http
        .patch(server.url(&path))
        .json(&json!({"action": "snooze", "snoozeUntil": snooze_date(acknowledged + 2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", server.logs());
    eprintln!(
        "full disk: {acknowledged} policy writes acknowledged before the disk filled; then: {message}"
    );
    drop(server);
}
