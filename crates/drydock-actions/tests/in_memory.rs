//! The Docker update against the in-memory engine and store of `drydock-testkit`: a successful
//! update, every failure point and its rollback, failing rollbacks, crash recovery at every
//! journal phase, manual rollbacks to backups, concurrency and an unavailable store.
//!
//! Every test asserts what a user would see afterwards: which containers exist under which
//! names, which image each runs and whether it runs, and what the journal, the backups and the
//! audit log say.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_actions::{ActionSettings, KEEP_AUDIT, KEEP_OPERATIONS, UpdateError, Updater};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Container, ContainerStatus, KindOfUpdate, UpdateKind, UpdateResult};
use drydock_core::operation::{
    AuditEntry, AuditStatus, Operation, OperationKind, Phase, is_parked_name, parked_name,
};
use drydock_core::ports::{
    ContainerRuntime, ContainerSpec, ContainerSummary, EventStream, Health, ImageDetails,
    LogOptions, RuntimeError, Store, StoreError,
};
use drydock_testkit::contract::{ActionFixture, action_contract};
use drydock_testkit::{FakeRuntime, InMemoryStore, ManualClock};

const NAME: &str = "web";
const REPO: &str = "ghcr.io/acme/app";
const OLD: &str = "ghcr.io/acme/app:1.0.0";
const NEW: &str = "ghcr.io/acme/app:1.1.0";
const OLD_IMAGE_ID: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000a11";
const OLD_DIGEST: &str = "sha256:aaaa";

// ---------------------------------------------------------------------------------------------
// A scriptable wrapper around `FakeRuntime`.
// ---------------------------------------------------------------------------------------------

/// What [`Scripted`] does besides delegating to the fake engine.
#[derive(Debug, Default)]
struct Script {
    /// Calls seen so far, by method name.
    calls: HashMap<&'static str, u32>,
    /// The (1-based) call numbers of a method that fail.
    fail_at: HashMap<&'static str, Vec<u32>>,
    /// `container_settings` of a container running this image reports an extra field.
    tamper_image: Option<String>,
    /// Every call yields to the scheduler first, as a real engine's I/O would.
    yield_each: bool,
}

/// Delegates to a [`FakeRuntime`], failing chosen calls by their number (which `FakeRuntime::fail`
/// cannot: it fails only the next calls), altering the configuration the engine reports of a
/// container, or yielding on each call.
#[derive(Debug)]
struct Scripted {
    fake: Arc<FakeRuntime>,
    script: Mutex<Script>,
}

impl Scripted {
    fn new(fake: Arc<FakeRuntime>) -> Self {
        Self {
            fake,
            script: Mutex::default(),
        }
    }

    /// The `nth` call (counting from 1) of `call` fails.
    fn fail_nth(&self, call: &'static str, nth: u32) {
        self.script
            .lock()
            .unwrap()
            .fail_at
            .entry(call)
            .or_default()
            .push(nth);
    }

    fn tamper_settings_of(&self, image: &str) {
        self.script.lock().unwrap().tamper_image = Some(image.to_owned());
    }

    fn yield_each_call(&self) {
        self.script.lock().unwrap().yield_each = true;
    }

    /// How many times `call` was made.
    fn calls(&self, call: &'static str) -> u32 {
        self.script
            .lock()
            .unwrap()
            .calls
            .get(call)
            .copied()
            .unwrap_or_default()
    }

