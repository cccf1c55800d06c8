//! The watch cycle over the testkit's adapters: what a cycle decides, stores and announces.
//! (The same cycle runs against a real engine and registry in `tests/engine.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use drydock_core::model::{ContainerStatus, KindOfUpdate};
use drydock_core::policy::{PolicyChange, UpdatePolicy};
use drydock_core::ports::{ImageDetails, RegistryError, RuntimeEventKind, Store};
use drydock_core::version::SemverDiff;
use drydock_testkit::{FakeRuntime, InMemoryRegistry, InMemoryStore, ManualClock};
use drydock_watch::{WatchEvent, Watcher, WatcherSettings};

/// A well-formed sha256 digest derived from a name (FNV-1a, repeated).
fn digest(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("sha256:{hash:016x}{hash:016x}{hash:016x}{hash:016x}")
}

struct World {
    runtime: Arc<FakeRuntime>,
    registry: Arc<InMemoryRegistry>,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    watcher: Arc<Watcher>,
}

fn world(settings: WatcherSettings) -> World {
    let runtime = Arc::new(FakeRuntime::new());
    let registry = Arc::new(InMemoryRegistry::new());
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let watcher = Arc::new(Watcher::new(
        settings,
        runtime.clone(),
        registry.clone(),
        store.clone(),
        clock.clone(),
    ));
    World {
        runtime,
        registry,
        store,
        clock,
        watcher,
    }
}

impl World {
    /// Pushes tags (each with its own digest) and runs a container on the first.
    fn app(&self, name: &str, repo: &str, tags: &[&str], labels: &[(&str, &str)]) -> String {
        let image = format!("registry.example/{repo}:{}", tags[0])
            .parse()
            .unwrap();
        for tag in tags {
            self.registry
                .push(&image, tag, &digest(&format!("{repo}-{tag}")));
        }
        self.runtime.add_image(ImageDetails {
            id: format!("sha256:local-{repo}-{}", tags[0]),
            repo_tags: vec![format!("registry.example/{repo}:{}", tags[0])],
            repo_digests: vec![format!(
                "registry.example/{repo}@{}",
                digest(&format!("{repo}-{}", tags[0]))
            )],
            os: "linux".into(),
            architecture: "amd64".into(),
            ..ImageDetails::default()
        });
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.runtime.add_container(
            name,
            &format!("registry.example/{repo}:{}", tags[0]),
            labels,
            ContainerStatus::Running,
        )
    }
}

#[tokio::test]
async fn a_cycle_classifies_each_container() {
    let w = world(WatcherSettings::new("local"));
    w.app("major", "major", &["1.2.3", "1.2.4", "2.0.0"], &[]);
    w.app("minor", "minor", &["1.2.3", "1.3.0"], &[]);
    w.app("current", "current", &["2.0.0", "1.9.0"], &[]);
    w.app("floating", "floating", &["latest"], &[]);
    w.app(
        "filtered",
        "filtered",
        &["1.2.3", "1.2.4", "2.0.0"],
        &[("dd.tag.include", r"^1\.")],
    );
    let report = w.watcher.watch_all().await.unwrap();
    let by_name = |n: &str| {
        report
            .containers
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .clone()
    };

    let major = by_name("major");
    assert!(major.update_available);
    assert_eq!(major.update_kind.kind, KindOfUpdate::Tag);
    assert_eq!(major.update_kind.semver_diff, Some(SemverDiff::Major));
    assert_eq!(major.result.unwrap().tag.as_deref(), Some("2.0.0"));
    assert_eq!(
        by_name("minor").update_kind.semver_diff,
        Some(SemverDiff::Minor)
    );
    assert_eq!(
        by_name("filtered").update_kind.remote_value.as_deref(),
        Some("1.2.4")
    );
    let current = by_name("current");
    assert!(!current.update_available);
    assert_eq!(current.result.unwrap().tag.as_deref(), Some("2.0.0"));

    // `latest` re-pushed with other content: a digest update.
    let floating = by_name("floating");
    assert!(!floating.update_available);
    let image = "registry.example/floating:latest".parse().unwrap();
    w.registry
        .push(&image, "latest", &digest("floating-latest-v2"));
    let report = w.watcher.watch_all().await.unwrap();
    let floating = report
        .containers
        .iter()
        .find(|c| c.name == "floating")
        .unwrap();
    assert!(floating.update_available);
    assert_eq!(floating.update_kind.kind, KindOfUpdate::Digest);
    assert_eq!(
        floating.update_kind.remote_value,
        Some(digest("floating-latest-v2"))
    );
    assert_eq!(report.updates, 4);
}

