//! Updates against the real engine and registry of the test environment
//! (`scripts/test-env.sh`): a fully configured container is updated, an unhealthy candidate is
//! rolled back automatically, a manual rollback restores the backup, and a preview changes
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use drydock_actions::{ActionSettings, UpdateError, Updater, Updaters};
use drydock_core::event::WatchEvent;
use drydock_core::model::{Container, KindOfUpdate, UpdateKind, UpdateResult};
use drydock_docker::{ConnectionConfig, DockerRuntime};
use drydock_store_sled::SledStore;
use drydock_testkit::contract::{ActionFixture, action_contract};
use drydock_testkit::engine::{Leftovers, TestImage, docker, free_port, must, unique};
use drydock_watch::SystemClock;
use serde_json::Value;

/// Health check: healthy unless the image is a `3.0.0` (each test image's `/content` names its
/// reference), so the 3.0.0 candidate fails its health gate.
const HEALTH: &str = "case \"$(cat /content)\" in *:3.0.0*) exit 1;; esac";

/// An updater on the test environment's engine over `store`, polling health every 100 ms.
async fn engine_updater(
    store: Arc<dyn drydock_core::ports::Store>,
    settings: ActionSettings,
) -> Updater {
    let runtime = DockerRuntime::open(&ConnectionConfig::default())
        .await
        .unwrap();
    Updater::new(Arc::new(runtime), store, Arc::new(SystemClock), settings)
        .with_poll_interval(Duration::from_millis(100))
}

struct Setup {
    name: String,
    images: Vec<TestImage>,
    _cleanup: Leftovers,
    updater: Arc<Updater>,
    store: Arc<SledStore>,
}

impl Setup {
    async fn new(prefix: &str) -> Self {
        Self::with_settings(prefix, ActionSettings::new("local")).await
    }

    async fn with_settings(prefix: &str, mut settings: ActionSettings) -> Self {
        let name = unique(prefix);
        let cleanup = Leftovers(name.clone());
        let images = TestImage::pushed(&name, &["1.0.0", "2.0.0", "3.0.0"]);
        settings.grace = Duration::from_millis(500);
        settings.health_timeout = Duration::from_secs(30);
        settings.stop_timeout = Duration::from_secs(1);
        let store = Arc::new(SledStore::temporary().unwrap());
        let updater = engine_updater(store.clone(), settings).await;
        Self {
            name,
            images,
            _cleanup: cleanup,
            updater: Arc::new(updater),
            store,
        }
    }

    fn image(&self, tag: &str) -> String {
        let i = ["1.0.0", "2.0.0", "3.0.0"]
            .iter()
            .position(|t| *t == tag)
            .unwrap();
        self.images[i].reference.clone()
    }