    async fn gate(&self, call: &'static str) -> Result<(), RuntimeError> {
        let (fail, yield_now) = {
            let mut script = self.script.lock().unwrap();
            let n = script.calls.entry(call).or_default();
            *n += 1;
            let n = *n;
            let fail = script.fail_at.get(call).is_some_and(|at| at.contains(&n));
            (fail, script.yield_each)
        };
        if yield_now {
            tokio::task::yield_now().await;
        }
        if fail {
            return Err(RuntimeError::Rejected {
                call: call.to_owned(),
                reason: "scripted failure".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ContainerRuntime for Scripted {
    async fn list_containers(
        &self,
        include_stopped: bool,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        self.gate("list_containers").await?;
        self.fake.list_containers(include_stopped).await
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerSpec, RuntimeError> {
        self.gate("inspect_container").await?;
        self.fake.inspect_container(id).await
    }

    async fn inspect_image(&self, image: &str) -> Result<ImageDetails, RuntimeError> {
        self.gate("inspect_image").await?;
        self.fake.inspect_image(image).await
    }

    async fn events(&self) -> Result<EventStream, RuntimeError> {
        self.gate("events").await?;
        self.fake.events().await
    }

    async fn pull_image(
        &self,
        image: &ImageReference,
        registry_auth: Option<&str>,
    ) -> Result<(), RuntimeError> {
        self.gate("pull_image").await?;
        self.fake.pull_image(image, registry_auth).await
    }

    async fn tag_image(&self, source: &str, target: &ImageReference) -> Result<(), RuntimeError> {
        self.gate("tag_image").await?;
        self.fake.tag_image(source, target).await
    }

    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.gate("remove_image").await?;
        self.fake.remove_image(image).await
    }

    async fn create_container(
        &self,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        self.gate("create_container").await?;
        self.fake.create_container(name, spec).await
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.gate("start_container").await?;
        self.fake.start_container(id).await
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.gate("stop_container").await?;
        self.fake.stop_container(id, timeout).await
    }

    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.gate("restart_container").await?;
        self.fake.restart_container(id, timeout).await
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        self.gate("remove_container").await?;
        self.fake.remove_container(id, force).await
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), RuntimeError> {
        self.gate("rename_container").await?;
        self.fake.rename_container(id, new_name).await
    }

    async fn container_logs(&self, id: &str, options: &LogOptions) -> Result<String, RuntimeError> {
        self.gate("container_logs").await?;
        self.fake.container_logs(id, options).await
    }

    async fn container_settings(&self, id: &str) -> Result<BTreeMap<String, String>, RuntimeError> {
        self.gate("container_settings").await?;
        let mut settings = self.fake.container_settings(id).await?;
        let tamper = self.script.lock().unwrap().tamper_image.clone();
        if let Some(image) = tamper
            && self.fake.inspect_container(id).await?.image == image
        {
            settings.insert("HostConfig.Memory".into(), "67108864".into());
        }
        Ok(settings)
    }
}

// ---------------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------------

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_717_171_717, 0).unwrap()
}

fn fast_settings() -> ActionSettings {
    let mut settings = ActionSettings::new("local");
    settings.grace = Duration::from_millis(20);
    settings.health_timeout = Duration::from_millis(400);
    settings.stop_timeout = Duration::from_millis(10);
    settings
}

fn old_image() -> ImageDetails {
    ImageDetails {
        id: OLD_IMAGE_ID.into(),
        repo_tags: vec![OLD.into()],
        repo_digests: vec![format!("{REPO}@{OLD_DIGEST}")],
        ..ImageDetails::default()
    }
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.role".to_owned(), "web".to_owned())])
}

struct Harness {
    fake: Arc<FakeRuntime>,
    scripted: Arc<Scripted>,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    updater: Arc<Updater>,
    old_id: String,
}

impl Harness {
    /// An engine with `web` on `app:1.0.0` (running or stopped) and an empty store.
    fn new(running: bool) -> Self {
        Self::with_settings(running, fast_settings())
    }

    fn with_settings(running: bool, settings: ActionSettings) -> Self {
        let fake = Arc::new(FakeRuntime::new());
        fake.add_image(old_image());
        let status = if running {
            ContainerStatus::Running
        } else {
            ContainerStatus::Exited
        };
        let old_id = fake.add_container(NAME, OLD, labels(), status);
        fake.set_document(&old_id, "{\"Env\":[\"MODE=production\"]}");
        let scripted = Arc::new(Scripted::new(fake.clone()));
        let store = Arc::new(InMemoryStore::new());
        let clock = Arc::new(ManualClock::new(start_time()));
        let updater = Arc::new(updater(
            scripted.clone(),
            store.clone(),
            clock.clone(),
            settings,
        ));
        Self {
            fake,
            scripted,
            store,
            clock,
            updater,
            old_id,
        }
    }

    /// The container as the watcher reports it: an update to `tag` available.
    fn wanting(&self, tag: &str) -> Container {
        wanting(&self.old_id, tag)
    }

    async fn operations(&self) -> Vec<Operation> {
        self.store.operations().await.unwrap()
    }

    async fn only_operation(&self) -> Operation {
        let ops = self.operations().await;
        assert_eq!(ops.len(), 1, "one journal record: {ops:#?}");
        ops.into_iter().next().unwrap()
    }

    async fn audit(&self, action: &str) -> Vec<AuditEntry> {
        self.store
            .audit()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }
}

fn updater(
    runtime: Arc<dyn ContainerRuntime>,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    settings: ActionSettings,
) -> Updater {
    Updater::new(runtime, store, clock, settings).with_poll_interval(Duration::from_millis(5))
}

fn wanting(id: &str, tag: &str) -> Container {
    Container {
        id: id.to_owned(),
        name: NAME.to_owned(),
        update_available: true,
        result: Some(UpdateResult {
            tag: Some(tag.to_owned()),
            ..UpdateResult::default()
        }),
        update_kind: UpdateKind {
            kind: KindOfUpdate::Tag,
            ..UpdateKind::default()
        },
        ..Container::default()
    }
}

/// Every container of the engine, stopped ones too.
async fn containers(fake: &FakeRuntime) -> Vec<ContainerSummary> {
    fake.list_containers(true).await.unwrap()
}

/// Asserts the engine holds exactly one container, named `web`, running `image` (running or not
/// as `running` says), and returns it.
async fn assert_sole(fake: &FakeRuntime, image: &str, running: bool) -> ContainerSummary {
    let all = containers(fake).await;
    assert_eq!(
        all.len(),
        1,
        "exactly one container is left: {:?}",
        fake.container_names()
    );
    let c = all.into_iter().next().unwrap();
    assert_eq!(c.name, NAME, "the survivor holds the name");
    assert_eq!(c.image, image, "the survivor runs {image}");
    assert_eq!(
        c.status == ContainerStatus::Running,
        running,
        "the survivor's state: {:?}",
        c.status
    );
    c
}

/// Asserts the old container holds its name again, alone, as it was before the update.
async fn assert_restored(h: &Harness, running: bool) {
    let c = assert_sole(&h.fake, OLD, running).await;
    assert_eq!(
        c.id, h.old_id,
        "the old container itself is back, not a copy"
    );
    assert_eq!(c.labels, labels());
    let spec = h.fake.inspect_container(NAME).await.unwrap();
    assert_eq!(spec.document, "{\"Env\":[\"MODE=production\"]}");
}

// ---------------------------------------------------------------------------------------------
// 1. A successful update.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn successful_update_replaces_the_container_and_records_it() {
    let h = Harness::new(true);
    let outcome = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();

    let c = assert_sole(&h.fake, NEW, true).await;
    assert_ne!(c.id, h.old_id, "a new container replaced the old one");
    assert_eq!(outcome.container_id, c.id);
    // Labels carried over, plus the operation that created it.
    let mut expected = labels();
    expected.insert(
        drydock_core::operation::OPERATION_LABEL.to_owned(),
        outcome.operation.id.clone(),
    );
    assert_eq!(c.labels, expected, "labels carried over");
    let spec = h.fake.inspect_container(NAME).await.unwrap();
    assert_eq!(
        spec.document, "{\"Env\":[\"MODE=production\"]}",
        "configuration carried over"
    );
    assert!(
        h.fake.inspect_container(&h.old_id).await.is_err(),
        "the old container was removed"
    );
    assert_eq!(h.fake.pulls(), vec![NEW.to_owned()]);

    // The backup names the old tag and keeps the old image under a retained tag.
    let backups = h.updater.backups(NAME).await.unwrap();
    assert_eq!(backups.len(), 1);
    let b = &backups[0];
    assert_eq!(Some(b), outcome.backup.as_ref());
    assert_eq!(
        (b.image_name.as_str(), b.image_tag.as_str()),
        (REPO, "1.0.0")
    );
    assert_eq!(b.container_id, h.old_id);
    assert_eq!(b.image_digest.as_deref(), Some(OLD_DIGEST));
    assert_eq!(b.trigger_name, "docker.local");
    let kept = b.retained_as.as_deref().expect("the old image is retained");
    assert_eq!(h.fake.inspect_image(kept).await.unwrap().id, OLD_IMAGE_ID);

    let op = h.only_operation().await;
    assert_eq!(op.phase, Phase::Succeeded);
    assert_eq!(op, outcome.operation);
    assert_eq!(op.kind, OperationKind::Update);
    assert_eq!((op.from_image.as_str(), op.to_image.as_str()), (OLD, NEW));
    assert_eq!(op.old_id, h.old_id);
    assert_eq!(op.new_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(op.reason, None);

    let applied = h.audit("update-applied").await;
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0].from_version.as_deref(), Some(OLD));
    assert_eq!(applied[0].to_version.as_deref(), Some(NEW));
    assert_eq!(applied[0].actor, "alice");
    assert_eq!(applied[0].container_name, NAME);
    assert_eq!(applied[0].status, AuditStatus::Success);
    assert!(h.audit("update-failed").await.is_empty());
}

