//! The scheduled watch (`Watcher::run`'s cron loop) through the binary: no API call and no
//! engine event asks for a watch, yet a tag pushed after start-up is found on the schedule.

use std::time::{Duration, Instant};

use drydock_testkit::engine::{TestContainer, TestImage, unique};
use serde_json::Value;

use crate::server::Server;

#[tokio::test]
async fn the_cron_finds_a_tag_pushed_after_start_up() {
    let repo = unique("e2e-cron");
    let images = TestImage::pushed(&repo, &["1.0.0"]);
    let name = unique("e2e-cron-c");
    let container = TestContainer::run(
        &name,
        &images[0].reference,
        &[("dd.watch", "true")],
        "sleep 3600",
    );
    let server = Server::start(&[
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false"),
        // Every 2 s (croner reads a sixth field as seconds), no jitter; no engine events, so
        // only the schedule watches.
        ("DD_WATCHER_LOCAL_CRON", "*/2 * * * * *"),
        ("DD_WATCHER_LOCAL_JITTER", "0"),
        ("DD_WATCHER_LOCAL_WATCHEVENTS", "false"),
    ]);
    let path = format!("/api/containers/{}", container.id);
    let stored = |c: &Value| c["result"]["tag"].as_str().map(str::to_owned);
    // The start-up watch: current on 1.0.0.
    let until = |what: &'static str, want: &'static str| {
        let server = &server;
        let path = path.clone();
        async move {
            let started = Instant::now();
            loop {
                let c = server.get_json(&path).await;
                if stored(&c).as_deref() == Some(want) {
                    return c;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "{what}: {c}\n{}",
                    server.logs()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let first = until("the start-up watch", "1.0.0").await;
    assert_eq!(first["updateAvailable"], false, "{first}");
    let _newer = TestImage::pushed(&repo, &["1.1.0"]);
    let found = until("a scheduled watch after the push", "1.1.0").await;
    assert_eq!(found["updateAvailable"], true, "{found}");
    assert_eq!(found["updateKind"]["semverDiff"], "minor", "{found}");
    assert!(
        server.logs().matches("watch cycle done").count() >= 2,
        "more than the start-up cycle ran"
    );
}