    /// The container as the watcher would report it: an update to `tag` available.
    fn with_update(&self, tag: &str) -> Container {
        Container {
            id: self.id(),
            name: self.name.clone(),
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

    fn id(&self) -> String {
        must(&["inspect", "-f", "{{.Id}}", &self.name])
    }

    /// Runs the container with a bit of everything a user configures.
    fn run_full(&self) {
        let label = format!("dd.test={}", self.name);
        let front = format!("{}-front", self.name);
        let back = format!("{}-back", self.name);
        let volume = format!("{}-data", self.name);
        // A subnet unlikely to clash with other tests' networks.
        let octet = 100 + (std::process::id() % 100);
        let subnet = format!("10.{octet}.{}.0/24", fastish_octet(&self.name));
        let ip = subnet.replace(".0/24", ".10");
        must(&[
            "network", "create", "--label", &label, "--subnet", &subnet, &front,
        ]);
        must(&["network", "create", "--label", &label, &back]);
        must(&["volume", "create", "--label", &label, &volume]);
        let host_dir = std::env::temp_dir().join(&self.name);
        std::fs::create_dir_all(&host_dir).unwrap();
        let port = free_port();
        must(&[
            "run",
            "-d",
            "--name",
            &self.name,
            "--label",
            &label,
            "--label",
            "app.role=web",
            "--network",
            &front,
            "--network-alias",
            "web",
            "--ip",
            &ip,
            "-e",
            "GREETING=hello world",
            "-e",
            "MODE=production",
            "-v",
            &format!("{volume}:/data"),
            "-v",
            &format!("{}:/host:ro", host_dir.display()),
            "--tmpfs",
            "/scratch",
            "-p",
            &format!("127.0.0.1:{port}:8080"),
            "--restart",
            "unless-stopped",
            "--health-cmd",
            HEALTH,
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "--user",
            "0:0",
            "-w",
            "/data",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "MKNOD",
            "--ulimit",
            "nofile=1024:2048",
            "--memory",
            "64m",
            "--cpu-shares",
            "512",
            "--log-opt",
            "max-size=1m",
            "--hostname",
            "webhost",
            "--add-host",
            "db.local:10.0.0.5",
            "--stop-signal",
            "SIGTERM",
            &self.image("1.0.0"),
            "/bin/sh",
            "-c",
            "echo started; sleep 3600",
        ]);
        must(&["network", "connect", "--alias", "api", &back, &self.name]);
        must(&["exec", &self.name, "sh", "-c", "echo kept > /data/file"]);
    }

    /// Waits until the container reports healthy.
    async fn wait_healthy(&self) {
        for _ in 0..100 {
            if docker(&["inspect", "-f", "{{.State.Health.Status}}", &self.name]).as_deref()
                == Ok("healthy")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never became healthy", self.name);
    }

    /// The containers that carry this test's label: (name, image, state).
    fn containers(&self) -> Vec<(String, String, String)> {
        let out = must(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=dd.test={}", self.name),
            "--format",
            "{{.Names}}|{{.Image}}|{{.State}}",
        ]);
        out.lines()
            .map(|l| {
                let mut parts = l.split('|').map(str::to_owned);
                (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn fastish_octet(name: &str) -> u32 {
    name.bytes().map(u32::from).sum::<u32>() % 250 + 1
}

/// What `docker inspect` says a user configured, image aside: `Config` without the image,
/// `HostConfig`, the networks with their aliases (minus the engine's short-id alias) and static
/// addresses, and the mounts.
fn configured(name: &str) -> Value {
    let raw = must(&["inspect", name]);
    let doc: Value = serde_json::from_str::<Vec<Value>>(&raw).unwrap().remove(0);
    let id = doc["Id"].as_str().unwrap().to_owned();
    let mut config = doc["Config"].clone();
    config.as_object_mut().unwrap().remove("Image");
    // Which operation created the container is drydock's bookkeeping, not its configuration.
    if let Some(labels) = config["Labels"].as_object_mut() {
        labels.remove(drydock_core::operation::OPERATION_LABEL);
    }
    let networks: BTreeMap<String, Value> = doc["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(net, endpoint)| {
            let aliases: Vec<Value> = endpoint["Aliases"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|a| !id.starts_with(a.as_str().unwrap_or("-")))
                .collect();
            (
                net.clone(),
                serde_json::json!({"aliases": aliases, "ipam": endpoint["IPAMConfig"]}),
            )
        })
        .collect();
    // The engine lists mounts in no particular order.
    let mut mounts: Vec<Value> = doc["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::json!([m["Type"], m["Name"], m["Source"], m["Destination"], m["RW"]]))
        .collect();
    mounts.sort_by_key(ToString::to_string);
    serde_json::json!({
        "Config": config,
        "HostConfig": doc["HostConfig"],
        "Networks": networks,
        "Mounts": mounts,
    })
}

fn differences(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let (x, y) = (&a.get(key), &b.get(key));
                if x != y {
                    differences(
                        x.unwrap_or(&Value::Null),
                        y.unwrap_or(&Value::Null),
                        &format!("{path}.{key}"),
                        out,
                    );
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} -> {b}")),
        _ => {}
    }
}

#[tokio::test]
async fn a_fully_configured_container_is_updated_with_its_configuration_intact() {
    let setup = Setup::new("act-update").await;
    setup.run_full();
    setup.wait_healthy().await;
    let old_id = setup.id();
    let before = configured(&setup.name);

    let outcome = setup
        .updater
        .update(&setup.with_update("2.0.0"), "test")
        .await
        .unwrap_or_else(|e| panic!("update failed: {e}"));

    assert_ne!(outcome.container_id, old_id, "the container was recreated");
    assert_eq!(setup.id(), outcome.container_id);
    let after = configured(&setup.name);
    // The one label drydock adds (left out by `configured`): the operation that created the
    // container, for recovery.
    assert_eq!(
        must(&[
            "inspect",
            "-f",
            &format!(
                "{{{{index .Config.Labels \"{}\"}}}}",
                drydock_core::operation::OPERATION_LABEL
            ),
            &setup.name
        ]),
        outcome.operation.id
    );
    let mut diff = Vec::new();
    differences(&before, &after, "", &mut diff);
    diff.dedup();
    assert!(diff.is_empty(), "configuration changed: {diff:#?}");
    assert_eq!(
        must(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Status}} {{.State.Health.Status}}",
            &setup.name
        ]),
        format!("{} running healthy", setup.image("2.0.0"))
    );
    assert_eq!(
        must(&["exec", &setup.name, "cat", "/data/file"]),
        "kept",
        "the volume's data survived"
    );
    assert_eq!(
        setup.containers().len(),
        1,
        "the old container was removed: {:?}",
        setup.containers()
    );
    let backups = setup.updater.backups(&setup.name).await.unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].image_tag, "1.0.0");
    assert_eq!(backups[0].container_id, old_id);
    let kept = backups[0].retained_as.clone().unwrap();
    assert_eq!(
        must(&["image", "inspect", "-f", "{{.Id}}", &kept]),
        setup.images[0].id(),
        "the backup tag holds the old image"
    );

    // A manual rollback restores the backup, configuration intact.
    let rolled = setup
        .updater
        .rollback(&outcome.container_id, None, "test")
        .await
        .unwrap_or_else(|e| panic!("rollback failed: {e}"));
    assert_eq!(
        rolled.backup.as_ref().map(|b| b.id.clone()),
        Some(backups[0].id.clone())
    );
    assert_eq!(
        must(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Status}}",
            &setup.name
        ]),
        format!("{} running", setup.image("1.0.0"))
    );
    let mut diff = Vec::new();
    differences(&before, &configured(&setup.name), "", &mut diff);
    assert!(
        diff.is_empty(),
        "configuration changed by the rollback: {diff:#?}"
    );
    assert_eq!(must(&["exec", &setup.name, "cat", "/data/file"]), "kept");
    assert_eq!(setup.containers().len(), 1);
}