/// The updater is the `Action` port's real adapter: on the in-memory engine here, on the real one
/// in the top-level `actions_engine` suite.
#[tokio::test]
async fn the_updater_keeps_the_action_contract() {
    let h = Harness::new(true);
    let current = Container {
        update_available: false,
        update_kind: UpdateKind::default(),
        ..h.wanting("1.0.0")
    };
    action_contract(ActionFixture {
        action: h.updater.as_ref(),
        updatable: h.wanting("1.1.0"),
        expected_image: NEW.to_owned(),
        current,
    })
    .await;
    assert_sole(&h.fake, NEW, true).await;
}

#[tokio::test]
async fn stopped_container_is_updated_and_stays_stopped() {
    let h = Harness::new(false);
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    let c = assert_sole(&h.fake, NEW, false).await;
    assert_ne!(c.id, h.old_id);
    assert_eq!(h.only_operation().await.phase, Phase::Succeeded);
}

#[tokio::test]
async fn preview_changes_nothing() {
    let h = Harness::new(true);
    let preview = h.updater.preview(&h.wanting("1.1.0")).await.unwrap();
    assert_eq!(preview.container_name, NAME);
    assert_eq!(preview.current_image, OLD);
    assert_eq!(preview.new_image, NEW);
    assert!(preview.pull, "1.1.0 is not local");
    assert!(preview.is_running);
    assert_eq!(
        preview
            .settings
            .get("Config.Labels.app.role")
            .map(String::as_str),
        Some("web")
    );
    assert_restored(&h, true).await;
    assert!(h.fake.pulls().is_empty());
    assert!(h.operations().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 2. Every failure point.
// ---------------------------------------------------------------------------------------------

/// Runs the update, expects it to fail at `step` (rolled back or not) and checks the old
/// container is back as it was, alone, and the journal and audit log say why.
async fn expect_failure(h: &Harness, running: bool, step: &str, rolled_back: bool) -> Operation {
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .expect_err("the update fails");
    match (&err, rolled_back) {
        (
            UpdateError::RolledBack {
                container,
                step: s,
                reason,
            },
            true,
        )
        | (
            UpdateError::Failed {
                container,
                step: s,
                reason,
            },
            false,
        ) => {
            assert_eq!(container, NAME);
            assert_eq!(s, step, "{err}");
            assert!(!reason.is_empty());
        }
        _ => panic!(
            "expected {} at {step}, got {err:?}",
            if rolled_back { "RolledBack" } else { "Failed" }
        ),
    }

    assert_restored(h, running).await;
    assert!(
        !h.fake.container_names().iter().any(|n| is_parked_name(n)),
        "no parked container is left"
    );

    let op = h.only_operation().await;
    let expected = if rolled_back {
        Phase::RolledBack
    } else {
        Phase::Failed
    };
    assert_eq!(op.phase, expected, "{op:#?}");
    let reason = op.reason.clone().expect("the journal says why");
    if rolled_back {
        assert!(reason.starts_with(&format!("{step}: ")), "{reason}");
    }

    let failed = h.audit("update-failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].status, AuditStatus::Error);
    let details = failed[0].details.clone().unwrap_or_default();
    assert!(details.starts_with(&format!("{step}: ")), "{details}");
    assert_eq!(details.ends_with("; rolled back"), rolled_back, "{details}");
    assert!(h.audit("update-applied").await.is_empty());
    op
}

#[tokio::test]
async fn pull_failure_changes_nothing() {
    let h = Harness::new(true);
    h.fake.fail("pull_image", 1);
    let op = expect_failure(&h, true, "pull", false).await;
    assert!(op.reason.unwrap().contains("injected failure"));
    assert!(h.fake.pulls().is_empty());
    assert!(
        h.updater.backups(NAME).await.unwrap().is_empty(),
        "no backup"
    );

    // Once the registry answers again, the same update goes through.
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    assert_sole(&h.fake, NEW, true).await;
}

#[tokio::test]
async fn backup_tag_failure_changes_nothing() {
    let h = Harness::new(true);
    h.fake.fail("tag_image", 1);
    let op = expect_failure(&h, true, "backup", false).await;
    assert!(op.reason.unwrap().contains("tag_image"));
    assert!(
        h.updater.backups(NAME).await.unwrap().is_empty(),
        "no backup"
    );
}

#[tokio::test]
async fn rename_failure_rolls_back() {
    let h = Harness::new(true);
    h.fake.fail("rename_container", 1);
    expect_failure(&h, true, "rename", true).await;
}

#[tokio::test]
async fn create_failure_rolls_back() {
    for running in [true, false] {
        let h = Harness::new(running);
        h.fake.fail("create_container", 1);
        expect_failure(&h, running, "create", true).await;
    }
}

#[tokio::test]
async fn stop_failure_rolls_back() {
    let h = Harness::new(true);
    h.fake.fail("stop_container", 1);
    expect_failure(&h, true, "stop old", true).await;
}

#[tokio::test]
async fn start_failure_rolls_back_and_restarts_the_old_container() {
    let h = Harness::new(true);
    h.fake.fail("start_container", 1);
    expect_failure(&h, true, "start new", true).await;

    // The failure is not sticky: the update can be retried.
    h.clock.advance(chrono::Duration::seconds(1));
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    assert_sole(&h.fake, NEW, true).await;
}

#[tokio::test]
async fn unhealthy_candidate_rolls_back() {
    let h = Harness::new(true);
    h.fake.set_image_health(NEW, Health::Unhealthy);
    let op = expect_failure(&h, true, "health check", true).await;
    assert!(op.reason.unwrap().contains("unhealthy"));
}

#[tokio::test]
async fn candidate_that_never_becomes_healthy_rolls_back_after_the_timeout() {
    let h = Harness::new(true);
    h.fake.set_image_health(NEW, Health::Starting);
    let started = std::time::Instant::now();
    expect_failure(&h, true, "health check", true).await;
    assert!(started.elapsed() >= fast_settings().health_timeout);
}

#[tokio::test]
async fn healthy_candidate_is_kept() {
    let h = Harness::new(true);
    h.fake.set_image_health(NEW, Health::Healthy);
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    assert_sole(&h.fake, NEW, true).await;
}

/// `FakeRuntime` reports a container's labels and document, and a recreation copies both, so it
/// cannot make the new container's configuration differ; the scripted wrapper does.
#[tokio::test]
async fn configuration_drift_rolls_back_before_any_downtime() {
    for running in [true, false] {
        let h = Harness::new(running);
        h.scripted.tamper_settings_of(NEW);
        let op = expect_failure(&h, running, "verify", true).await;
        let reason = op.reason.unwrap();
        assert!(reason.contains("HostConfig.Memory"), "{reason}");
        assert_eq!(
            h.scripted.calls("stop_container"),
            0,
            "the old container never stopped"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A failing rollback.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn failing_rollback_strands_then_recovery_restores() {
    let h = Harness::new(true);
    // The new container does not start, and giving the old one its name back fails too.
    h.scripted.fail_nth("start_container", 1);
    h.scripted.fail_nth("rename_container", 2);
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    let UpdateError::Stranded {
        container, step, ..
    } = &err
    else {
        panic!("expected Stranded, got {err:?}");
    };
    assert_eq!((container.as_str(), step.as_str()), (NAME, "start new"));

    // Nothing holds the name; the old container is parked and stopped.
    let all = containers(&h.fake).await;
    assert_eq!(all.len(), 1, "{:?}", h.fake.container_names());
    assert!(is_parked_name(&all[0].name), "{}", all[0].name);
    assert_eq!(all[0].id, h.old_id);

    let op = h.only_operation().await;
    assert!(
        !op.phase.is_terminal(),
        "the journal keeps it open: {:?}",
        op.phase
    );
    assert!(
        op.reason
            .as_deref()
            .unwrap_or_default()
            .contains("start new")
    );
    let failed = h.audit("update-failed").await;
    assert!(
        failed[0]
            .details
            .as_deref()
            .unwrap_or_default()
            .contains("rollback failed"),
        "{failed:?}"
    );

    // The next start-up finishes the job.
    let fresh = updater(
        h.scripted.clone(),
        h.store.clone(),
        h.clock.clone(),
        fast_settings(),
    );
    let recovered = fresh.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_restored(&h, true).await;
    let op = h.only_operation().await;
    assert_eq!(op.phase, Phase::RolledBack);
    assert_eq!(recovered[0], op);
    assert_eq!(h.audit("update-recovered").await.len(), 1);
    // A second recovery has nothing left to do.
    assert!(fresh.recover().await.unwrap().is_empty());
}

#[tokio::test]
async fn old_container_that_will_not_restart_is_restarted_by_recovery() {
    let h = Harness::new(true);
    // The new container does not start, nor does the old one at the first try.
    h.fake.fail("start_container", 2);
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Stranded { .. }), "{err:?}");
    // The old container has its name but is stopped.
    assert_sole(&h.fake, OLD, false).await;
    assert!(!h.only_operation().await.phase.is_terminal());

    let recovered = h.updater.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_restored(&h, true).await;
    assert_eq!(h.only_operation().await.phase, Phase::RolledBack);
}

#[tokio::test]
async fn failing_removal_of_the_new_container_strands() {
    let h = Harness::new(true);
    h.fake.set_image_health(NEW, Health::Unhealthy);
    h.fake.fail("remove_container", 1);
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::Stranded { ref step, .. } if step == "health check"),
        "{err:?}"
    );
    assert_eq!(containers(&h.fake).await.len(), 2, "both still exist");
    assert!(!h.only_operation().await.phase.is_terminal());

    h.updater.recover().await.unwrap();
    assert_restored(&h, true).await;
    assert_eq!(h.only_operation().await.phase, Phase::RolledBack);
}

// ---------------------------------------------------------------------------------------------
// 4. and 8. Crash recovery.
// ---------------------------------------------------------------------------------------------

const NON_TERMINAL: [Phase; 9] = [
    Phase::Queued,
    Phase::Pulling,
    Phase::Renaming,
    Phase::Creating,
    Phase::Created,
    Phase::StoppingOld,
    Phase::StartingNew,
    Phase::HealthGate,
    Phase::Committed,
];

/// Where the old container is when drydock dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OldAt {
    Name,
    Parked,
    Gone,
}

/// Whether the new container exists (under the original name) and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewIs {
    Absent,
    Created,
    Running,
    Exited,
}

