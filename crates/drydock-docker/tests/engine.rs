//! `DockerRuntime` against the real engine of the test environment (`scripts/test-env.sh`): the
//! port's contract suite, and what the suite does not reach (recreating containers, logs, pulls,
//! image tags, removal, events, errors).
//!
//! Test images are made with `docker import` from a directory holding a static busybox and a file
//! with unique content; they have no entrypoint, so `docker run <image> /busybox sh -c …` works.
//! Every test names what it makes uniquely, labels containers `dd.test=<unique>`, and removes
//! what it made through a [`Cleanup`] guard, also when it fails.

// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::ContainerStatus;
use drydock_core::ports::{
    ContainerRuntime, EventStream, LogOptions, RuntimeError, RuntimeEvent, RuntimeEventKind,
};
use drydock_docker::{ConnectionConfig, DockerRuntime, Protocol};
use drydock_testkit::contract::{RuntimeFixture, runtime_contract};

const LOCAL_REGISTRY: &str = "127.0.0.1:5000";
const BASIC_REGISTRY: &str = "127.0.0.1:5001";
const STOP: Duration = Duration::from_secs(1);

/// A name no other test, run or engineer uses.
fn unique(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "dd-docker-{test}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// This host's clock (the workspace's chrono has no `clock` feature).
fn now() -> chrono::DateTime<chrono::Utc> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    chrono::DateTime::from_timestamp(
        i64::try_from(since_epoch.as_secs()).unwrap(),
        since_epoch.subsec_nanos(),
    )
    .unwrap()
}

fn run_docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs")
}

