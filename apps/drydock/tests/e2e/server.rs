//! Starting and stopping the drydock binary for a test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drydock_testkit::engine::unique;

/// A running drydock, killed on drop; its store directory is removed with it.
pub struct Server {
    pub base: String,
    pub child: Child,
    pub store: PathBuf,
    pub log: PathBuf,
    keep_store: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts drydock with `env` (plus a fresh store and a free port) and waits for its API.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let store = std::env::temp_dir().join(unique("drydock-e2e-store"));
        Self::start_with_store(env, store)
    }

    /// Starts drydock on an existing store directory.
    pub fn start_with_store(env: &[(&str, &str)], store: PathBuf) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("{}.log", unique("drydock-e2e")));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_drydock"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DD_SERVER_PORT", port.to_string())
            .env("DD_STORE_PATH", &store)
            .env("DD_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting drydock");
        let server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            store,
            log,
            keep_store: false,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("drydock did not listen within 30 s:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ends the process, then returns everything it logged: a line written late (a secret
    /// logged by a delivery still going on) is in it, which no wait before reading could promise.
    /// (drydock writes its log unbuffered, so a kill loses no line.)
    pub fn logs_after_exit(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }

    /// Kills the process with SIGKILL and keeps the store for a restart.
    pub fn kill(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.keep_store = true;
        self.store.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, its body as text (a test failure if either fails).
    pub async fn get_text(&self, path: &str) -> String {
        client()
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `POST path` without a body (a test failure if it cannot be sent).
    pub async fn post(&self, path: &str) -> reqwest::Response {
        client().post(self.url(path)).send().await.unwrap()
    }

    /// `GET path`, its body as JSON (a test failure if either fails).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        client()
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_store {
            let _ = std::fs::remove_dir_all(&self.store);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Runs `promtool check metrics` (Debian's prometheus, installed by `scripts/test-env.sh`) on a
/// `/metrics` text: whether it passed, and its findings.
pub fn promtool(metrics: &str) -> (bool, String) {
    let file = std::env::temp_dir().join(format!("{}.txt", unique("metrics")));
    std::fs::write(&file, metrics).unwrap();
    let check = Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .expect("promtool (Debian's prometheus, installed by scripts/test-env.sh)");
    let _ = std::fs::remove_file(&file);
    (
        check.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ),
    )
}

/// Runs `command` with `input` on its standard input; panics, with its stderr, unless it succeeds.
pub fn run_with_input(mut command: Command, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An argon2id hash made by `drydock hash-password`, as a user would make one.
pub fn hash_password(password: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drydock"));
    command.arg("hash-password");
    let out = run_with_input(command, password);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