/// The engine and journal drydock finds after a crash.
#[derive(Clone, Copy, Debug)]
struct Crash {
    phase: Phase,
    was_running: bool,
    old: OldAt,
    old_running: bool,
    new: NewIs,
}

struct Crashed {
    fake: Arc<FakeRuntime>,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    old_id: String,
    new_id: Option<String>,
    op_id: String,
}

fn status(running: bool) -> ContainerStatus {
    if running {
        ContainerStatus::Running
    } else {
        ContainerStatus::Exited
    }
}

/// Builds the engine state and the journal record of `crash` by hand.
async fn crashed(crash: Crash) -> Crashed {
    let fake = Arc::new(FakeRuntime::new());
    fake.add_image(old_image());
    let at = start_time();
    let parked = parked_name(NAME, at);
    let old_id = match crash.old {
        OldAt::Name => fake.add_container(NAME, OLD, labels(), status(crash.old_running)),
        OldAt::Parked => fake.add_container(&parked, OLD, labels(), status(crash.old_running)),
        OldAt::Gone => "f".repeat(64),
    };
    let op_id = format!("{:013}-000000", at.timestamp_millis());
    // As the updater creates it: labelled with its operation.
    let mut new_labels = labels();
    new_labels.insert(
        drydock_core::operation::OPERATION_LABEL.to_owned(),
        op_id.clone(),
    );
    let new = |status| Some(fake.add_container(NAME, NEW, new_labels.clone(), status));
    let new_id = match crash.new {
        NewIs::Absent => None,
        NewIs::Created => new(ContainerStatus::Created),
        NewIs::Running => new(ContainerStatus::Running),
        NewIs::Exited => new(ContainerStatus::Exited),
    };
    let mut op = Operation::new(&op_id, NAME, &old_id, OLD, NEW, &parked, crash.was_running);
    op.phase = crash.phase;
    op.trigger = "docker.local".into();
    op.started = at;
    op.updated = at;
    if crash.phase >= Phase::Created {
        op.new_id.clone_from(&new_id);
    }
    let store = Arc::new(InMemoryStore::new());
    store.save_operation(&op).await.unwrap();
    Crashed {
        fake,
        store,
        clock: Arc::new(ManualClock::new(at + chrono::Duration::seconds(30))),
        old_id,
        new_id,
        op_id,
    }
}