#[tokio::test]
async fn an_unhealthy_candidate_is_rolled_back_automatically() {
    let setup = Setup::new("act-unhealthy").await;
    setup.run_full();
    setup.wait_healthy().await;
    let old_id = setup.id();
    let before = configured(&setup.name);

    let error = setup
        .updater
        .update(&setup.with_update("3.0.0"), "test")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UpdateError::RolledBack { step, .. } if step == "health check"),
        "{error}"
    );

    assert_eq!(setup.id(), old_id, "the old container holds its name again");
    assert_eq!(
        must(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Status}}",
            &setup.name
        ]),
        format!("{} running", setup.image("1.0.0"))
    );
    let mut diff = Vec::new();
    differences(&before, &configured(&setup.name), "", &mut diff);
    assert!(diff.is_empty(), "{diff:#?}");
    let containers = setup.containers();
    assert_eq!(
        containers.len(),
        1,
        "no candidate or parked container left: {containers:?}"
    );
    let audit = setup.updater.backups(&setup.name).await.unwrap();
    assert_eq!(audit.len(), 1, "the backup taken before the attempt stays");
}

#[tokio::test]
async fn a_preview_changes_nothing() {
    let setup = Setup::new("act-preview").await;
    setup.run_full();
    // This test's containers and images (other tests run alongside).
    let state = || {
        (
            must(&[
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                &format!("label=dd.test={}", setup.name),
                "--format",
                "{{.ID}} {{.Names}} {{.Image}} {{.State}}",
            ]),
            must(&[
                "images",
                "--no-trunc",
                "--format",
                "{{.Repository}}:{{.Tag}} {{.ID}}",
            ])
            .lines()
            .filter(|l| l.contains(&setup.name))
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>(),
            configured(&setup.name),
        )
    };
    // The candidate is not local, so the preview says it would be pulled.
    docker(&["rmi", &setup.image("2.0.0")]).unwrap();
    let before = state();
    let preview = setup
        .updater
        .preview(&setup.with_update("2.0.0"))
        .await
        .unwrap();
    assert_eq!(preview.new_image, setup.image("2.0.0"));
    assert_eq!(preview.current_image, setup.image("1.0.0"));
    assert!(preview.pull);
    assert!(preview.is_running);
    assert_eq!(preview.networks.len(), 2, "{:?}", preview.networks);
    assert!(preview.settings.contains_key("HostConfig.Binds"));
    // The environment is named, its values are not shown.
    assert!(preview.settings.contains_key("Config.Env.GREETING"));
    assert!(preview.settings.contains_key("Config.Env.MODE"));
    let shown = format!("{:?}", preview.settings);
    assert!(
        !shown.contains("hello world") && !shown.contains("production"),
        "{shown}"
    );
    assert_eq!(state(), before, "the engine is as it was");
}

