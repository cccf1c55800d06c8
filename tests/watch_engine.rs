//! The watcher against the real test environment: Docker engine (API 1.41 here), real registry,
//! containers made with the docker CLI, a sled store of its own per test. Nothing is faked.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use drydock_core::model::{Container, ContainerStatus, KindOfUpdate};
use drydock_core::ports::Store;
use drydock_core::version::SemverDiff;
use drydock_docker::{ConnectionConfig, DockerRuntime};
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_store_sled::SledStore;
use drydock_testkit::engine::{TestContainer, TestImage, docker, must, stop_engine, unique};
use drydock_watch::SystemClock;
use drydock_watch::{Watcher, WatcherSettings};
use tokio::sync::RwLock;

/// Tests share one engine; the one that restarts it runs alone.
static ENGINE: RwLock<()> = RwLock::const_new(());

async fn new_watcher(settings: WatcherSettings) -> (Arc<Watcher>, Arc<SledStore>) {
    let runtime = DockerRuntime::open(&ConnectionConfig::default())
        .await
        .unwrap();
    let options = ClientOptions {
        max_retries: 0,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let registry = Arc::new(RegistryClient::new(Vec::new(), options));
    let store = Arc::new(SledStore::temporary().unwrap());
    let watcher = Watcher::new(
        settings,
        Arc::new(runtime),
        registry,
        store.clone(),
        Arc::new(SystemClock),
    );
    (Arc::new(watcher), store)
}

fn find<'a>(containers: &'a [Container], name: &str) -> &'a Container {
    containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| {
            panic!(
                "{name} is not in {:?}",
                containers.iter().map(|c| &c.name).collect::<Vec<_>>()
            )
        })
}

const SLEEP: &str = "sleep 3600";