/// Restarts drydock over a crashed state and checks the recovery invariant: exactly one
/// container under the original name, the old one before `Committed` and the new one from
/// `Committed` on (whichever still exists), running if the old one ran, nothing parked, and the
/// operation over.
async fn recover_and_check(crash: Crash) {
    let c = crashed(crash).await;
    let fresh = updater(
        c.fake.clone(),
        c.store.clone(),
        c.clock.clone(),
        fast_settings(),
    );
    let recovered = fresh
        .recover()
        .await
        .unwrap_or_else(|e| panic!("{crash:?}: {e}"));
    assert_eq!(recovered.len(), 1, "{crash:?}");

    let ops = c.store.operations().await.unwrap();
    assert_eq!(ops.len(), 1);
    let op = &ops[0];
    assert_eq!(op.id, c.op_id);
    assert!(op.phase.is_terminal(), "{crash:?}: {:?}", op.phase);
    assert!(op.reason.is_some(), "{crash:?}");

    let keep_new = crash.phase >= Phase::Committed || crash.old == OldAt::Gone;
    let survivor = match (keep_new, &c.new_id, crash.old) {
        (true, Some(new), _) => Some((new.clone(), NEW)),
        (_, _, OldAt::Name | OldAt::Parked) => Some((c.old_id.clone(), OLD)),
        _ => None,
    };
    let all = containers(&c.fake).await;
    let names = c.fake.container_names();
    assert!(
        !names.iter().any(|n| is_parked_name(n)),
        "{crash:?}: a parked container is left: {names:?}"
    );
    let Some((id, image)) = survivor else {
        assert!(all.is_empty(), "{crash:?}: {names:?}");
        assert_eq!(op.phase, Phase::Failed, "{crash:?}");
        return;
    };
    assert_eq!(all.len(), 1, "{crash:?}: {names:?}");
    assert_eq!(all[0].name, NAME, "{crash:?}");
    assert_eq!(all[0].id, id, "{crash:?}: the wrong container survived");
    assert_eq!(all[0].image, image, "{crash:?}");
    if crash.was_running {
        assert_eq!(all[0].status, ContainerStatus::Running, "{crash:?}");
    } else {
        assert_ne!(all[0].status, ContainerStatus::Running, "{crash:?}");
    }
    let expected = if crash.phase < Phase::Renaming {
        Phase::Failed
    } else if id == c.old_id {
        Phase::RolledBack
    } else {
        Phase::Succeeded
    };
    assert_eq!(op.phase, expected, "{crash:?}");
    let recovered_audit: Vec<AuditEntry> = c
        .store
        .audit()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "update-recovered")
        .collect();
    assert_eq!(recovered_audit.len(), 1, "{crash:?}");

    // Recovery is idempotent: a second start-up changes nothing.
    assert!(fresh.recover().await.unwrap().is_empty());
    assert_eq!(c.fake.container_names(), names);
}

/// The states a crash at each phase can really leave: the phase's step done or not.
fn realistic_crashes() -> Vec<Crash> {
    let crash = |phase, old, old_running, new| Crash {
        phase,
        was_running: true,
        old,
        old_running,
        new,
    };
    let mut all = vec![
        crash(Phase::Queued, OldAt::Name, true, NewIs::Absent),
        crash(Phase::Pulling, OldAt::Name, true, NewIs::Absent),
        crash(Phase::Renaming, OldAt::Name, true, NewIs::Absent),
        crash(Phase::Renaming, OldAt::Parked, true, NewIs::Absent),
        crash(Phase::Creating, OldAt::Parked, true, NewIs::Absent),
        crash(Phase::Creating, OldAt::Parked, true, NewIs::Created),
        crash(Phase::Created, OldAt::Parked, true, NewIs::Created),
        crash(Phase::StoppingOld, OldAt::Parked, true, NewIs::Created),
        crash(Phase::StoppingOld, OldAt::Parked, false, NewIs::Created),
        crash(Phase::StartingNew, OldAt::Parked, false, NewIs::Created),
        crash(Phase::StartingNew, OldAt::Parked, false, NewIs::Running),
        crash(Phase::HealthGate, OldAt::Parked, false, NewIs::Running),
        crash(Phase::HealthGate, OldAt::Parked, false, NewIs::Exited),
        crash(Phase::Committed, OldAt::Parked, false, NewIs::Running),
        crash(Phase::Committed, OldAt::Gone, false, NewIs::Running),
    ];
    // A stopped container skips the stop, start and health phases.
    for (phase, old, new) in [
        (Phase::Pulling, OldAt::Name, NewIs::Absent),
        (Phase::Renaming, OldAt::Parked, NewIs::Absent),
        (Phase::Creating, OldAt::Parked, NewIs::Created),
        (Phase::Created, OldAt::Parked, NewIs::Created),
        (Phase::Committed, OldAt::Parked, NewIs::Created),
        (Phase::Committed, OldAt::Gone, NewIs::Created),
    ] {
        all.push(Crash {
            phase,
            was_running: false,
            old,
            old_running: false,
            new,
        });
    }
    all
}

#[tokio::test]
async fn crash_at_each_phase_is_recovered() {
    let crashes = realistic_crashes();
    for phase in NON_TERMINAL {
        assert!(
            crashes.iter().any(|c| c.phase == phase),
            "{phase:?} is covered"
        );
    }
    for crash in crashes {
        recover_and_check(crash).await;
    }
}

