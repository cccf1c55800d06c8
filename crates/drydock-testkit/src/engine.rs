//! Helpers for tests against the real test environment (`scripts/test-env.sh`): a Docker engine
//! and a registry on `127.0.0.1:5000`. They drive the `docker` CLI, the way a user would, to make
//! the world the adapter under test then observes. Everything made is named uniquely, labelled
//! `dd.test=<name>`, and removed on drop.
//!
//! Only with the `engine` feature; never used by drydock itself.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The anonymous registry of the test environment.
pub const REGISTRY: &str = "127.0.0.1:5000";

/// Where `scripts/test-env.sh` keeps its files (`$DRYDOCK_TEST_ENV`, default
/// `/tmp/drydock-test-env`): the test CA, the token signing key, the credentials.
pub fn test_env_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("DRYDOCK_TEST_ENV").unwrap_or_else(|_| "/tmp/drydock-test-env".into()),
    )
}

/// A name no other test, process or earlier run uses (lower case, Docker-safe).
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `docker` with `args`; returns trimmed stdout, or stderr as the error.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("running docker: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Like [`docker`], failing the test on error.
///
/// # Panics
///
/// When the command fails.
pub fn must(args: &[&str]) -> String {
    docker(args).unwrap_or_else(|e| panic!("{e}"))
}

fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("busybox-static is missing: run scripts/test-env.sh"))
}

/// An image made with `docker import` from a static busybox and a file of unique content, so
/// every tag has its own digest. Removed from the engine on drop.
#[derive(Debug)]
pub struct TestImage {
    /// The reference, `127.0.0.1:5000/drydock-test/<repo>:<tag>`.
    pub reference: String,
}

impl TestImage {
    /// Builds `127.0.0.1:5000/drydock-test/{repo}:{tag}`. Containers run `/bin/sh -c ...` from it.
    ///
    /// # Panics
    ///
    /// When the image cannot be built.
    pub fn build(repo: &str, tag: &str) -> Self {
        let reference = format!("{REGISTRY}/drydock-test/{repo}:{tag}");
        let dir = std::env::temp_dir().join(unique("drydock-image"));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(busybox(), bin.join("busybox")).unwrap_or_else(|e| panic!("{e}"));
        for applet in ["sh", "sleep", "echo", "cat", "true", "false"] {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
        std::fs::write(
            dir.join("content"),
            format!("{reference} {}", unique("content")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let script = format!(
            "tar -C {} -c . | docker import -c 'ENV PATH=/bin' -c 'CMD [\"/bin/sleep\", \"3600\"]' - {reference}",
            dir.display()
        );
        let output = Command::new("sh").arg("-c").arg(&script).output();
        let _ = std::fs::remove_dir_all(&dir);
        match output {
            Ok(o) if o.status.success() => Self { reference },
            Ok(o) => panic!("docker import: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => panic!("docker import: {e}"),
        }
    }

    /// Builds and pushes one image per tag of `repo` (distinct content each), in order.
    ///
    /// # Panics
    ///
    /// When a build or push fails.
    pub fn pushed(repo: &str, tags: &[&str]) -> Vec<Self> {
        tags.iter()
            .map(|tag| {
                let image = Self::build(repo, tag);
                image.push();
                image
            })
            .collect()
    }

    /// Pushes the image to the test registry; returns the registry digest.
    ///
    /// # Panics
    ///
    /// When the push fails.
    pub fn push(&self) -> String {
        must(&["push", "-q", &self.reference]);
        self.repo_digest()
            .unwrap_or_else(|| panic!("{} has no RepoDigest after push", self.reference))
    }

    /// The image's registry digest, once pushed or pulled.
    pub fn repo_digest(&self) -> Option<String> {
        let digests = docker(&[
            "image",
            "inspect",
            "-f",
            "{{json .RepoDigests}}",
            &self.reference,
        ])
        .ok()?;
        let list: Vec<String> = digests
            .trim_matches(['[', ']'])
            .split(',')
            .map(|d| d.trim().trim_matches('"').to_owned())
            .filter(|d| !d.is_empty())
            .collect();
        list.iter()
            .find_map(|d| d.split_once('@').map(|(_, digest)| digest.to_owned()))
    }

    /// The local image id.
    pub fn id(&self) -> String {
        must(&["image", "inspect", "-f", "{{.Id}}", &self.reference])
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.reference]);
    }
}

/// A container started for a test (`--network none`), removed on drop.
#[derive(Debug)]
pub struct TestContainer {
    /// The container id.
    pub id: String,
    /// Its unique name.
    pub name: String,
}

impl TestContainer {
    /// Runs `image` detached as `name`, labelled `dd.test=<name>` plus `labels`, running `sh -c
    /// script` (a script that ends in `sleep 3600` keeps it up).
    ///
    /// # Panics
    ///
    /// When the container cannot start.
    pub fn run(name: &str, image: &str, labels: &[(&str, &str)], script: &str) -> Self {
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--network".into(),
            "none".into(),
            "--name".into(),
            name.into(),
            "--label".into(),
            format!("dd.test={name}"),
        ];
        for (key, value) in labels {
            args.push("--label".into());
            args.push(format!("{key}={value}"));
        }
        args.extend([
            image.to_owned(),
            "/bin/sh".into(),
            "-c".into(),
            script.to_owned(),
        ]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = must(&refs);
        Self {
            id,
            name: name.to_owned(),
        }
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.id]);
    }
}

