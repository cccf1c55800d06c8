//! Crash safety: drydock is killed with SIGKILL at 100 random moments while watches and policy
//! changes run; after each restart the store opens and every acknowledged policy change is there.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use drydock_testkit::engine::{TestContainer, TestImage, unique};
use serde_json::{Value, json};

use crate::server::{Server, client};

const RUNS: u32 = 100;

#[tokio::test]
async fn acknowledged_policy_changes_survive_sigkill() {
    let prefix = unique("crash");
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

    // The start-up watch stores the container.
    let server = Server::start(&env);
    let started = Instant::now();
    loop {
        let list: Value = server.get_json("/api/containers").await;
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == container.id.as_str())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the start-up watch did not store the container"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut store = server.kill();

    // A cheap deterministic generator: the kill moments differ from run to run of the loop.
    let mut seed: u64 = u64::from(std::process::id()) | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut change: i64 = 0;
    let mut killed_mid_flight = 0;
    for run in 0..RUNS {
        let server = Server::start_with_store(&env, store);
        // The store opened and reads back.
        let list: Value = server.get_json("/api/containers").await;
        let ours = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == container.id.as_str())
            .cloned();
        let ours =
            ours.unwrap_or_else(|| panic!("run {run}: the container is gone from the store"));
        if change > 0 {
            let stored = ours["updatePolicy"]["snoozeUntil"]
                .as_str()
                .map(str::to_owned);
            let acknowledged = snooze_date(change - 1);
            let in_flight = snooze_date(change);
            assert!(
                stored.as_deref() == Some(acknowledged.as_str())
                    || stored.as_deref() == Some(in_flight.as_str()),
                "run {run}: stored {stored:?}, last acknowledged {acknowledged}"
            );
        }

        // Policy changes and watches until a random moment, then SIGKILL.
        let deadline = Instant::now() + Duration::from_millis(20 + next() % 300);
        let url = server.url(&format!("/api/containers/{}/update-policy", container.id));
        let watch = server.url(&format!("/api/containers/{}/watch", container.id));
        let mut acknowledged_this_run = false;
        while Instant::now() < deadline {
            let body = json!({"action": "snooze", "snoozeUntil": snooze_date(change)});
            let request = http.patch(&url).json(&body).send();
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, request).await {
                Ok(Ok(response)) if response.status() == 200 => {
                    change += 1;
                    acknowledged_this_run = true;
                }
                Ok(Ok(response)) => {
                    panic!("run {run}: policy change answered {}", response.status())
                }
                // Killed mid-request: not acknowledged.
                Ok(Err(_)) | Err(_) => {
                    killed_mid_flight += 1;
                    break;
                }
            }
            if next() % 3 == 0 {
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), http.post(&watch).send()).await;
            }
        }
        assert!(
            acknowledged_this_run || run > 0 || change > 0,
            "run {run}: no change acknowledged"
        );
        store = server.kill();
    }
    let _ = std::fs::remove_dir_all(&store);
    assert!(
        change >= i64::from(RUNS),
        "at least one acknowledged change per run: {change}"
    );
    eprintln!(
        "crash test: {RUNS} SIGKILLs, {change} acknowledged policy changes, {killed_mid_flight} kills mid-request"
    );
}

fn snooze_date(n: i64) -> String {
    let base = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).single().unwrap();
    (base + chrono::Duration::seconds(n)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