/// Every phase × every engine state (old at its name, parked or gone; running or not; new
/// absent, created, running or exited) × running or stopped before the update. (proptest is not
/// a dev-dependency of this crate, so the space is enumerated.)
#[tokio::test]
async fn recovery_invariant_holds_for_every_phase_and_engine_state() {
    let mut checked = 0;
    for phase in NON_TERMINAL {
        for was_running in [true, false] {
            for old in [OldAt::Name, OldAt::Parked, OldAt::Gone] {
                for old_running in [true, false] {
                    for new in [NewIs::Absent, NewIs::Created, NewIs::Running, NewIs::Exited] {
                        // Names are unique; a gone container has no state; a container that
                        // was stopped is never started by an update.
                        let impossible = (old == OldAt::Name && new != NewIs::Absent)
                            || (old == OldAt::Gone && old_running)
                            || (!was_running
                                && (old_running || matches!(new, NewIs::Running | NewIs::Exited)));
                        if impossible {
                            continue;
                        }
                        recover_and_check(Crash {
                            phase,
                            was_running,
                            old,
                            old_running,
                            new,
                        })
                        .await;
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 150, "{checked} states checked");
}

#[tokio::test]
async fn finished_operations_are_left_alone() {
    for phase in [Phase::Succeeded, Phase::RolledBack, Phase::Failed] {
        let c = crashed(Crash {
            phase,
            was_running: true,
            old: OldAt::Parked,
            old_running: false,
            new: NewIs::Running,
        })
        .await;
        let before = c.fake.container_names();
        let fresh = updater(
            c.fake.clone(),
            c.store.clone(),
            c.clock.clone(),
            fast_settings(),
        );
        assert!(fresh.recover().await.unwrap().is_empty(), "{phase:?}");
        assert_eq!(c.fake.container_names(), before);
        assert_eq!(c.store.operations().await.unwrap()[0].phase, phase);
    }
}

#[tokio::test]
async fn recovery_waits_for_the_engine() {
    let crash = Crash {
        phase: Phase::HealthGate,
        was_running: true,
        old: OldAt::Parked,
        old_running: false,
        new: NewIs::Running,
    };
    let c = crashed(crash).await;
    let fresh = updater(
        c.fake.clone(),
        c.store.clone(),
        c.clock.clone(),
        fast_settings(),
    );
    let snapshot = containers(&c.fake).await;

    c.fake.disconnect();
    let err = fresh.recover().await.unwrap_err();
    assert!(
        matches!(err, UpdateError::Stranded { ref container, .. } if container == NAME),
        "{err:?}"
    );
    c.fake.reconnect();
    assert_eq!(containers(&c.fake).await, snapshot, "nothing changed");
    let op = c.store.operations().await.unwrap().remove(0);
    assert_eq!(op.phase, Phase::HealthGate, "still open");

    let recovered = fresh.recover().await.unwrap();
    assert_eq!(recovered.len(), 1);
    let survivor = assert_sole(&c.fake, OLD, true).await;
    assert_eq!(survivor.id, c.old_id);
    assert_eq!(
        c.store.operations().await.unwrap()[0].phase,
        Phase::RolledBack
    );
}

#[tokio::test]
async fn recovery_waits_for_the_store() {
    let c = crashed(Crash {
        phase: Phase::Created,
        was_running: true,
        old: OldAt::Parked,
        old_running: true,
        new: NewIs::Created,
    })
    .await;
    let fresh = updater(
        c.fake.clone(),
        c.store.clone(),
        c.clock.clone(),
        fast_settings(),
    );
    let before = containers(&c.fake).await;
    c.store.set_unavailable(Some("disk full"));
    let err = fresh.recover().await.unwrap_err();
    assert!(
        matches!(err, UpdateError::Store(StoreError::Unavailable { .. })),
        "{err:?}"
    );
    assert_eq!(containers(&c.fake).await, before, "nothing changed");
    c.store.set_unavailable(None);
    fresh.recover().await.unwrap();
    assert_eq!(assert_sole(&c.fake, OLD, true).await.id, c.old_id);
}

// ---------------------------------------------------------------------------------------------
// 5. Manual rollback to a backup.
// ---------------------------------------------------------------------------------------------

/// Updates `web` 1.0.0 → 1.1.0 → 1.2.0, a second apart, and returns the backups, oldest first.
async fn updated_twice(h: &Harness) -> Vec<drydock_core::operation::Backup> {
    let first = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    h.clock.advance(chrono::Duration::seconds(1));
    let second = h
        .updater
        .update(&wanting(&first.container_id, "1.2.0"), "alice")
        .await
        .unwrap();
    h.clock.advance(chrono::Duration::seconds(1));
    assert_sole(&h.fake, "ghcr.io/acme/app:1.2.0", true).await;
    vec![first.backup.unwrap(), second.backup.unwrap()]
}

#[tokio::test]
async fn rollback_to_the_newest_backup() {
    let h = Harness::new(true);
    let backups = updated_twice(&h).await;
    assert_eq!(backups[1].image_tag, "1.1.0");
    let newest_first = h.updater.backups(NAME).await.unwrap();
    assert_eq!(newest_first, vec![backups[1].clone(), backups[0].clone()]);
    let pulls = h.fake.pulls();
    let before = h.fake.inspect_container(NAME).await.unwrap();

    let outcome = h.updater.rollback(NAME, None, "bob").await.unwrap();

    let c = assert_sole(&h.fake, NEW, true).await;
    assert_ne!(c.id, before.id);
    assert_eq!(outcome.container_id, c.id);
    assert_eq!(outcome.backup.as_ref(), Some(&backups[1]));
    assert_eq!(
        h.fake.pulls(),
        pulls,
        "the retained image is used, nothing pulled"
    );
    assert_eq!(outcome.operation.kind, OperationKind::Rollback);
    assert_eq!(outcome.operation.phase, Phase::Succeeded);
    assert_eq!(outcome.operation.from_image, "ghcr.io/acme/app:1.2.0");
    assert_eq!(outcome.operation.to_image, NEW);
    let audit = h.audit("rollback").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "bob");
    assert_eq!(
        audit[0].from_version.as_deref(),
        Some("ghcr.io/acme/app:1.2.0")
    );
    assert_eq!(audit[0].to_version.as_deref(), Some(NEW));
}

#[tokio::test]
async fn rollback_to_a_named_backup() {
    let h = Harness::new(true);
    let backups = updated_twice(&h).await;
    let outcome = h
        .updater
        .rollback(NAME, Some(&backups[0].id), "bob")
        .await
        .unwrap();
    assert_eq!(outcome.backup.as_ref(), Some(&backups[0]));
    assert_sole(&h.fake, OLD, true).await;
    let spec = h.fake.inspect_container(NAME).await.unwrap();
    assert_eq!(
        spec.image_id, OLD_IMAGE_ID,
        "the original image, not a re-pull"
    );
    assert_eq!(spec.document, "{\"Env\":[\"MODE=production\"]}");
    assert_eq!(h.operations().await.last().unwrap().phase, Phase::Succeeded);
}

#[tokio::test]
async fn rollback_of_a_stopped_container_keeps_it_stopped() {
    let h = Harness::new(false);
    let first = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    h.clock.advance(chrono::Duration::seconds(1));
    h.updater
        .rollback(&first.container_id, None, "bob")
        .await
        .unwrap();
    assert_sole(&h.fake, OLD, false).await;
}

#[tokio::test]
async fn rollback_to_an_unknown_backup_is_refused() {
    let h = Harness::new(true);
    let err = h.updater.rollback(NAME, None, "bob").await.unwrap_err();
    assert_eq!(
        err,
        UpdateError::NoBackup {
            container: NAME.into(),
            id: None
        }
    );

    updated_twice(&h).await;
    let ops = h.operations().await.len();
    let err = h
        .updater
        .rollback(NAME, Some("no-such-backup"), "bob")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpdateError::NoBackup {
            container: NAME.into(),
            id: Some("no-such-backup".into())
        }
    );
    assert_sole(&h.fake, "ghcr.io/acme/app:1.2.0", true).await;
    assert_eq!(h.operations().await.len(), ops, "nothing journaled");
}

#[tokio::test]
async fn failed_rollback_restores_the_current_container() {
    let h = Harness::new(true);
    let backups = updated_twice(&h).await;
    let current = h.fake.inspect_container(NAME).await.unwrap();
    h.fake.set_image_health(OLD, Health::Unhealthy);
    let err = h
        .updater
        .rollback(NAME, Some(&backups[0].id), "bob")
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::RolledBack { ref step, .. } if step == "health check"),
        "{err:?}"
    );
    let c = assert_sole(&h.fake, "ghcr.io/acme/app:1.2.0", true).await;
    assert_eq!(c.id, current.id);
    assert_eq!(
        h.operations().await.last().unwrap().phase,
        Phase::RolledBack
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Concurrency.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_updates_of_one_container_one_is_busy() {
    let h = Harness::new(true);
    h.scripted.yield_each_call();
    let container = h.wanting("1.1.0");
    let (a, b) = tokio::join!(
        h.updater.update(&container, "alice"),
        h.updater.update(&container, "bob"),
    );
    let busy = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(UpdateError::Busy { container }) if container == NAME))
        .count();
    assert_eq!(busy, 1, "{a:?} / {b:?}");
    assert!(a.is_ok() || b.is_ok(), "{a:?} / {b:?}");
    assert_sole(&h.fake, NEW, true).await;
    assert_eq!(
        h.operations().await.len(),
        1,
        "the busy one journaled nothing"
    );
    assert_eq!(h.updater.backups(NAME).await.unwrap().len(), 1);
}