#[tokio::test]
async fn a_cycle_over_real_containers() {
    let _engine = ENGINE.read().await;
    let repo = unique("cycle");
    let images: Vec<TestImage> = ["1.0.0", "1.1.0", "2.0.0", "v1.0.0", "1.0.1"]
        .iter()
        .map(|tag| TestImage::build(&repo, tag))
        .collect();
    for image in &images {
        image.push();
    }
    let current = &images[0].reference;
    let name = |suffix: &str| format!("{repo}-{suffix}");
    let _plain = TestContainer::run(&name("plain"), current, &[], SLEEP);
    let _skipped = TestContainer::run(&name("skipped"), current, &[("dd.watch", "false")], SLEEP);
    let _include = TestContainer::run(
        &name("include"),
        current,
        &[("dd.tag.include", r"^1\.")],
        SLEEP,
    );
    let _exclude = TestContainer::run(
        &name("exclude"),
        current,
        &[("dd.tag.exclude", "^2")],
        SLEEP,
    );
    let _transform = TestContainer::run(
        &name("transform"),
        &images[3].reference,
        &[
            ("dd.tag.transform", "^v(.*)$ => $1"),
            ("dd.tag.include", r"^v?1\.0\."),
        ],
        SLEEP,
    );
    let _no_transform = TestContainer::run(&name("no-transform"), &images[3].reference, &[], SLEEP);
    let stopped = TestContainer::run(&name("stopped"), current, &[], SLEEP);
    must(&["stop", "-t", "0", &stopped.id]);

    // A locally built image that was never pushed: no registry to ask.
    let local = TestImage::build(&unique("local"), "1.0.0");
    let _local = TestContainer::run(&name("local"), &local.reference, &[], SLEEP);

    // An image whose registry is down (nothing listens on 5999).
    let down_ref = format!("127.0.0.1:5999/drydock-test/{repo}:1.0.0");
    must(&["tag", current, &down_ref]);
    let _down = TestContainer::run(&name("down"), &down_ref, &[], SLEEP);

    // A container started by digest, from an image that has no tag any more.
    let pinned_repo = unique("pinned");
    let pinned_image = TestImage::build(&pinned_repo, "1.0.0");
    let digest = pinned_image.push();
    let by_digest = format!("127.0.0.1:5000/drydock-test/{pinned_repo}@{digest}");
    must(&["rmi", &pinned_image.reference]);
    must(&["pull", "-q", &by_digest]);
    let _pinned = TestContainer::run(&name("pinned"), &by_digest, &[], SLEEP);

    let (watcher, _store) = new_watcher(WatcherSettings::new("local")).await;
    let report = watcher.watch_all().await.unwrap();
    let ours: Vec<Container> = report
        .containers
        .into_iter()
        .filter(|c| c.name.starts_with(&repo))
        .collect();

    let plain = find(&ours, &name("plain"));
    assert!(plain.error.is_none(), "{:?}", plain.error);
    assert!(plain.update_available);
    assert_eq!(plain.update_kind.semver_diff, Some(SemverDiff::Major));
    assert_eq!(plain.result.as_ref().unwrap().tag.as_deref(), Some("2.0.0"));
    assert_eq!(plain.image.registry.url, "http://127.0.0.1:5000/v2");
    assert!(
        ours.iter().all(|c| c.name != name("skipped")),
        "dd.watch=false is skipped"
    );
    assert!(
        ours.iter().all(|c| c.name != name("stopped")),
        "stopped only with WATCHALL"
    );
    assert_eq!(
        find(&ours, &name("include"))
            .update_kind
            .remote_value
            .as_deref(),
        Some("1.1.0")
    );
    assert_eq!(
        find(&ours, &name("exclude"))
            .update_kind
            .remote_value
            .as_deref(),
        Some("1.1.0")
    );
    let transformed = find(&ours, &name("transform"));
    assert_eq!(
        transformed.update_kind.remote_value.as_deref(),
        Some("1.0.1"),
        "the transform makes v1.0.0 comparable with 1.0.1"
    );
    let untransformed = find(&ours, &name("no-transform"));
    assert!(
        !untransformed.update_available,
        "v-prefixed tags stay in their family: {untransformed:?}"
    );

    let local = find(&ours, &name("local"));
    assert!(local.error.is_none() && !local.update_available && local.result.is_none());
    let pinned = find(&ours, &name("pinned"));
    assert!(
        pinned.error.is_none() && !pinned.update_available,
        "{pinned:?}"
    );
    assert_eq!(
        pinned.image.tag.value, digest,
        "a container run by digest is named by it"
    );
    let down = find(&ours, &name("down"));
    let message = &down
        .error
        .as_ref()
        .expect("an unreachable registry is a container error")
        .message;
    assert!(message.contains("127.0.0.1:5999"), "{message}");
    assert!(!down.update_available);

    // WATCHALL adds the stopped container; WATCHBYDEFAULT=false keeps only dd.watch=true.
    let (all, _) = new_watcher(WatcherSettings {
        watch_all: true,
        ..WatcherSettings::new("all")
    })
    .await;
    let report = all.watch_all().await.unwrap();
    let stopped = find(&report.containers, &name("stopped"));
    assert_eq!(stopped.status, ContainerStatus::Exited);
    let opted = TestContainer::run(&name("opted"), current, &[("dd.watch", "true")], SLEEP);
    let (opt_in, _) = new_watcher(WatcherSettings {
        watch_by_default: false,
        ..WatcherSettings::new("optin")
    })
    .await;
    let names: Vec<String> = opt_in
        .watch_all()
        .await
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with(&repo))
        .collect();
    assert_eq!(names, std::slice::from_ref(&opted.name));
    let _ = docker(&["rmi", "-f", &down_ref, &by_digest]);
}

#[tokio::test]
async fn a_re_pushed_tag_is_a_digest_update() {
    let _engine = ENGINE.read().await;
    let repo = unique("digest");
    let old = TestImage::build(&repo, "latest");
    old.push();
    let container = TestContainer::run(&format!("{repo}-app"), &old.reference, &[], SLEEP);
    let (watcher, _) = new_watcher(WatcherSettings::new("local")).await;
    let before = watcher.watch_one(&container.id).await.unwrap();
    assert!(!before.update_available, "{before:?}");

    // Re-push `latest` with other content; the running container keeps the old image.
    let newer = TestImage::build(&repo, "latest");
    let new_digest = newer.push();
    let after = watcher.watch_one(&container.id).await.unwrap();
    assert!(after.update_available, "{after:?}");
    assert_eq!(after.update_kind.kind, KindOfUpdate::Digest);
    assert_eq!(
        after.update_kind.remote_value.as_deref(),
        Some(new_digest.as_str())
    );
    drop(newer);
}