#[tokio::test]
async fn no_update_is_nothing_to_do() {
    let setup = Setup::new("act-none").await;
    setup.run_full();
    let mut container = setup.with_update("2.0.0");
    container.update_available = false;
    container.update_kind = UpdateKind::default();
    let error = setup.updater.update(&container, "test").await.unwrap_err();
    assert!(matches!(error, UpdateError::NothingToDo { .. }), "{error}");
    let error = setup
        .updater
        .rollback(&setup.id(), None, "test")
        .await
        .unwrap_err();
    assert!(matches!(error, UpdateError::NoBackup { .. }), "{error}");
}

/// The updater keeps the `Action` port's contract against the real engine.
#[tokio::test]
async fn the_updater_keeps_the_action_contract_on_the_engine() {
    let setup = Setup::new("act-contract").await;
    setup.run_full();
    setup.wait_healthy().await;
    let mut current = setup.with_update("1.0.0");
    current.update_available = false;
    current.update_kind = UpdateKind::default();
    action_contract(ActionFixture {
        action: setup.updater.as_ref(),
        updatable: setup.with_update("2.0.0"),
        expected_image: setup.image("2.0.0"),
        current,
    })
    .await;
    let running = must(&["inspect", "-f", "{{.Config.Image}}", &setup.name]);
    assert_eq!(
        running,
        setup.image("2.0.0"),
        "the engine runs the new image"
    );
}