/// Removes every container, network and volume labelled `dd.test=<label>` on drop, whatever
/// names and ids they have by then (an update recreates containers under new ids).
#[derive(Debug)]
pub struct Leftovers(pub String);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let filter = format!("label=dd.test={}", self.0);
        if let Ok(ids) = docker(&["ps", "-aq", "--filter", &filter]) {
            for id in ids.split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
        for kind in ["network", "volume"] {
            if let Ok(names) = docker(&[kind, "ls", "-q", "--filter", &filter]) {
                for name in names.split_whitespace() {
                    let _ = docker(&[kind, "rm", name]);
                }
            }
        }
    }
}

/// Stops the shared dockerd and starts it again ([`stop_engine`], then [`StoppedEngine::start`]).
///
/// # Panics
///
/// When the engine does not come back.
pub fn restart_engine() {
    stop_engine().start();
}

/// Stops the shared dockerd (SIGTERM) and waits for the process to end. Only for a test that runs
/// alone: every other test loses the engine meanwhile.
///
/// The engine comes back when the returned guard is started or dropped, so a test that fails
/// while the engine is down does not leave every later test without one.
pub fn stop_engine() -> StoppedEngine {
    let _ = Command::new("pkill")
        .args(["-TERM", "-x", "dockerd"])
        .status();
    // `docker info` fails while dockerd is still shutting down: wait for the process itself.
    let gone = std::time::Instant::now();
    while Command::new("pgrep")
        .args(["-x", "dockerd"])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && gone.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    StoppedEngine { started: false }
}

/// The engine [`stop_engine`] stopped; starting it again is not left to the test's success.
#[derive(Debug)]
#[must_use = "the engine starts again when this is dropped"]
pub struct StoppedEngine {
    started: bool,
}

impl StoppedEngine {
    /// Starts the engine again (see [`start_engine`]).
    ///
    /// # Panics
    ///
    /// When the engine does not come up.
    pub fn start(mut self) {
        self.started = true;
        start_engine();
    }
}

impl Drop for StoppedEngine {
    #[allow(clippy::print_stderr)] // a test's output, while it is already failing
    fn drop(&mut self) {
        if !self.started {
            // Already unwinding from a failed assertion: a second panic would abort, so the
            // outcome is only reported.
            if !run_test_env() {
                eprintln!("the engine stopped by a failed test did not come back");
            }
        }
    }
}

/// Starts the engine (and anything else missing) the way `scripts/test-env.sh` does.
///
/// # Panics
///
/// When the engine does not come up.
pub fn start_engine() {
    assert!(run_test_env(), "the engine did not come back");
}

/// Runs `scripts/test-env.sh`, which starts whatever of the test environment is missing.
fn run_test_env() -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-env.sh");
    Command::new("bash")
        .arg(script)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback TCP port nothing listens on right now.
///
/// # Panics
///
/// When no port can be bound on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A real server (a broker, a mail server) run for a test on a loopback port, killed on drop.
#[derive(Debug)]
pub struct TestService {
    /// The port it listens on.
    pub port: u16,
    child: std::process::Child,
}

impl TestService {
    /// Runs `program args…`, which must listen on `127.0.0.1:port`, and waits until it does.
    ///
    /// # Panics
    ///
    /// When the program cannot start or does not listen within 5 s.
    pub fn spawn(program: &str, args: &[&str], port: u16) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test-env.sh installs it)"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, child };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} did not listen on 127.0.0.1:{port}");
    }

    /// A mosquitto broker on a free port, anonymous, without persistence.
    ///
    /// # Panics
    ///
    /// When mosquitto cannot start.
    pub fn mosquitto() -> Self {
        let port = free_port();
        let config = std::env::temp_dir().join(format!("{}.conf", unique("mosquitto")));
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config_arg = config.display().to_string();
        let service = Self::spawn("mosquitto", &["-c", &config_arg], port);
        // mosquitto has read its configuration once it listens.
        let _ = std::fs::remove_file(&config);
        service
    }

    /// A real SMTP server (Python's aiosmtpd, installed by `scripts/test-env.sh`) on a free port,
    /// delivering every message it accepts to the maildir `maildir` (read `maildir/new`).
    ///
    /// # Panics
    ///
    /// When aiosmtpd cannot start.
    pub fn aiosmtpd(maildir: &std::path::Path) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let maildir_arg = maildir.display().to_string();
        Self::spawn(
            "python3",
            &[
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &listen,
                "-c",
                "aiosmtpd.handlers.Mailbox",
                &maildir_arg,
            ],
            port,
        )
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