/// The second request arrives while the first waits for the new container's health, with the
/// container as the watcher last reported it (the old id).
#[tokio::test]
async fn update_requested_during_another_update_is_refused() {
    let mut settings = fast_settings();
    settings.grace = Duration::from_millis(300);
    let h = Harness::with_settings(true, settings);
    let container = h.wanting("1.1.0");
    let first = {
        let updater = h.updater.clone();
        let container = container.clone();
        tokio::spawn(async move { updater.update(&container, "alice").await })
    };
    // Wait until the first has parked the old container and started the new one.
    for _ in 0..200 {
        if h.fake.container_names().iter().any(|n| is_parked_name(n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(h.fake.container_names().iter().any(|n| is_parked_name(n)));

    let second = h.updater.update(&container, "bob").await;
    let first = first.await.unwrap();
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(second, Err(UpdateError::Busy { .. })),
        "the second update must be refused, got {second:?}; containers: {:?}",
        h.fake.container_names()
    );
    assert_sole(&h.fake, NEW, true).await;
}

#[tokio::test]
async fn updates_of_different_containers_run_side_by_side() {
    let h = Harness::new(true);
    h.scripted.yield_each_call();
    let other_id = h
        .fake
        .add_container("db", OLD, labels(), ContainerStatus::Running);
    let mut other = wanting(&other_id, "1.1.0");
    other.name = "db".into();
    let web = h.wanting("1.1.0");
    let (a, b) = tokio::join!(
        h.updater.update(&web, "alice"),
        h.updater.update(&other, "alice"),
    );
    a.unwrap();
    b.unwrap();
    let mut names = h.fake.container_names();
    names.sort();
    assert_eq!(names, ["db", "web"]);
    for c in containers(&h.fake).await {
        assert_eq!(c.image, NEW);
        assert_eq!(c.status, ContainerStatus::Running);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. An unavailable store.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unavailable_store_changes_nothing() {
    let h = Harness::new(true);
    h.store.set_unavailable(Some("disk full"));
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::Store(StoreError::Unavailable { ref reason }) if reason == "disk full"),
        "{err:?}"
    );
    h.store.set_unavailable(None);
    assert_restored(&h, true).await;
    assert!(h.fake.pulls().is_empty(), "nothing pulled");
    assert!(h.operations().await.is_empty());
    assert!(h.store.audit().await.unwrap().is_empty());

    // Once the store is back, the update goes through.
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    assert_sole(&h.fake, NEW, true).await;
}

#[tokio::test]
async fn nothing_to_do_changes_nothing() {
    let h = Harness::new(true);
    // The watcher found no candidate at all.
    let mut container = h.wanting("1.1.0");
    container.update_available = false;
    container.result = None;
    container.update_kind = UpdateKind::default();
    let err = h.updater.update(&container, "alice").await.unwrap_err();
    assert_eq!(
        err,
        UpdateError::NothingToDo {
            container: NAME.into()
        }
    );
    let err = h
        .updater
        .update(&wanting("no-such-container", "1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::NotFound { .. }), "{err:?}");
    assert_restored(&h, true).await;
    assert!(h.operations().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Known library bugs: these tests state the expected behaviour and fail today.
// ---------------------------------------------------------------------------------------------

/// After a stranded update the old container sits under its parked name and the journal keeps
/// the operation open. Asking to update it again (with the container as the watcher last saw
/// it) must not touch it; today the updater updates the *parked* container as if its name were
/// `web-old-…`, removes the user's old container and leaves a never-started copy under the
/// parked name, so nothing is left under `web` and recovery cannot restore it.
#[tokio::test]
async fn update_of_a_stranded_container_is_refused() {
    let h = Harness::new(true);
    h.scripted.fail_nth("start_container", 1);
    h.scripted.fail_nth("rename_container", 2);
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Stranded { .. }), "{err:?}");
    let before = containers(&h.fake).await;

    h.clock.advance(chrono::Duration::seconds(1));
    let again = h.updater.update(&h.wanting("1.1.0"), "alice").await;
    assert!(again.is_err(), "{again:?}");
    assert_eq!(containers(&h.fake).await, before, "nothing changed");

    // And the next start-up can still put the old container back.
    h.updater.recover().await.unwrap();
    assert_restored(&h, true).await;
}

/// The retained backup tag is `repo:dd-backup-{epoch ms}`: two containers of one repository
/// updated within the same millisecond share it, the second backup moves it to its image, and a
/// rollback of the first re-tags the *other* image as `repo:1.0.0` and runs it.
#[tokio::test]
async fn backups_taken_in_the_same_millisecond_stay_apart() {
    let h = Harness::new(true);
    h.fake.add_image(ImageDetails {
        id: "sha256:0909".into(),
        repo_tags: vec!["ghcr.io/acme/app:0.9.0".into()],
        ..ImageDetails::default()
    });
    let api_id = h.fake.add_container(
        "api",
        "ghcr.io/acme/app:0.9.0",
        labels(),
        ContainerStatus::Running,
    );
    let mut api = wanting(&api_id, "1.1.0");
    api.name = "api".into();
    // The clock does not move: both backups are taken in the same millisecond.
    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();
    h.updater.update(&api, "alice").await.unwrap();
    let web_backup = h.updater.backups(NAME).await.unwrap().remove(0);
    let api_backup = h.updater.backups("api").await.unwrap().remove(0);
    assert_ne!(web_backup.retained_as, api_backup.retained_as);

    h.updater
        .rollback(NAME, Some(&web_backup.id), "bob")
        .await
        .unwrap();
    let web = h.fake.inspect_container(NAME).await.unwrap();
    assert_eq!(web.image, OLD);
    assert_eq!(web.image_id, OLD_IMAGE_ID, "web runs its own old image");
    assert_eq!(h.fake.inspect_image(OLD).await.unwrap().id, OLD_IMAGE_ID);
}

#[tokio::test]
async fn history_is_bounded_and_open_operations_are_kept() {
    let h = Harness::new(true);
    // A long-running installation: more finished operations and audit entries than are kept,
    // and one operation on another container still waiting for recovery.
    for n in 0..(KEEP_OPERATIONS + 20) {
        let mut op = Operation::new(&format!("0-{n:06}"), "other", "x", "a:1", "a:2", "p", true);
        op.phase = Phase::Succeeded;
        h.store.save_operation(&op).await.unwrap();
    }
    let mut open = Operation::new("0-open", "stuck", "y", "a:1", "a:2", "stuck-old-1", true);
    open.phase = Phase::Created;
    h.store.save_operation(&open).await.unwrap();
    for n in 0..(KEEP_AUDIT + 5) {
        let entry = AuditEntry {
            id: format!("0-{n:06}"),
            timestamp: start_time(),
            action: "container-start".into(),
            actor: "api".into(),
            container_name: "other".into(),
            from_version: None,
            to_version: None,
            trigger_name: None,
            status: AuditStatus::Success,
            details: None,
        };
        h.store.append_audit(&entry).await.unwrap();
    }

    h.updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap();

    let ops = h.operations().await;
    let finished = ops.iter().filter(|op| op.phase.is_terminal()).count();
    assert_eq!(
        finished, KEEP_OPERATIONS,
        "the oldest finished operations are forgotten"
    );
    assert!(
        ops.iter().any(|op| op.id == "0-open"),
        "an open operation is never forgotten"
    );
    assert!(
        ops.iter().any(|op| op.container_name == NAME),
        "the newest operation is kept"
    );
    let audit = h.store.audit().await.unwrap();
    assert_eq!(audit.len(), KEEP_AUDIT);
    assert_eq!(
        audit.last().unwrap().action,
        "update-applied",
        "the newest entries are kept"
    );
}

/// A store whose audit entries wait at a gate: it holds open the moment between an operation's
/// last journal entry and its audit entry.
struct GatedAudit {
    inner: Arc<InMemoryStore>,
    gate: tokio::sync::Semaphore,
}

#[async_trait]
impl Store for GatedAudit {
    async fn save_container(&self, c: &Container) -> Result<(), StoreError> {
        self.inner.save_container(c).await
    }
    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError> {
        self.inner.container(id).await
    }
    async fn containers(&self) -> Result<Vec<Container>, StoreError> {
        self.inner.containers().await
    }
    async fn remove_container(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_container(id).await
    }
    async fn policy(
        &self,
        identity: &str,
    ) -> Result<drydock_core::policy::UpdatePolicy, StoreError> {
        self.inner.policy(identity).await
    }
    async fn save_policy(
        &self,
        identity: &str,
        policy: &drydock_core::policy::UpdatePolicy,
    ) -> Result<(), StoreError> {
        self.inner.save_policy(identity, policy).await
    }
    async fn announced(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.announced(key).await
    }
    async fn record_announced(&self, key: &str) -> Result<(), StoreError> {
        self.inner.record_announced(key).await
    }
    async fn save_outbox(
        &self,
        entry: &drydock_core::notification::OutboxEntry,
    ) -> Result<(), StoreError> {
        self.inner.save_outbox(entry).await
    }
    async fn outbox(&self) -> Result<Vec<drydock_core::notification::OutboxEntry>, StoreError> {
        self.inner.outbox().await
    }
    async fn save_operation(&self, op: &Operation) -> Result<(), StoreError> {
        self.inner.save_operation(op).await
    }
    async fn operations(&self) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations().await
    }
    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_operation(id).await
    }
    async fn save_backup(
        &self,
        backup: &drydock_core::operation::Backup,
    ) -> Result<(), StoreError> {
        self.inner.save_backup(backup).await
    }
    async fn backups(&self) -> Result<Vec<drydock_core::operation::Backup>, StoreError> {
        self.inner.backups().await
    }
    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_backup(id).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let _permit = self.gate.acquire().await;
        self.inner.append_audit(entry).await
    }
    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit().await
    }
    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_audit(id).await
    }
    async fn record_first_seen(
        &self,
        candidate: &drydock_core::ports::CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.inner.record_first_seen(candidate, at).await
    }
}