/// An `update-available` event lost because the automatic updater's channel overflowed (it was
/// behind by more events than the channel holds) still leads to the update: the lag is noticed
/// and the stored containers are read again.
#[tokio::test]
async fn an_update_whose_event_overflowed_the_channel_is_still_applied() {
    let mut settings = ActionSettings::new("local");
    settings.auto = drydock_actions::AutoMode::All;
    let setup = Setup::with_settings("act-overflow", settings).await;
    setup.run_full();
    setup.wait_healthy().await;
    let mut stored = setup.with_update("2.0.0");
    stored.watcher = "local".into();
    stored.update_kind.local_value = Some("1.0.0".into());
    stored.update_kind.remote_value = Some("2.0.0".into());
    drydock_core::ports::Store::save_container(setup.store.as_ref(), &stored)
        .await
        .unwrap();
    let (sender, receiver) = tokio::sync::broadcast::channel(16);
    // The event, then more than the channel holds: the event is gone before anyone reads it.
    sender
        .send(WatchEvent::UpdateAvailable(Box::new(stored.clone())))
        .unwrap();
    for i in 0..40 {
        let other = Container {
            id: format!("other-{i}"),
            watcher: "local".into(),
            ..Container::default()
        };
        sender
            .send(WatchEvent::ContainerUpdated(Box::new(other)))
            .unwrap();
    }
    let updaters = Arc::new(Updaters::new(vec![(
        "local".to_owned(),
        setup.updater.clone(),
    )]));
    let running = {
        let updaters = updaters.clone();
        tokio::spawn(async move { updaters.apply_automatically(receiver).await })
    };
    let started = std::time::Instant::now();
    let image = || must(&["inspect", "-f", "{{.Config.Image}}", &setup.name]);
    while image() != setup.image("2.0.0") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the update whose event was lost never ran: {}",
            image()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(sender);
    running.await.unwrap();
    assert_eq!(setup.containers().len(), 1);
}

/// Recovery after a crash while the new container was being created: a container someone else
/// put under the name is never removed (the operation is left stranded, saying so); the one
/// drydock created, known by its operation label, is removed and the old container restored.
#[tokio::test]
async fn recovery_never_removes_a_container_drydock_did_not_create() {
    use drydock_core::operation::{OPERATION_LABEL, Operation, Phase, parked_name};
    use drydock_core::ports::Store as _;

    let setup = Setup::new("act-foreign").await;
    let label = format!("dd.test={}", setup.name);
    let run = |name: &str, image: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--label",
            &label,
        ];
        args.extend_from_slice(extra);
        args.extend([image, "sleep", "3600"]);
        must(&args)
    };
    let old_image = setup.image("1.0.0");
    let new_image = setup.image("2.0.0");
    let old_id = run(&setup.name, &old_image, &[]);
    // The crashed update had parked the old container and was creating the new one.
    let parked = parked_name(&setup.name, chrono::Utc::now());
    must(&["rename", &old_id, &parked]);
    let crashed = |id: &str| {
        let mut op = Operation::new(
            id,
            &setup.name,
            &old_id,
            &old_image,
            &new_image,
            &parked,
            true,
        );
        op.phase = Phase::Creating;
        op.trigger = "docker.local".into();
        op
    };

    let foreign = run(&setup.name, &new_image, &[]);
    setup.store.save_operation(&crashed("op-1")).await.unwrap();
    let error = setup.updater.recover().await.unwrap_err();
    assert!(
        matches!(&error, UpdateError::Stranded { reason, .. } if reason.contains("did not create")),
        "{error}"
    );
    assert_eq!(
        must(&["inspect", "-f", "{{.Name}}", &foreign]),
        format!("/{}", setup.name),
        "the foreign container keeps the name"
    );
    assert_eq!(
        must(&["inspect", "-f", "{{.Name}}", &old_id]),
        format!("/{parked}")
    );

    // Now the holder is the one the operation created: it goes, the old container comes back.
    must(&["rm", "-f", &foreign]);
    let ours_label = format!("{OPERATION_LABEL}=op-2");
    let ours = run(&setup.name, &new_image, &["--label", &ours_label]);
    setup.store.save_operation(&crashed("op-2")).await.unwrap();
    let mut stale = crashed("op-1");
    stale.phase = Phase::Failed;
    setup.store.save_operation(&stale).await.unwrap();
    let finished = setup.updater.recover().await.unwrap();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert!(
        docker(&["inspect", &ours]).is_err(),
        "drydock's own container is removed"
    );
    assert_eq!(
        must(&["inspect", "-f", "{{.Name}} {{.State.Status}}", &old_id]),
        format!("/{} running", setup.name)
    );
}