#[tokio::test]
async fn containers_sharing_an_image_share_its_requests() {
    let w = world(WatcherSettings::new("local"));
    for i in 0..5 {
        w.app(&format!("web{i}"), "web", &["1.0.0", "1.1.0"], &[]);
    }
    w.watcher.watch_all().await.unwrap();
    let requests = w.registry.requests();
    assert_eq!(
        (
            requests.tag_lists,
            requests.manifest_heads,
            requests.manifest_gets
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn one_failing_registry_fails_only_its_containers_and_keeps_their_last_result() {
    let w = world(WatcherSettings::new("local"));
    w.app("healthy", "healthy", &["1.0.0", "1.1.0"], &[]);
    w.app("flaky", "flaky", &["1.0.0", "2.0.0"], &[]);
    let first = w.watcher.watch_all().await.unwrap();
    assert_eq!(first.errors, 0);

    let flaky = "registry.example/flaky:1.0.0".parse().unwrap();
    w.registry.break_repository(
        &flaky,
        RegistryError::Unavailable {
            registry: "registry.example".into(),
            reason: "HTTP 503".into(),
        },
    );
    let report = w.watcher.watch_all().await.unwrap();
    assert_eq!(report.errors, 1);
    let flaky = report
        .containers
        .iter()
        .find(|c| c.name == "flaky")
        .unwrap();
    assert!(flaky.error.as_ref().unwrap().message.contains("503"));
    assert!(flaky.update_available, "the last good result is kept");
    assert_eq!(flaky.result.as_ref().unwrap().tag.as_deref(), Some("2.0.0"));
    let healthy = report
        .containers
        .iter()
        .find(|c| c.name == "healthy")
        .unwrap();
    assert!(healthy.error.is_none() && healthy.update_available);
}

#[tokio::test]
async fn bad_labels_are_a_container_error_not_a_cycle_failure() {
    let w = world(WatcherSettings::new("local"));
    w.app(
        "broken",
        "broken",
        &["1.0.0"],
        &[("dd.tag.include", "(unclosed")],
    );
    w.app("fine", "fine", &["1.0.0", "1.0.1"], &[]);
    let report = w.watcher.watch_all().await.unwrap();
    let broken = report
        .containers
        .iter()
        .find(|c| c.name == "broken")
        .unwrap();
    assert!(broken.error.as_ref().unwrap().message.contains("(unclosed"));
    assert!(
        report
            .containers
            .iter()
            .any(|c| c.name == "fine" && c.update_available)
    );
}

#[tokio::test]
async fn watch_labels_and_defaults() {
    let w = world(WatcherSettings {
        watch_by_default: false,
        ..WatcherSettings::new("local")
    });
    w.app("opted-in", "a", &["1.0.0"], &[("dd.watch", "true")]);
    w.app("wud-opted-in", "b", &["1.0.0"], &[("wud.watch", "true")]);
    w.app("silent", "c", &["1.0.0"], &[]);
    let names: Vec<String> = w
        .watcher
        .watch_all()
        .await
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["opted-in", "wud-opted-in"]);

    let w = world(WatcherSettings::new("local"));
    w.app("skipped", "a", &["1.0.0"], &[("dd.watch", "false")]);
    w.app("watched", "b", &["1.0.0"], &[]);
    let names: Vec<String> = w
        .watcher
        .watch_all()
        .await
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["watched"]);
}

#[tokio::test]
async fn policies_suppress_and_events_announce() {
    let w = world(WatcherSettings::new("local"));
    w.app("app", "app", &["1.0.0", "1.1.0"], &[]);
    let mut events = w.watcher.subscribe();
    w.watcher.watch_all().await.unwrap();
    assert!(matches!(
        events.try_recv(),
        Ok(WatchEvent::ContainerAdded(_))
    ));
    assert!(matches!(events.try_recv(), Ok(WatchEvent::UpdateAvailable(c)) if c.name == "app"));

    // Skip the offered tag: no longer available; a newer candidate is offered again.
    let container = w.store.containers().await.unwrap().pop().unwrap();
    let mut policy = UpdatePolicy::default();
    policy
        .apply(
            PolicyChange::SkipCurrent,
            &container.update_kind,
            w.clock.now_for_test(),
        )
        .unwrap();
    w.store.save_policy("local/app", &policy).await.unwrap();
    let report = w.watcher.watch_all().await.unwrap();
    assert!(!report.containers[0].update_available);
    let image = "registry.example/app:1.0.0".parse().unwrap();
    w.registry.push(&image, "1.2.0", &digest("app-1.2.0"));
    let report = w.watcher.watch_all().await.unwrap();
    assert!(report.containers[0].update_available);
    assert_eq!(
        report.containers[0].update_kind.remote_value.as_deref(),
        Some("1.2.0")
    );
}

#[tokio::test]
async fn maturity_waits_from_first_sight() {
    let w = world(WatcherSettings::new("local"));
    w.app("app", "app", &["1.0.0", "1.1.0"], &[]);
    let policy = UpdatePolicy {
        maturity_mode: Some(drydock_core::policy::MaturityMode::Mature),
        maturity_min_age_days: Some(3),
        ..UpdatePolicy::default()
    };
    w.store.save_policy("local/app", &policy).await.unwrap();
    assert!(!w.watcher.watch_all().await.unwrap().containers[0].update_available);
    w.clock.advance(chrono::Duration::days(2));
    assert!(!w.watcher.watch_all().await.unwrap().containers[0].update_available);
    w.clock.advance(chrono::Duration::days(1));
    assert!(w.watcher.watch_all().await.unwrap().containers[0].update_available);
}

#[tokio::test]
async fn engine_events_are_applied_without_the_registry() {
    let w = world(WatcherSettings::new("local"));
    let id = w.app("app", "app", &["1.0.0", "1.1.0"], &[]);
    w.watcher.watch_all().await.unwrap();
    w.registry.reset_requests();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn({
        let watcher = w.watcher.clone();
        async move { watcher.follow_events(stop_rx).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    use drydock_core::ports::ContainerRuntime as _;
    w.runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    let exited = wait_for(|| async {
        w.store
            .container(&id)
            .await
            .unwrap()
            .is_some_and(|c| c.status == ContainerStatus::Exited)
    })
    .await;
    assert!(
        exited,
        "a watched container that stops stays listed, with its status, without WATCHALL"
    );
    // A cycle keeps it too, with its last result.
    let report = w.watcher.watch_all().await.unwrap();
    assert_eq!(report.removed, 0);
    let kept = w.store.container(&id).await.unwrap().unwrap();
    assert_eq!(
        (kept.status, kept.result.map(|r| r.tag)),
        (ContainerStatus::Exited, Some(Some("1.1.0".to_owned())))
    );
    w.registry.reset_requests();

    w.runtime.start_container(&id).await.unwrap();
    let back = wait_for(|| async {
        w.store
            .container(&id)
            .await
            .unwrap()
            .is_some_and(|c| c.status == ContainerStatus::Running)
    })
    .await;
    assert!(back);
    w.runtime.rename_container(&id, "renamed").await.unwrap();
    let renamed = wait_for(|| async {
        w.store
            .container(&id)
            .await
            .unwrap()
            .is_some_and(|c| c.name == "renamed")
    })
    .await;
    assert!(renamed);
    w.runtime.remove_container(&id, true).await.unwrap();
    assert!(wait_for(|| async { w.store.container(&id).await.unwrap().is_none() }).await);
    assert_eq!(
        w.registry.requests().tag_lists,
        0,
        "events about a known container never ask the registry"
    );

    // The engine restarts: events reconnect and a catch-up watch runs.
    w.runtime.disconnect();
    let id2 = w.app("late", "late", &["1.0.0"], &[]);
    w.runtime.reconnect();
    assert!(wait_for(|| async { w.store.container(&id2).await.unwrap().is_some() }).await);
    // An event is a prompt to look, not the truth: a `die` for a container the engine still
    // runs leaves it running in the store.
    w.runtime.emit(RuntimeEventKind::Die, &id2, Some("late"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.store.container(&id2).await.unwrap().map(|c| c.status),
        Some(ContainerStatus::Running)
    );
    let _ = stop_tx.send(true);
    follower.await.unwrap();
}

async fn wait_for<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

trait NowForTest {
    fn now_for_test(&self) -> chrono::DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> chrono::DateTime<Utc> {
        use drydock_core::ports::Clock as _;
        self.now()
    }
}

/// A registry whose platform manifests are rate limited a number of times.
struct ThrottledManifests {
    inner: Arc<InMemoryRegistry>,
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl drydock_core::ports::Registry for ThrottledManifests {
    async fn list_tags(
        &self,
        image: &drydock_core::image_ref::ImageReference,
    ) -> Result<Vec<String>, RegistryError> {
        self.inner.list_tags(image).await
    }
    async fn manifest_digest(
        &self,
        image: &drydock_core::image_ref::ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError> {
        self.inner.manifest_digest(image, reference).await
    }
    async fn platform_manifest(
        &self,
        image: &drydock_core::image_ref::ImageReference,
        reference: &str,
        platform: &drydock_core::model::Platform,
    ) -> Result<drydock_core::ports::PlatformManifest, RegistryError> {
        use std::sync::atomic::Ordering;
        if self.failures.load(Ordering::SeqCst) > 0 {
            self.failures.fetch_sub(1, Ordering::SeqCst);
            return Err(RegistryError::RateLimited {
                registry: "registry.example".into(),
                retry_after: None,
            });
        }
        self.inner
            .platform_manifest(image, reference, platform)
            .await
    }
    async fn image_config(
        &self,
        image: &drydock_core::image_ref::ImageReference,
        digest: &str,
    ) -> Result<drydock_core::ports::ImageConfig, RegistryError> {
        self.inner.image_config(image, digest).await
    }
}

/// Regression (found in review): a rate-limited platform lookup used to be remembered as "the
/// image changed", a false digest update on every later cycle.
#[tokio::test]
async fn a_throttled_platform_lookup_is_an_error_not_an_update() {
    let runtime = Arc::new(FakeRuntime::new());
    let memory = Arc::new(InMemoryRegistry::new());
    let registry = Arc::new(ThrottledManifests {
        inner: memory.clone(),
        failures: 2.into(),
    });
    let store = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let watcher = Watcher::new(
        WatcherSettings::new("local"),
        runtime.clone(),
        registry,
        store,
        clock,
    );

    let image = "registry.example/multi:latest".parse().unwrap();
    let amd64 = drydock_core::model::Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let arm64 = drydock_core::model::Platform {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: None,
    };
    let child = |d: &str| drydock_core::ports::PlatformManifest {
        index_digest: None,
        digest: digest(d),
        config_digest: digest(&format!("{d}-config")),
    };
    memory.push_index(
        &image,
        "latest",
        &digest("old-index"),
        vec![(amd64.clone(), child("amd64"))],
    );
    runtime.add_image(ImageDetails {
        id: "sha256:local-multi".into(),
        repo_tags: vec!["registry.example/multi:latest".into()],
        repo_digests: vec![format!("registry.example/multi@{}", digest("old-index"))],
        os: "linux".into(),
        architecture: "amd64".into(),
        ..ImageDetails::default()
    });
    runtime.add_container(
        "multi",
        "registry.example/multi:latest",
        BTreeMap::new(),
        ContainerStatus::Running,
    );
    // A new platform is added: the index digest changes, the amd64 image does not.
    memory.push_index(
        &image,
        "latest",
        &digest("new-index"),
        vec![(amd64, child("amd64")), (arm64, child("arm64"))],
    );

    let first = watcher.watch_all().await.unwrap();
    let multi = &first.containers[0];
    assert!(
        multi.error.is_some(),
        "a throttled lookup is an error: {multi:?}"
    );
    assert!(!multi.update_available);
    let second = watcher.watch_all().await.unwrap();
    let multi = &second.containers[0];
    assert!(
        multi.error.is_none() && !multi.update_available,
        "same amd64 image: no update: {multi:?}"
    );
}

/// Found by the e2e crash test: a cycle begun before a newer tag was pushed finished after a
/// cycle asked later, and stored its older result over the newer one.
#[tokio::test]
async fn a_cycle_asked_later_is_not_overwritten_by_an_older_one() {
    let w = world(WatcherSettings::new("local"));
    w.app("app", "app", &["1.0.0", "1.1.0"], &[]);
    // The older cycle reads the registry, then its answer is held back.
    w.registry.hold_next();
    let older = tokio::spawn({
        let watcher = w.watcher.clone();
        async move { watcher.watch_all().await }
    });
    let mut waited = 0;
    while w.registry.parked() == 0 || w.registry.requests().manifest_heads == 0 {
        assert!(waited < 1000, "the older cycle never asked the registry");
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += 1;
    }
    let image = "registry.example/app:1.0.0".parse().unwrap();
    w.registry.push(&image, "1.2.0", &digest("app-1.2.0"));
    let mut newer = tokio::spawn({
        let watcher = w.watcher.clone();
        async move { watcher.watch_all().await }
    });
    // Without the cycle lock the newer cycle finishes here, before the older one answers; with
    // it, it waits (the timeout only bounds that wait).
    let early = tokio::time::timeout(Duration::from_secs(1), &mut newer)
        .await
        .ok();
    w.registry.release();
    let older = older.await.unwrap().unwrap();
    let newer = match early {
        Some(finished) => finished,
        None => newer.await,
    }
    .unwrap()
    .unwrap();
    let tag = |c: &drydock_core::model::Container| c.result.as_ref().and_then(|r| r.tag.clone());
    assert_eq!(
        tag(&older.containers[0]).as_deref(),
        Some("1.1.0"),
        "read before the push"
    );
    assert_eq!(tag(&newer.containers[0]).as_deref(), Some("1.2.0"));
    let stored = w.store.containers().await.unwrap();
    assert_eq!(tag(&stored[0]).as_deref(), Some("1.2.0"), "{stored:?}");
}