/// Found by the e2e crash test: a client that saw no open operation after a restart and asked for
/// an update was refused as busy while recovery still wrote its audit entry (on a slow disk).
#[tokio::test]
async fn an_update_asked_once_recovery_reads_finished_is_not_refused_as_busy() {
    let h = Harness::new(true);
    // An update stranded: the new container and the old one's restart both fail to start.
    h.fake.fail("start_container", 2);
    let err = h
        .updater
        .update(&h.wanting("1.1.0"), "alice")
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Stranded { .. }), "{err:?}");

    let store = Arc::new(GatedAudit {
        inner: h.store.clone(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let fresh = Arc::new(
        Updater::new(
            h.scripted.clone(),
            store.clone(),
            h.clock.clone(),
            fast_settings(),
        )
        .with_poll_interval(Duration::from_millis(5)),
    );
    let recovering = tokio::spawn({
        let fresh = fresh.clone();
        async move { fresh.recover().await }
    });
    while h
        .store
        .operations()
        .await
        .unwrap()
        .iter()
        .any(|op| !op.phase.is_terminal())
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The journal reads finished; the recovery's audit entry is still waiting at the gate.
    let updating = tokio::spawn({
        let fresh = fresh.clone();
        let container = h.wanting("1.1.0");
        async move { fresh.update(&container, "bob").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.gate.add_permits(1_000);
    assert_eq!(recovering.await.unwrap().unwrap().len(), 1);
    let outcome = updating.await.unwrap();
    assert!(
        !matches!(outcome, Err(UpdateError::Busy { .. })),
        "{outcome:?}"
    );
}