/// Runs the docker CLI and returns its trimmed stdout; panics when it fails.
fn docker(args: &[&str]) -> String {
    let out = run_docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `docker inspect --format {{json <field>}}` of a container, as JSON.
fn inspect_field(container: &str, field: &str) -> serde_json::Value {
    let format = format!("{{{{json {field}}}}}");
    serde_json::from_str(&docker(&["inspect", "--format", &format, container])).unwrap()
}

/// Removes, on drop, what a test made: containers, images, volumes, networks, directories.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = run_docker(&["rm", "-f", "-v", container]);
        }
        for image in &self.images {
            let _ = run_docker(&["rmi", "-f", image]);
        }
        for volume in &self.volumes {
            let _ = run_docker(&["volume", "rm", "-f", volume]);
        }
        for network in &self.networks {
            let _ = run_docker(&["network", "rm", network]);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Cleanup {
    /// Imports a busybox image as `reference`; `content` makes its layer (and id) unique.
    fn image(&mut self, reference: &str, content: &str) {
        self.images.push(reference.to_owned());
        let dir = std::env::temp_dir().join(format!("{content}-context"));
        self.dirs.push(dir.clone());
        std::fs::create_dir_all(&dir).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is installed");
        std::fs::copy(busybox, dir.join("busybox")).unwrap();
        std::fs::write(dir.join("drydock-test-id"), content).unwrap();
        let script = format!(
            "tar -C '{}' -c . | docker import -c 'CMD [\"/busybox\", \"sleep\", \"3600\"]' \
             -c 'LABEL org.drydock.test={content}' -c 'ENV IMAGE_ENV={content}' - '{reference}'",
            dir.display()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `docker run -d` of `image` running `script` in busybox's shell; returns the id.
    fn run(
        &mut self,
        name: &str,
        label: &str,
        network: &str,
        extra: &[&str],
        image: &str,
        script: &str,
    ) -> String {
        self.containers.push(name.to_owned());
        let label = format!("dd.test={label}");
        let mut args = vec![
            "run",
            "-d",
            "--network",
            network,
            "--name",
            name,
            "--label",
            &label,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "/busybox", "sh", "-c", script]);
        docker(&args)
    }

    /// Registers a container the adapter created.
    fn container(&mut self, name: &str) {
        self.containers.push(name.to_owned());
    }
}

/// Waits until `docker logs` of `container` shows `text`.
fn wait_for_log(container: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = run_docker(&["logs", container]);
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if logs.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{container} never logged {text:?}; logs: {logs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn engine() -> DockerRuntime {
    DockerRuntime::open(&ConnectionConfig::default())
        .await
        .expect("the test engine answers on /var/run/docker.sock (run scripts/test-env.sh)")
}

/// The next event of `kind` about `id`, skipping others.
async fn expect_event(events: &mut EventStream, kind: &RuntimeEventKind, id: &str) -> RuntimeEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let next = tokio::time::timeout_at(deadline, poll_fn(|cx| events.as_mut().poll_next(cx)))
            .await
            .unwrap_or_else(|_| panic!("no {kind:?} event for {id}"));
        match next {
            Some(Ok(event)) if &event.kind == kind && event.id == id => return event,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the event stream failed: {e}"),
            None => panic!("the event stream ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passes_the_runtime_contract() {
    let u = unique("contract");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    let log_line = format!("hello from {u}");
    let id = cleanup.run(
        &u,
        &u,
        "none",
        &[],
        &image,
        &format!("echo '{log_line}'; exec /busybox sleep 3600"),
    );
    wait_for_log(&u, &log_line);

    let fixture = RuntimeFixture {
        id: id.clone(),
        name: u.clone(),
        image,
        label: ("dd.test".into(), u.clone()),
        log_line,
    };
    runtime_contract(&engine().await, &fixture).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn negotiates_and_lists() {
    let u = unique("list");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    let id = cleanup.run(&u, &u, "none", &[], &image, "exec /busybox sleep 3600");
    let stopped = format!("{u}-stopped");
    let stopped_id = cleanup.run(&stopped, &u, "none", &[], &image, "exit 3");
    docker(&["wait", &stopped]);

    let runtime = engine().await;
    assert_eq!(
        runtime.api_version(),
        docker(&["version", "--format", "{{.Server.APIVersion}}"]),
        "the client speaks the engine's API version"
    );
    runtime.ping().await.unwrap();

    let all = runtime.list_containers(true).await.unwrap();
    let running = all.iter().find(|c| c.id == id).unwrap();
    assert_eq!(running.name, u);
    assert_eq!(running.image, image);
    assert_eq!(
        running.image_id,
        docker(&["inspect", "--format", "{{.Image}}", &u])
    );
    assert_eq!(running.status, ContainerStatus::Running);
    assert_eq!(running.labels.get("dd.test"), Some(&u));
    assert_eq!(
        running.labels.get("org.drydock.test"),
        Some(&u),
        "image labels are listed too"
    );
    let exited = all.iter().find(|c| c.id == stopped_id).unwrap();
    assert_eq!(exited.status, ContainerStatus::Exited);
    let only_running = runtime.list_containers(false).await.unwrap();
    assert!(only_running.iter().any(|c| c.id == id));
    assert!(only_running.iter().all(|c| c.id != stopped_id));

    // By id prefix too.
    let spec = runtime.inspect_container(&id[..12]).await.unwrap();
    assert_eq!(spec.id, id);
    assert_eq!(spec.labels.get("dd.test"), Some(&u));
    let document: serde_json::Value = serde_json::from_str(&spec.document).unwrap();
    assert_eq!(document["Id"], id.as_str());
    assert_eq!(document["Config"]["Image"], image.as_str());

    let details = runtime.inspect_image(&image).await.unwrap();
    assert_eq!(details.id, running.image_id);
    assert_eq!(details.repo_tags, vec![image.clone()]);
    assert!(
        details.repo_digests.is_empty(),
        "an imported image has no digest"
    );
    assert_eq!(details.os, "linux");
    assert!(!details.architecture.is_empty());
    assert_eq!(details.labels.get("org.drydock.test"), Some(&u));
    let created = details.created.expect("the creation time is parsed");
    assert!((now() - created).num_minutes().abs() < 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_is_unavailable() {
    let config = ConnectionConfig {
        socket: None,
        host: Some("127.0.0.1".into()),
        port: Some(1),
        protocol: Protocol::Http,
        timeout: Duration::from_secs(5),
        ..ConnectionConfig::default()
    };
    let runtime = DockerRuntime::connect(&config).unwrap();
    let err = runtime.negotiate().await.unwrap_err();
    assert!(matches!(err, RuntimeError::Unavailable { .. }), "{err:?}");
    let err = runtime.list_containers(true).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Unavailable { .. }), "{err:?}");
    let err = runtime.events().await.err().unwrap();
    assert!(matches!(err, RuntimeError::Unavailable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_container_reproduces_the_spec() {
    let u = unique("create");
    let mut cleanup = Cleanup::default();
    let old_image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    let new_image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:2.0.0");
    cleanup.image(&old_image, &format!("{u}-old"));
    cleanup.image(&new_image, &format!("{u}-new"));
    let line = format!("created {u}");
    let script = format!("echo '{line}'; exec /busybox sleep 3600");
    cleanup.run(
        &u,
        &u,
        "none",
        &[
            "-e",
            "FOO=bar",
            "-e",
            "EMPTY=",
            "--label",
            "com.example.role=web",
            "--restart",
            "unless-stopped",
            "--workdir",
            "/tmp",
            "--stop-timeout",
            "7",
            "-v",
            "/data",
            "--user",
            "0:0",
            "--cap-add",
            "NET_ADMIN",
            "--tmpfs",
            "/run:size=1m",
            "--ulimit",
            "nofile=1024:2048",
            "--health-cmd",
            "/busybox true",
            "--health-interval",
            "30s",
        ],
        &old_image,
        &script,
    );
    let volume = inspect_field(&u, "(index .Mounts 0).Name");
    let volume = volume.as_str().unwrap().to_owned();
    cleanup.volumes.push(volume.clone());
    docker(&["exec", &u, "/busybox", "sh", "-c", "echo keep > /data/file"]);

    let runtime = engine().await;
    let mut spec = runtime.inspect_container(&u).await.unwrap();
    assert_eq!(spec.image, old_image);
    spec.image = new_image.clone();
    let copy = format!("{u}-copy");
    cleanup.container(&copy);
    let id = runtime.create_container(&copy, &spec).await.unwrap();
    assert_eq!(docker(&["inspect", "--format", "{{.Id}}", &copy]), id);

    for field in [
        ".Config.Cmd",
        ".Config.Entrypoint",
        ".Config.WorkingDir",
        ".Config.StopTimeout",
        ".Config.User",
        ".Config.Healthcheck",
        ".HostConfig.RestartPolicy",
        ".HostConfig.NetworkMode",
        ".HostConfig.CapAdd",
        ".HostConfig.Tmpfs",
        ".HostConfig.Ulimits",
    ] {
        assert_eq!(
            inspect_field(&copy, field),
            inspect_field(&u, field),
            "{field} is reproduced"
        );
    }
    assert_eq!(inspect_field(&copy, ".Config.Image"), new_image.as_str());
    // The user's variables are carried over; the image's own come from the new image.
    let env = inspect_field(&copy, ".Config.Env");
    let env: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        env.contains(&"FOO=bar") && env.contains(&"EMPTY="),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|e| e.starts_with("IMAGE_ENV=") && e.ends_with("-new")),
        "the new image's default applies: {env:?}"
    );
    let labels = inspect_field(&copy, ".Config.Labels");
    assert_eq!(
        labels["com.example.role"], "web",
        "the user's labels are kept"
    );
    assert!(
        labels["org.drydock.test"]
            .as_str()
            .is_some_and(|v| v.ends_with("-new")),
        "the new image's labels apply: {labels}"
    );
    assert_eq!(
        inspect_field(&copy, ".HostConfig.RestartPolicy")["Name"],
        "unless-stopped"
    );
    let old_hostname = inspect_field(&u, ".Config.Hostname");
    let new_hostname = inspect_field(&copy, ".Config.Hostname");
    assert_ne!(
        old_hostname, new_hostname,
        "the generated hostname is not copied"
    );
    assert_eq!(new_hostname, &id[..12]);
    assert_eq!(
        inspect_field(&copy, "(index .Mounts 0).Name"),
        volume.as_str(),
        "the anonymous volume is carried over"
    );

    runtime.start_container(&copy).await.unwrap();
    wait_for_log(&copy, &line);
    assert_eq!(
        docker(&["exec", &copy, "/busybox", "cat", "/data/file"]),
        "keep"
    );
    assert_eq!(docker(&["exec", &copy, "/busybox", "pwd"]), "/tmp");

    let again = runtime.create_container(&copy, &spec).await;
    assert!(
        matches!(again, Err(RuntimeError::Conflict { .. })),
        "a taken name is a conflict, got {again:?}"
    );
    let mut missing = spec.clone();
    missing.image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:9.9.9");
    let other = format!("{u}-missing");
    cleanup.container(&other);
    let result = runtime.create_container(&other, &missing).await;
    assert!(
        matches!(&result, Err(RuntimeError::NotFound { what }) if what.contains("9.9.9")),
        "a missing image is NotFound, got {result:?}"
    );
    let mut broken = spec.clone();
    broken.document = "not json".into();
    let result = runtime.create_container(&other, &broken).await;
    assert!(
        matches!(result, Err(RuntimeError::Rejected { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_container_keeps_the_network_and_its_aliases() {
    let u = unique("network");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    cleanup.networks.push(u.clone());
    docker(&["network", "create", "--label", &format!("dd.test={u}"), &u]);
    cleanup.run(
        &u,
        &u,
        &u,
        &["--network-alias", "web-alias", "--hostname", "webhost"],
        &image,
        "exec /busybox sleep 3600",
    );

    let runtime = engine().await;
    let spec = runtime.inspect_container(&u).await.unwrap();
    let copy = format!("{u}-copy");
    cleanup.container(&copy);
    let id = runtime.create_container(&copy, &spec).await.unwrap();
    assert_eq!(inspect_field(&copy, ".HostConfig.NetworkMode"), u.as_str());
    let networks = inspect_field(&copy, ".NetworkSettings.Networks");
    let endpoint = &networks[u.as_str()];
    let aliases: Vec<&str> = endpoint["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(aliases.contains(&"web-alias"), "{aliases:?}");
    let old_id = docker(&["inspect", "--format", "{{.Id}}", &u]);
    assert!(
        !aliases.contains(&&old_id[..12]),
        "the old short id is not an alias: {aliases:?}"
    );
    assert_eq!(inspect_field(&copy, ".Config.Hostname"), "webhost");
    runtime.start_container(&id).await.unwrap();
    assert_eq!(
        runtime.inspect_container(&id).await.unwrap().status,
        ContainerStatus::Running
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_logs_with_tail_since_and_timestamps() {
    let u = unique("logs");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    cleanup.run(
        &u,
        &u,
        "none",
        &[],
        &image,
        // stdout and stderr are copied separately: the pause orders them.
        "echo one; echo two; /busybox sleep 1; echo three >&2; exec /busybox sleep 3600",
    );
    wait_for_log(&u, "three");
    let runtime = engine().await;
    let all = LogOptions {
        tail: None,
        since: None,
        timestamps: false,
    };

    let logs = runtime.container_logs(&u, &all).await.unwrap();
    assert_eq!(logs, "one\ntwo\nthree\n", "stdout and stderr, in order");

    let last = runtime
        .container_logs(
            &u,
            &LogOptions {
                tail: Some(1),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(last, "three\n");

    let stamped = runtime
        .container_logs(
            &u,
            &LogOptions {
                timestamps: true,
                ..all.clone()
            },
        )
        .await
        .unwrap();
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let (stamp, _) = line.split_once(' ').unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{line:?} starts with a timestamp"
        );
    }

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let future = i64::try_from(now.as_secs()).unwrap() + 3600;
    let none = runtime
        .container_logs(
            &u,
            &LogOptions {
                since: Some(future),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(none, "", "nothing was logged after `since`");
    let past = i64::try_from(now.as_secs()).unwrap() - 3600;
    let everything = runtime
        .container_logs(
            &u,
            &LogOptions {
                since: Some(past),
                ..all
            },
        )
        .await
        .unwrap();
    assert_eq!(everything, "one\ntwo\nthree\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_tags_and_removes_images() {
    let u = unique("pull");
    let mut cleanup = Cleanup::default();
    let reference = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&reference, &u);
    docker(&["push", &reference]);
    docker(&["rmi", &reference]);

    let runtime = engine().await;
    let missing = runtime.inspect_image(&reference).await;
    assert!(
        matches!(missing, Err(RuntimeError::NotFound { .. })),
        "{missing:?}"
    );

    let image: ImageReference = reference.parse().unwrap();
    let mut events = runtime.events().await.unwrap();
    runtime.pull_image(&image, None).await.unwrap();
    let details = runtime.inspect_image(&reference).await.unwrap();
    assert_eq!(details.repo_tags, vec![reference.clone()]);
    let repository = format!("{LOCAL_REGISTRY}/drydock-test/{u}@sha256:");
    assert!(
        details
            .repo_digests
            .iter()
            .any(|d| d.starts_with(&repository)),
        "a pulled image has its digest: {:?}",
        details.repo_digests
    );
    expect_event(&mut events, &RuntimeEventKind::ImagePull, &reference).await;

    // By digest, with a (redundant) credential for the anonymous registry.
    let digest = details.repo_digests[0]
        .split_once('@')
        .unwrap()
        .1
        .to_owned();
    let by_digest = image.with_digest(&digest).unwrap();
    let auth = base64::engine::general_purpose::URL_SAFE.encode(format!(
        r#"{{"username":"nobody","password":"nothing","serveraddress":"{LOCAL_REGISTRY}"}}"#
    ));
    runtime.pull_image(&by_digest, Some(&auth)).await.unwrap();

    let unknown = image.with_tag("0.0.0-missing").unwrap();
    let result = runtime.pull_image(&unknown, None).await;
    assert!(
        matches!(
            result,
            Err(RuntimeError::NotFound { .. } | RuntimeError::Rejected { .. })
        ),
        "{result:?}"
    );
    let result = runtime.pull_image(&image, Some("%%%")).await;
    assert!(
        matches!(result, Err(RuntimeError::Rejected { .. })),
        "{result:?}"
    );

    let target: ImageReference = format!("{LOCAL_REGISTRY}/drydock-test/{u}-retagged:2.0.0")
        .parse()
        .unwrap();
    let target_name = target.to_string();
    cleanup.images.push(target_name.clone());
    runtime.tag_image(&details.id, &target).await.unwrap();
    expect_event(&mut events, &RuntimeEventKind::ImageTag, &details.id).await;
    let tagged = runtime.inspect_image(&target_name).await.unwrap();
    assert_eq!(tagged.id, details.id);
    assert!(tagged.repo_tags.contains(&target_name));

    runtime.remove_image(&target_name).await.unwrap();
    let gone = runtime.inspect_image(&target_name).await;
    assert!(
        matches!(gone, Err(RuntimeError::NotFound { .. })),
        "{gone:?}"
    );
    assert_eq!(
        runtime.inspect_image(&reference).await.unwrap().id,
        details.id,
        "removing one reference keeps the others"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_with_registry_credentials() {
    let env_dir = std::env::var("DRYDOCK_TEST_ENV").unwrap_or("/tmp/drydock-test-env".into());
    let read = |file: &str| {
        std::fs::read_to_string(Path::new(&env_dir).join(file))
            .unwrap_or_else(|e| panic!("{env_dir}/{file} (run scripts/test-env.sh): {e}"))
            .trim()
            .to_owned()
    };
    let (user, password) = (read("basic.user"), read("basic.password"));

    let u = unique("auth");
    let mut cleanup = Cleanup::default();
    let reference = format!("{BASIC_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&reference, &u);
    // A CLI configuration of its own, so that the login touches nobody else's.
    let config_dir = std::env::temp_dir().join(format!("{u}-docker-config"));
    cleanup.dirs.push(config_dir.clone());
    std::fs::create_dir_all(&config_dir).unwrap();
    let cli = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write as _;
        let mut child = Command::new("docker")
            .env("DOCKER_CONFIG", &config_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(
        &[
            "login",
            "--username",
            &user,
            "--password-stdin",
            BASIC_REGISTRY,
        ],
        Some(&password),
    );
    cli(&["push", &reference], None);
    docker(&["rmi", &reference]);

    let runtime = engine().await;
    let image: ImageReference = reference.parse().unwrap();
    let anonymous = runtime.pull_image(&image, None).await;
    assert!(anonymous.is_err(), "the registry wants credentials");

    let encode = |password: &str| {
        base64::engine::general_purpose::URL_SAFE.encode(
            serde_json::json!({
                "username": user,
                "password": password,
                "serveraddress": BASIC_REGISTRY,
            })
            .to_string(),
        )
    };
    let wrong = runtime
        .pull_image(&image, Some(&encode("not-the-password")))
        .await
        .unwrap_err();
    assert!(!wrong.to_string().contains("not-the-password"), "{wrong}");

    runtime
        .pull_image(&image, Some(&encode(&password)))
        .await
        .unwrap();
    let details = runtime.inspect_image(&reference).await.unwrap();
    assert!(!details.repo_digests.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn removes_and_renames_containers() {
    let u = unique("remove");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    let id = cleanup.run(&u, &u, "none", &[], &image, "exec /busybox sleep 3600");
    let other = format!("{u}-other");
    cleanup.run(&other, &u, "none", &[], &image, "exec /busybox sleep 3600");
    let runtime = engine().await;

    let taken = runtime.rename_container(&id, &other).await;
    assert!(
        matches!(taken, Err(RuntimeError::Conflict { .. })),
        "{taken:?}"
    );
    runtime.rename_container(&id, &u).await.unwrap();

    let running = runtime.remove_container(&id, false).await;
    assert!(
        matches!(running, Err(RuntimeError::Conflict { .. })),
        "removing a running container needs force, got {running:?}"
    );
    assert_eq!(
        runtime.inspect_container(&id).await.unwrap().status,
        ContainerStatus::Running
    );
    runtime.remove_container(&id, true).await.unwrap();
    let gone = runtime.inspect_container(&id).await;
    assert!(
        matches!(gone, Err(RuntimeError::NotFound { .. })),
        "{gone:?}"
    );

    runtime.stop_container(&other, STOP).await.unwrap();
    runtime.remove_container(&other, false).await.unwrap();
    let gone = runtime.inspect_container(&other).await;
    assert!(
        matches!(gone, Err(RuntimeError::NotFound { .. })),
        "{gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_follow_stop_and_start() {
    let u = unique("events");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    let id = cleanup.run(&u, &u, "none", &[], &image, "exec /busybox sleep 3600");
    let runtime = engine().await;
    let mut events = runtime.events().await.unwrap();

    // Through the CLI, so the events do not depend on how the adapter stops and starts.
    docker(&["stop", "-t", "1", &u]);
    let die = expect_event(&mut events, &RuntimeEventKind::Die, &id).await;
    assert_eq!(die.name.as_deref(), Some(u.as_str()));
    let stop = expect_event(&mut events, &RuntimeEventKind::Stop, &id).await;
    assert_eq!(stop.name.as_deref(), Some(u.as_str()));
    let time = stop.time.expect("events carry their time");
    assert!((now() - time).num_seconds().abs() < 60);
    docker(&["start", &u]);
    expect_event(&mut events, &RuntimeEventKind::Start, &id).await;

    runtime.restart_container(&id, STOP).await.unwrap();
    expect_event(&mut events, &RuntimeEventKind::Start, &id).await;
    docker(&["pause", &u]);
    expect_event(&mut events, &RuntimeEventKind::Pause, &id).await;
    docker(&["unpause", &u]);
    expect_event(&mut events, &RuntimeEventKind::Pause, &id).await;
    docker(&["rm", "-f", &u]);
    expect_event(&mut events, &RuntimeEventKind::Destroy, &id).await;
}

/// A TCP front for the engine's socket; aborting the task closes every connection, as an engine
/// going away would.
async fn tcp_proxy() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            connections.spawn(async move {
                if let Ok(mut engine) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_ends_when_the_engine_goes_away() {
    let u = unique("gone");
    let mut cleanup = Cleanup::default();
    let image = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1.0.0");
    cleanup.image(&image, &u);
    let (port, proxy) = tcp_proxy().await;
    let config = ConnectionConfig {
        socket: None,
        host: Some("127.0.0.1".into()),
        port: Some(port),
        timeout: Duration::from_secs(10),
        ..ConnectionConfig::default()
    };
    let runtime = DockerRuntime::open(&config).await.unwrap();
    let mut events = runtime.events().await.unwrap();
    let id = cleanup.run(&u, &u, "none", &[], &image, "exec /busybox sleep 3600");
    expect_event(&mut events, &RuntimeEventKind::Start, &id).await;

    proxy.abort();
    let _ = proxy.await;
    // Events of other tests' containers may still be buffered: skip them until the end shows.
    let end = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match poll_fn(|cx| events.as_mut().poll_next(cx)).await {
                Some(Ok(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream notices the engine is gone");
    match end {
        None | Some(Err(RuntimeError::Unavailable { .. })) => {}
        other => panic!("expected the end of the stream or Unavailable, got {other:?}"),
    }
    let after = tokio::time::timeout(
        Duration::from_secs(5),
        poll_fn(|cx| events.as_mut().poll_next(cx)),
    )
    .await
    .expect("an ended stream stays ended");
    assert!(after.is_none(), "{after:?}");
    let err = runtime.list_containers(true).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Unavailable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_are_not_found() {
    let u = unique("missing");
    let runtime = engine().await;
    let not_found = |result: Result<(), RuntimeError>, call: &str| {
        assert!(
            matches!(&result, Err(RuntimeError::NotFound { what }) if what.contains(&u)),
            "{call} of an unknown id is NotFound naming it, got {result:?}"
        );
    };
    not_found(runtime.inspect_container(&u).await.map(drop), "inspect");
    not_found(runtime.start_container(&u).await, "start");
    not_found(runtime.stop_container(&u, STOP).await, "stop");
    not_found(runtime.restart_container(&u, STOP).await, "restart");
    not_found(runtime.remove_container(&u, true).await, "remove");
    not_found(runtime.rename_container(&u, "whatever").await, "rename");
    not_found(
        runtime
            .container_logs(&u, &LogOptions::default())
            .await
            .map(drop),
        "logs",
    );
    not_found(runtime.inspect_image(&u).await.map(drop), "inspect image");
    not_found(runtime.remove_image(&u).await, "remove image");
    let target: ImageReference = format!("{LOCAL_REGISTRY}/drydock-test/{u}:1")
        .parse()
        .unwrap();
    not_found(runtime.tag_image(&u, &target).await, "tag image");
}

#[test]
fn reads_watcher_connections_from_the_environment() {
    let env: BTreeMap<String, String> = [
        ("DD_WATCHER_LOCAL_SOCKET", "/var/run/docker.sock"),
        ("DD_WATCHER_REMOTE_HOST", "10.0.0.9"),
        ("DD_WATCHER_REMOTE_PROTOCOL", "https"),
        ("DD_WATCHER_REMOTE_PORT", "2376"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let remote = ConnectionConfig::from_watcher_env("remote", &env).unwrap();
    assert_eq!(remote.address().as_deref(), Some("10.0.0.9:2376"));
    assert_eq!(remote.protocol, Protocol::Https);
    let local = ConnectionConfig::from_watcher_env("local", &env).unwrap();
    assert_eq!(local, ConnectionConfig::default());
}