/// Waits for `check`, failing the test after `limit` (a bound against hanging, not a figure).
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} was not reflected within {limit:?}");
}

/// Waits until the watcher's event follower applies engine events: renames `probe` (a container
/// the store knows) until the store has its new name. An event sent before the follower has
/// subscribed is lost, so a fixed wait would be a race.
async fn until_following(store: &SledStore, probe: &str, prefix: &str) {
    for attempt in 0..30 {
        let name = format!("{prefix}-probe{attempt}");
        must(&["rename", probe, &name]);
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(2) {
            if store
                .container(probe)
                .await
                .unwrap()
                .is_some_and(|c| c.name == name)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("the event follower never applied a rename of {probe}");
}

/// Each engine event reaches the (sled) store. How fast is the benchmark's business: the bound
/// here only keeps a broken build from hanging.
#[tokio::test]
async fn engine_events_reach_the_store() {
    let _engine = ENGINE.read().await;
    let repo = unique("events");
    let image = TestImage::build(&repo, "1.0.0");
    image.push();
    let settings = WatcherSettings {
        watch_all: true,
        ..WatcherSettings::new("local")
    };
    let (watcher, store) = new_watcher(settings).await;
    let probe = TestContainer::run(&format!("{repo}-probe"), &image.reference, &[], SLEEP);
    watcher.watch_one(&probe.id).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn({
        let watcher = watcher.clone();
        async move { watcher.follow_events(stopped).await }
    });
    until_following(&store, &probe.id, &repo).await;
    let limit = Duration::from_secs(30);

    let container = TestContainer::run(&format!("{repo}-app"), &image.reference, &[], SLEEP);
    let id = container.id.clone();
    let stored =
        |store: Arc<SledStore>, id: String| async move { store.container(&id).await.unwrap() };
    eventually("start", limit, || {
        let s = stored(store.clone(), id.clone());
        async move {
            s.await
                .is_some_and(|c| c.status == ContainerStatus::Running)
        }
    })
    .await;
    must(&["stop", "-t", "0", &id]);
    eventually("stop", limit, || {
        let s = stored(store.clone(), id.clone());
        async move { s.await.is_some_and(|c| c.status == ContainerStatus::Exited) }
    })
    .await;
    let renamed = format!("{repo}-renamed");
    must(&["rename", &id, &renamed]);
    eventually("rename", limit, || {
        let s = stored(store.clone(), id.clone());
        let renamed = renamed.clone();
        async move { s.await.is_some_and(|c| c.name == renamed) }
    })
    .await;
    must(&["rm", "-f", &id]);
    eventually("removal", limit, || {
        let s = stored(store.clone(), id.clone());
        async move { s.await.is_none() }
    })
    .await;
    let _ = stop.send(true);
    follower.await.unwrap();
}

#[tokio::test]
async fn an_engine_restart_is_survived() {
    let _engine = ENGINE.write().await;
    let repo = unique("restart");
    let image = TestImage::build(&repo, "1.0.0");
    image.push();
    let (watcher, store) = new_watcher(WatcherSettings::new("local")).await;
    let probe = TestContainer::run(&format!("{repo}-probe"), &image.reference, &[], SLEEP);
    watcher.watch_one(&probe.id).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn({
        let watcher = watcher.clone();
        async move { watcher.follow_events(stopped).await }
    });
    until_following(&store, &probe.id, &repo).await;

    // Stop the engine, then bring it back the way the test environment starts it.
    let stopped = stop_engine();
    assert!(watcher.watch_all().await.is_err(), "no engine, no cycle");
    stopped.start();

    let container = TestContainer::run(&format!("{repo}-after"), &image.reference, &[], SLEEP);
    let id = container.id.clone();
    eventually(
        "a container started after the restart",
        Duration::from_secs(45),
        || {
            let store = store.clone();
            let id = id.clone();
            async move { store.container(&id).await.unwrap().is_some() }
        },
    )
    .await;
    let report = watcher.watch_all().await.unwrap();
    assert!(
        report
            .containers
            .iter()
            .any(|c| c.id == container.id && c.error.is_none())
    );
    let _ = stop.send(true);
    follower.await.unwrap();
}