/// The store fails (a full disk) exactly when the update would record its commit: drydock stops
/// short of the point of no return, puts the old container back, and says so truthfully.
#[tokio::test]
async fn a_journal_that_cannot_record_the_commit_leaves_the_old_container() {
    use drydock_core::operation::Phase;
    use drydock_testkit::FaultyStore;

    let setup = Setup::new("act-full").await;
    setup.run_full();
    setup.wait_healthy().await;
    let old_id = setup.id();
    let store = Arc::new(FaultyStore::new(SledStore::temporary().unwrap()));
    store.fail_journal_at(Phase::Committed);
    let updater = engine_updater(store.clone(), setup.updater.settings().clone()).await;

    let error = updater
        .update(&setup.with_update("2.0.0"), "test")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, UpdateError::RolledBack { reason, .. } if reason.contains("journal")),
        "{error}"
    );
    assert_eq!(setup.id(), old_id, "the old container holds its name");
    assert_eq!(
        must(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Status}}",
            &setup.name
        ]),
        format!("{} running", setup.image("1.0.0"))
    );
    let containers = setup.containers();
    assert_eq!(
        containers.len(),
        1,
        "nothing parked or new left: {containers:?}"
    );
    // The journal holds the last phase it could record; a restart's recovery agrees with the
    // engine and closes it as rolled back.
    let open = drydock_core::ports::Store::operations(store.inner())
        .await
        .unwrap();
    assert!(
        open.iter().all(|op| op.phase < Phase::Committed),
        "{open:?}"
    );
    let fresh = engine_updater(
        Arc::new(store.inner().clone()),
        setup.updater.settings().clone(),
    )
    .await;
    let finished = fresh.recover().await.unwrap();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].phase, Phase::RolledBack);
    assert_eq!(setup.id(), old_id);
}

/// A compose file as people write them: comments, a second service on the same image, a
/// trailing comment on the image line.
fn compose_text(image: &str) -> String {
    format!(
        "# production stack\nname: shop\n\nservices:\n  web:\n    image: \"{image}\"   # pinned by ops\n    restart: unless-stopped\n    environment:\n      MODE: production\n\n  worker:\n    image: \"{image}\"\n    command: [\"sleep\", \"3600\"]\n"
    )
}

#[tokio::test]
async fn a_compose_service_is_updated_and_only_its_image_line_changes() {
    let setup = Setup::with_settings("act-compose", ActionSettings::compose("stack")).await;
    let dir = std::env::temp_dir().join(&setup.name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    let before = compose_text(&setup.image("1.0.0"));
    std::fs::write(&file, &before).unwrap();
    // Labelled the way `docker compose up` labels its containers (the CLI is not installed here).
    must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &setup.name,
        "--label",
        &format!("dd.test={}", setup.name),
        "--label",
        "com.docker.compose.project=shop",
        "--label",
        "com.docker.compose.service=web",
        "--label",
        &format!("com.docker.compose.project.working_dir={}", dir.display()),
        "--label",
        "com.docker.compose.project.config_files=compose.yaml",
        "-e",
        "MODE=production",
        &setup.image("1.0.0"),
        "/bin/sh",
        "-c",
        "sleep 3600",
    ]);

    setup
        .updater
        .update(&setup.with_update("2.0.0"), "test")
        .await
        .unwrap_or_else(|e| panic!("update failed: {e}"));

    assert_eq!(
        must(&[
            "inspect",
            "-f",
            "{{.Config.Image}} {{.State.Status}}",
            &setup.name
        ]),
        format!("{} running", setup.image("2.0.0"))
    );
    let after = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![(
            format!("    image: \"{}\"   # pinned by ops", setup.image("1.0.0")).as_str(),
            format!("    image: \"{}\"   # pinned by ops", setup.image("2.0.0")).as_str()
        )],
        "only web's image line changed"
    );
    assert_eq!(before.lines().count(), after.lines().count());
    let backups: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("drydock-backup"))
        .collect();
    assert_eq!(backups.len(), 1, "one backup of the file");
    assert_eq!(std::fs::read_to_string(backups[0].path()).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}
