//! Crash safety: drydock is killed with SIGKILL at random moments of watch cycles and of policy
//! writes (75 of each, in a seeded random order; `updates` adds 50 kills during updates). After
//! each restart the store opens, every acknowledged (2xx-answered) write is there, every
//! container is still stored under its own name, and no update operation is left open.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use drydock_testkit::engine::{TestContainer, TestImage, docker, must, unique};
use serde_json::{Value, json};

use crate::seeded::Seeded;
use crate::server::{Server, client};

const WATCH_KILLS: usize = 75;
const POLICY_KILLS: usize = 75;
const CONTAINERS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moment {
    WatchCycle,
    PolicyWrite,
}

/// The newer tags a test pushes (`1.{n}.0`, all the same image), removed from the engine at the
/// end; the registry keeps them, like every test's images.
struct PushedTags {
    repo: String,
    source: String,
    pushed: Vec<String>,
}

impl PushedTags {
    fn push(&mut self, minor: u64) -> String {
        let tag = format!("{}:1.{minor}.0", self.repo);
        must(&["tag", &self.source, &tag]);
        must(&["push", "-q", &tag]);
        self.pushed.push(tag);
        format!("1.{minor}.0")
    }
}

impl Drop for PushedTags {
    fn drop(&mut self) {
        for tag in &self.pushed {
            let _ = docker(&["rmi", tag]);
        }
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_during_watches_and_policy_changes() {
    let mut rng = Seeded::from_env("crash");
    let seed = rng.seed;
    let prefix = unique("crash");
    let image = TestImage::build(&prefix, "1.0.0");
    image.push();
    let newer = TestImage::build(&prefix, "1.1.0");
    newer.push();
    let mut tags = PushedTags {
        repo: newer
            .reference
            .rsplit_once(':')
            .map(|(repo, _)| repo.to_owned())
            .unwrap(),
        source: newer.reference.clone(),
        pushed: Vec::new(),
    };
    let containers: Vec<TestContainer> = (0..CONTAINERS)
        .map(|i| {
            TestContainer::run(
                &format!("{prefix}-app{i}"),
                &image.reference,
                &[("dd.watch", "true")],
                "sleep 3600",
            )
        })
        .collect();
    let ids: Vec<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    let env = [
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
    ];
    let http = client();

    // The start-up watch stores the containers with the update to 1.1.0.
    let server = Server::start(&env);
    let started = Instant::now();
    loop {
        let list: Value = server.get_json("/api/containers").await;
        let found = ours(&list, &ids);
        if found
            .iter()
            .all(|c| c.is_some_and(|c| c["result"]["tag"] == "1.1.0"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the start-up watch did not store the containers: {list}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut store = server.kill();

    let mut moments = [
        vec![Moment::WatchCycle; WATCH_KILLS],
        vec![Moment::PolicyWrite; POLICY_KILLS],
    ]
    .concat();
    rng.shuffle(&mut moments);
    // The last tag a cycle acknowledged (a 200 from POST /api/containers/watch), the newest
    // pushed, and what each container's record held at the last restart.
    let mut acknowledged_minor: u64 = 1;
    let mut pushed_minor: u64 = 1;
    let mut seen_minor = vec![1_u64; CONTAINERS];
    // Policy changes acknowledged so far; change `n` snoozes until `snooze_date(n)`.
    let mut changes: i64 = 0;
    let mut acknowledged_cycles = 0;
    let mut killed_mid_flight = [0_u32; 2];
    let wall = Instant::now();
    for (run, moment) in moments.iter().copied().enumerate() {
        let server = Server::start_with_store(&env, store);
        let context = format!("run {run} ({moment:?}, seed {seed})");

        // The store opened, and every acknowledged write reads back.
        let response = http
            .get(server.url("/api/containers"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{context}\n{}", server.logs());
        let list: Value = response.json().await.unwrap();
        for ((id, stored), seen) in ids.iter().zip(ours(&list, &ids)).zip(&mut seen_minor) {
            let stored =
                stored.unwrap_or_else(|| panic!("{context}: container {id} is gone: {list}"));
            let tag = stored["result"]["tag"].as_str().unwrap_or_default();
            let minor = tag
                .strip_prefix("1.")
                .and_then(|t| t.strip_suffix(".0"))
                .and_then(|m| m.parse::<u64>().ok());
            // At least what a cycle acknowledged, at most what was pushed (a killed cycle may have
            // stored some), and never older than what a previous restart read.
            assert!(
                minor.is_some_and(|m| m >= acknowledged_minor.max(*seen) && m <= pushed_minor),
                "{context}: {id} stored with {tag}; acknowledged 1.{acknowledged_minor}.0, read before 1.{seen}.0, newest 1.{pushed_minor}.0"
            );
            *seen = minor.unwrap_or_default();
            assert!(
                !stored["name"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("-old-"),
                "{context}: {stored}"
            );
        }
        if changes > 0 {
            let first = ours(&list, &ids)[0].unwrap();
            let stored = first["updatePolicy"]["snoozeUntil"].as_str();
            let last = snooze_date(changes - 1);
            let in_flight = snooze_date(changes);
            assert!(
                stored == Some(last.as_str()) || stored == Some(in_flight.as_str()),
                "{context}: stored snooze {stored:?}, last acknowledged {last}"
            );
        }
        let operations = server.get_json("/api/update-operations").await;
        assert_eq!(operations["active"], 0, "{context}: {operations}");

        // Writes of one kind until a random moment, then SIGKILL.
        let deadline = Instant::now() + Duration::from_millis(10 + rng.below(400));
        match moment {
            Moment::WatchCycle => {
                pushed_minor += 1;
                let tag = tags.push(pushed_minor);
                let url = server.url("/api/containers/watch");
                while Instant::now() < deadline {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(remaining, http.post(&url).send()).await {
                        Ok(Ok(response)) => {
                            let status = response.status();
                            let body: Value = response.json().await.unwrap_or_default();
                            assert_eq!(status, 200, "{context}: watch answered {body}");
                            for c in ours(&body, &ids) {
                                let c = c.unwrap_or_else(|| panic!("{context}: {body}"));
                                assert_eq!(c["result"]["tag"], tag.as_str(), "{context}");
                            }
                            acknowledged_minor = pushed_minor;
                            acknowledged_cycles += 1;
                        }
                        Ok(Err(_)) | Err(_) => {
                            killed_mid_flight[0] += 1;
                            break;
                        }
                    }
                }
            }
            Moment::PolicyWrite => {
                let url = server.url(&format!("/api/containers/{}/update-policy", ids[0]));
                let watch = server.url(&format!("/api/containers/{}/watch", ids[0]));
                while Instant::now() < deadline {
                    let body = json!({"action": "snooze", "snoozeUntil": snooze_date(changes)});
                    let request = http.patch(&url).json(&body).send();
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(remaining, request).await {
                        Ok(Ok(response)) if response.status() == 200 => changes += 1,
                        Ok(Ok(response)) => {
                            panic!("{context}: policy change answered {}", response.status())
                        }
                        // Killed mid-request: not acknowledged.
                        Ok(Err(_)) | Err(_) => {
                            killed_mid_flight[1] += 1;
                            break;
                        }
                    }
                    // Watches of the container race the policy writes.
                    if rng.below(3) == 0 {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(50),
                            http.post(&watch).send(),
                        )
                        .await;
                    }
                }
            }
        }
        store = server.kill();
    }
    let _ = std::fs::remove_dir_all(&store);
    eprintln!(
        "crash (seed {seed}): {WATCH_KILLS} kills during watch cycles ({acknowledged_cycles} cycles acknowledged, {} killed mid-cycle), {POLICY_KILLS} during policy writes ({changes} changes acknowledged, {} killed mid-request), {:.1} s",
        killed_mid_flight[0],
        killed_mid_flight[1],
        wall.elapsed().as_secs_f64()
    );
    // The kills landed in the middle of writes, and writes were acknowledged between them: the
    // assertions above had something to check.
    assert!(
        killed_mid_flight.iter().all(|n| *n > 0),
        "seed {seed}: {killed_mid_flight:?}"
    );
    assert!(
        acknowledged_cycles > 0 && changes > 0,
        "seed {seed}: {acknowledged_cycles} cycles, {changes} policy changes acknowledged"
    );
}

/// Our containers in a listing, by id, in the order of `ids`.
fn ours<'a>(list: &'a Value, ids: &[&str]) -> Vec<Option<&'a Value>> {
    ids.iter()
        .map(|id| {
            list.as_array()
                .into_iter()
                .flatten()
                .find(|c| c["id"] == *id)
        })
        .collect()
}

fn snooze_date(n: i64) -> String {
    let base = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).single().unwrap();
    (base + chrono::Duration::seconds(n)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
