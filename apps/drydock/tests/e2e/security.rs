//! Security properties of the running binary: authentication fails closed, every protected route
//! (read from the served OpenAPI document, so a new route cannot be forgotten) refuses requests
//! without credentials, secrets from the environment never show in an answer or a log line,
//! notifications never go to link-local or cloud-metadata addresses, and user regexes cannot
//! stall a watch.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use drydock_testkit::engine::{TestContainer, TestImage, TestService, docker, must, unique};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::server::{Server, client, hash_password, run_with_input};

const OPT_IN: (&str, &str) = ("DD_WATCHER_LOCAL_WATCHBYDEFAULT", "false");
const WATCH: (&str, &str) = ("dd.watch", "true");

/// Routes that answer without credentials, each with the reason. The test fails when the served
/// document marks any other route public, so making a route public is a decision made here.
const PUBLIC: &[(&str, &str, &str)] = &[
    (
        "get",
        "/health",
        "probes of orchestrators carry no credentials; it says only whether drydock is ready",
    ),
    (
        "get",
        "/api/app",
        "dashboards test a connection with it; only the name and version",
    ),
    (
        "get",
        "/api/openapi.json",
        "the API's description, the same for everyone",
    ),
];

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An HTTP receiver on loopback that answers every request `200 {}` and keeps each raw request.
pub struct Sink {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 16384];
                    loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buffer.len() < end + 4 + length {
                            continue;
                        }
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buffer).into_owned());
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                            )
                            .await;
                        return;
                    }
                });
            }
        });
        Self { url, requests }
    }
}

/// Every operation of the served OpenAPI document: (method, path template, public).
async fn operations(server: &Server) -> Vec<(String, String, bool)> {
    let document: Value = client()
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            out.push((method.clone(), path.clone(), !secured));
        }
    }
    assert!(out.len() >= 30, "the document lists every route: {out:?}");
    out
}

/// A path template with its parameters filled: a real container id, the configured trigger.
fn concrete(template: &str, id: &str) -> String {
    template
        .replace("{id}", id)
        .replace("{type}", "http")
        .replace("{name}", "sink")
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).unwrap()
}

/// Asserts that every protected operation of `server` answers 401 (JSON error, Basic challenge)
/// to a request without credentials, and that the public ones are exactly [`PUBLIC`].
async fn protected_routes_refuse(server: &Server, id: &str) {
    let http = client();
    let mut public = BTreeSet::new();
    for (verb, template, is_public) in operations(server).await {
        if is_public {
            public.insert((verb, template));
            continue;
        }
        let path = concrete(&template, id);
        let response = http
            .request(method(&verb), server.url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{verb} {path} without credentials: {body}"
        );
        assert!(body["error"].is_string(), "{verb} {path}: {body}");
        assert_eq!(
            challenge.as_deref(),
            Some("Basic realm=\"drydock\""),
            "{verb} {path}"
        );
    }
    let expected: BTreeSet<(String, String)> = PUBLIC
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        public, expected,
        "public routes must be listed in PUBLIC with a reason"
    );
}

/// One running container of a pushed image, watched.
fn watched_container(prefix: &str) -> (TestImage, TestContainer) {
    let image = TestImage::build(prefix, "1.0.0");
    image.push();
    let container = TestContainer::run(
        &format!("{prefix}-app"),
        &image.reference,
        &[WATCH],
        "sleep 3600",
    );
    (image, container)
}

/// Waits until drydock knows container `id` (containers started after drydock are found through
/// the engine's events, each on its own: no full watch cycle over every container of the shared
/// engine is needed) and returns it.
pub async fn known(server: &Server, id: &str, credentials: Option<(&str, &str)>) -> Value {
    let http = client();
    let started = Instant::now();
    loop {
        let mut request = http.get(server.url(&format!("/api/containers/{id}")));
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.unwrap();
        if response.status() == 200 {
            return response.json().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "drydock did not find container {id}:\n{}",
            tail(&server.logs(), 30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn authentication_fails_closed_without_configuration() {
    let (_image, container) = watched_container(&unique("closed"));
    let http = client();
    // Nothing configured, and anonymous access set but not confirmed: every protected route
    // answers 401, /health says why with 503.
    for anonymous in [None, Some("false")] {
        let mut env = vec![OPT_IN];
        if let Some(value) = anonymous {
            env.push(("DD_ANONYMOUS_AUTH_CONFIRM", value));
        }
        let server = Server::start(&env);
        protected_routes_refuse(&server, &container.id).await;
        let health = http.get(server.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 503);
        let body: Value = health.json().await.unwrap();
        assert!(
            body["reason"]
                .as_str()
                .is_some_and(|r| r.contains("DD_ANONYMOUS_AUTH_CONFIRM")),
            "{body}"
        );
    }

    // A user configured and anonymous access confirmed as well: the user wins (drydock.md §11:
    // anonymous only when no authentication is configured), so requests without credentials are
    // still refused.
    let password = unique("password");
    let hash = hash_password(&password);
    let server = Server::start(&[
        OPT_IN,
        ("DD_ANONYMOUS_AUTH_CONFIRM", "true"),
        ("DD_AUTH_BASIC_ADMIN_USER", "admin"),
        ("DD_AUTH_BASIC_ADMIN_HASH", &hash),
    ]);
    protected_routes_refuse(&server, &container.id).await;
    let with_credentials = http
        .get(server.url("/api/containers"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(with_credentials.status(), 200);
    assert!(
        server
            .logs()
            .contains("DD_ANONYMOUS_AUTH_CONFIRM is ignored"),
        "the conflict is explained at start-up:\n{}",
        server.logs()
    );
}

#[tokio::test]
async fn every_protected_route_refuses_requests_without_credentials() {
    let sink = Sink::start().await;
    let password = unique("password");
    let hash = hash_password(&password);
    let server = Server::start(&[
        OPT_IN,
        ("DD_AUTH_BASIC_ADMIN_USER", "admin"),
        ("DD_AUTH_BASIC_ADMIN_HASH", &hash),
        ("DD_NOTIFICATION_HTTP_SINK_URL", &sink.url),
    ]);
    let (_image, container) = watched_container(&unique("routes"));
    known(&server, &container.id, Some(("admin", &password))).await;
    let http = client();
    protected_routes_refuse(&server, &container.id).await;

    // The refusals are about credentials, not the requests: with them, the same GET routes
    // answer (the container is known, so no 404 either).
    for (verb, template, _) in operations(&server).await {
        if verb != "get" || template == "/api/events" {
            continue;
        }
        let path = concrete(&template, &container.id);
        let status = http
            .get(server.url(&path))
            .basic_auth("admin", Some(&password))
            .send()
            .await
            .unwrap()
            .status();
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "GET {path} with credentials"
        );
        assert_ne!(status, StatusCode::NOT_FOUND, "GET {path} with credentials");
    }

    // A wrong password is refused like none.
    let wrong = http
        .get(server.url("/api/containers"))
        .basic_auth("admin", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // Methods a route does not have are 405 with `Allow`, not a 404 that hides the route.
    let not_allowed = http
        .put(server.url(&format!("/api/containers/{}", container.id)))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(not_allowed.status(), 405);
    let allow = not_allowed.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
    let body: Value = not_allowed.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

/// The ways a secret could show up: as is, percent-encoded, or inside base64 (Basic
/// credentials, SMTP AUTH PLAIN) at any of the three alignments.
fn spellings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned(), url_encode(secret)];
    for pad in 0..3 {
        let shifted = format!("{}{secret}", "x".repeat(pad));
        let encoded = base64::engine::general_purpose::STANDARD.encode(shifted.as_bytes());
        // Skip the characters that depend on the padding before and the bytes after.
        let start = (pad * 4).div_ceil(3) + 2;
        let end = encoded.len().saturating_sub(4);
        if end > start + 8 {
            out.push(encoded[start..end].to_owned());
        }
    }
    out
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Which of `secrets` (by name) appear, in any spelling, in `text`.
fn leaked<'a>(secrets: &'a [(&'a str, String)], text: &str) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|(_, secret)| spellings(secret).iter().any(|s| text.contains(s.as_str())))
        .map(|(name, _)| *name)
        .collect()
}

#[test]
fn the_leak_detector_sees_every_spelling() {
    let secret = "canary-7f3e-secret";
    let secrets = [("x", secret.to_owned())];
    assert_eq!(leaked(&secrets, &format!("a {secret} b")), ["x"]);
    assert_eq!(
        leaked(
            &secrets,
            &format!("url=a%3A{}", url_encode(&format!("{secret}!")))
        ),
        ["x"]
    );
    for prefix in ["", "u:", "\0user\0"] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{secret}"));
        assert_eq!(
            leaked(&secrets, &format!("Authorization: Basic {basic}")),
            ["x"],
            "{prefix:?}"
        );
    }
    assert!(leaked(&secrets, "nothing here").is_empty());
}

/// Reads the test environment's basic registry credentials.
fn registry_credentials() -> (String, String) {
    let dir = std::env::var("DRYDOCK_TEST_ENV").unwrap_or_else(|_| "/tmp/drydock-test-env".into());
    let read = |file: &str| {
        std::fs::read_to_string(format!("{dir}/{file}"))
            .unwrap_or_else(|e| panic!("{dir}/{file} (run scripts/test-env.sh): {e}"))
            .trim()
            .to_owned()
    };
    (read("basic.user"), read("basic.password"))
}

/// Pushes `local` to the TLS + basic-auth registry (127.0.0.1:5001) as `reference`, with a
/// login of its own that touches nobody else's Docker configuration.
fn push_to_basic_registry(local: &str, reference: &str, user: &str, password: &str) {
    let config = std::env::temp_dir().join(unique("docker-config"));
    std::fs::create_dir_all(&config).unwrap();
    must(&["tag", local, reference]);
    let cli = |args: &[&str], input: &str| {
        let mut command = std::process::Command::new("docker");
        command.env("DOCKER_CONFIG", &config).args(args);
        run_with_input(command, input);
    };
    cli(
        &[
            "login",
            "--username",
            user,
            "--password-stdin",
            "127.0.0.1:5001",
        ],
        password,
    );
    cli(&["push", "-q", reference], "");
    let _ = std::fs::remove_dir_all(&config);
}

#[tokio::test]
async fn secrets_never_appear_in_answers_or_logs() {
    let prefix = unique("secrets");
    let images = TestImage::pushed(&prefix, &["1.0.0", "2.0.0"]);
    let (registry_user, registry_password) = registry_credentials();
    // An image on the registry that wants the password, and one on the token registry whose
    // password is a canary: drydock sends it to the token issuer, which refuses it (the error
    // is stored), so the canary really leaves drydock and must still appear nowhere else.
    let basic = format!("127.0.0.1:5001/drydock-test/{prefix}:1.0.0");
    push_to_basic_registry(
        &images[0].reference,
        &basic,
        &registry_user,
        &registry_password,
    );
    let token = format!("127.0.0.1:5002/drydock-test/{prefix}:1.0.0");
    must(&["tag", &images[0].reference, &token]);
    let _tags = ImageTags(vec![basic.clone(), token.clone()]);
    let name = |s: &str| format!("{prefix}-{s}");

    let canary = |what: &str| format!("canary-{what}-{}", unique("s").replace('-', ""));
    let secrets: Vec<(&str, String)> = vec![
        ("basic registry password", registry_password.clone()),
        ("token registry password", canary("registry")),
        ("API password", canary("api")),
        ("http trigger password", canary("httppass")),
        ("http trigger URL password", canary("urlpass")),
        ("gotify token", canary("gotify")),
        ("telegram bot token", canary("telegram")),
        ("smtp password", canary("smtp")),
        ("mqtt password", canary("mqtt")),
        ("command secret", canary("command")),
    ];
    let secret = |name: &str| {
        secrets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap()
    };
    let api_password = secret("API password");
    let hash = hash_password(&api_password);
    let sink = Sink::start().await;
    let port = sink
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let url_with_password = format!(
        "http://watcher:{}@{port}/ntfy",
        secret("http trigger URL password")
    );
    let maildir = std::env::temp_dir().join(unique("drydock-e2e-maildir"));
    let smtp = TestService::aiosmtpd(&maildir);
    let smtp_port = smtp.port.to_string();
    let mqtt = TestService::mosquitto();
    let mqtt_url = format!("mqtt://127.0.0.1:{}", mqtt.port);
    let ca = format!(
        "{}/tls/ca.crt",
        std::env::var("DRYDOCK_TEST_ENV").unwrap_or_else(|_| "/tmp/drydock-test-env".into())
    );
    let command = format!(
        "test -n \"$SECRET_OUT\" ; echo {} > /dev/null",
        secret("command secret")
    );
    let env: Vec<(String, String)> = vec![
        ("DD_LOG_LEVEL".into(), "trace".into()),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT".into(), "false".into()),
        ("DD_AUTH_BASIC_ADMIN_USER".into(), "admin".into()),
        ("DD_AUTH_BASIC_ADMIN_HASH".into(), hash.clone()),
        (
            "DD_REGISTRY_CUSTOM_BASIC_URL".into(),
            "https://127.0.0.1:5001".into(),
        ),
        (
            "DD_REGISTRY_CUSTOM_BASIC_LOGIN".into(),
            registry_user.clone(),
        ),
        (
            "DD_REGISTRY_CUSTOM_BASIC_PASSWORD".into(),
            registry_password.clone(),
        ),
        ("DD_REGISTRY_CUSTOM_BASIC_CAFILE".into(), ca),
        (
            "DD_REGISTRY_CUSTOM_TOKEN_URL".into(),
            "http://127.0.0.1:5002".into(),
        ),
        (
            "DD_REGISTRY_CUSTOM_TOKEN_LOGIN".into(),
            registry_user.clone(),
        ),
        (
            "DD_REGISTRY_CUSTOM_TOKEN_PASSWORD".into(),
            secret("token registry password"),
        ),
        ("DD_NOTIFICATION_HTTP_SINK_URL".into(), sink.url.clone()),
        ("DD_NOTIFICATION_HTTP_SINK_AUTH_TYPE".into(), "BASIC".into()),
        ("DD_NOTIFICATION_HTTP_SINK_AUTH_USER".into(), "hook".into()),
        (
            "DD_NOTIFICATION_HTTP_SINK_AUTH_PASSWORD".into(),
            secret("http trigger password"),
        ),
        ("DD_NOTIFICATION_NTFY_URLPASS_URL".into(), url_with_password),
        (
            "DD_NOTIFICATION_NTFY_URLPASS_TOPIC".into(),
            "updates".into(),
        ),
        ("DD_NOTIFICATION_GOTIFY_SINK_URL".into(), sink.url.clone()),
        (
            "DD_NOTIFICATION_GOTIFY_SINK_TOKEN".into(),
            secret("gotify token"),
        ),
        ("DD_NOTIFICATION_TELEGRAM_SINK_URL".into(), sink.url.clone()),
        (
            "DD_NOTIFICATION_TELEGRAM_SINK_BOTTOKEN".into(),
            secret("telegram bot token"),
        ),
        ("DD_NOTIFICATION_TELEGRAM_SINK_CHATID".into(), "42".into()),
        ("DD_NOTIFICATION_SMTP_MAIL_HOST".into(), "127.0.0.1".into()),
        ("DD_NOTIFICATION_SMTP_MAIL_PORT".into(), smtp_port),
        (
            "DD_NOTIFICATION_SMTP_MAIL_FROM".into(),
            "drydock@example.org".into(),
        ),
        (
            "DD_NOTIFICATION_SMTP_MAIL_TO".into(),
            "ops@example.org".into(),
        ),
        ("DD_NOTIFICATION_SMTP_MAIL_USER".into(), "mailer".into()),
        (
            "DD_NOTIFICATION_SMTP_MAIL_PASS".into(),
            secret("smtp password"),
        ),
        ("DD_NOTIFICATION_MQTT_BROKER_URL".into(), mqtt_url),
        ("DD_NOTIFICATION_MQTT_BROKER_USER".into(), "drydock".into()),
        (
            "DD_NOTIFICATION_MQTT_BROKER_PASSWORD".into(),
            secret("mqtt password"),
        ),
        ("DD_NOTIFICATION_COMMAND_RUN_CMD".into(), command),
    ];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let issuer = drydock_testkit::registries::issuer();
    let server = Server::start(&env_refs);
    let containers = [
        TestContainer::run(
            &name("anonymous"),
            &images[0].reference,
            &[WATCH],
            "sleep 3600",
        ),
        TestContainer::run(&name("basic"), &basic, &[WATCH], "sleep 3600"),
        TestContainer::run(&name("token"), &token, &[WATCH], "sleep 3600"),
    ];
    for container in &containers {
        known(&server, &container.id, Some(("admin", &api_password))).await;
    }
    let http = client();
    let mut seen = String::new();

    // Each container watched (the registries asked with their credentials: the found-by-event
    // watch above, and these), then a notification through every trigger. Not a full cycle over
    // the whole engine: on a shared engine that is every other test's containers too.
    for container in &containers {
        let watched = http
            .post(server.url(&format!("/api/containers/{}/watch", container.id)))
            .basic_auth("admin", Some(&api_password))
            .send()
            .await
            .unwrap();
        assert_eq!(watched.status(), 200);
        seen.push_str(&watched.text().await.unwrap());
    }
    let triggers: Value = http
        .get(server.url("/api/triggers"))
        .basic_auth("admin", Some(&api_password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let triggers = triggers.as_array().unwrap().clone();
    assert_eq!(triggers.len(), 7, "{triggers:?}");
    for trigger in &triggers {
        let path = format!(
            "/api/triggers/{}/{}",
            trigger["type"].as_str().unwrap(),
            trigger["name"].as_str().unwrap()
        );
        let response = http
            .post(server.url(&path))
            .basic_auth("admin", Some(&api_password))
            .send()
            .await
            .unwrap();
        seen.push_str(&format!("{:?}", response.headers()));
        seen.push_str(&response.text().await.unwrap());
    }

    // Every GET route of the document, for each container where it takes one.
    let ids: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
    for (verb, template, _) in operations(&server).await {
        if verb != "get" {
            continue;
        }
        for id in &ids {
            let path = concrete(&template, id);
            let request = http
                .get(server.url(&path))
                .basic_auth("admin", Some(&api_password));
            let response = request.send().await.unwrap();
            seen.push_str(&format!("{:?}", response.headers()));
            if template == "/api/events" {
                // An endless stream: what arrives in a moment.
                let mut response = response;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Ok(Some(chunk)) = response.chunk().await {
                        seen.push_str(&String::from_utf8_lossy(&chunk));
                    }
                })
                .await;
            } else {
                seen.push_str(&response.text().await.unwrap());
            }
            if !template.contains("{id}") {
                break;
            }
        }
    }

    assert!(
        seen.contains(&format!("{prefix}-basic")),
        "the answers were read: {}",
        tail(&seen, 5)
    );
    // The token registry's canary was sent, to the issuer only (which refused it).
    let sent = base64::engine::general_purpose::STANDARD.encode(format!(
        "{registry_user}:{}",
        secret("token registry password")
    ));
    assert!(
        issuer
            .authorizations
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.contains(&sent)),
        "drydock sent the token registry's password to its issuer"
    );
    let in_answers = leaked(&secrets, &seen);
    assert!(
        in_answers.is_empty(),
        "secrets in API answers: {in_answers:?}"
    );
    // The dispatcher's own notifications (the updates the watch found) may still be going
    // out: the log is read once the server has exited, late lines included.
    let logs = server.logs_after_exit();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "verbose logging is on"
    );
    let in_logs = leaked(&secrets, &logs);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| !leaked(&secrets, l).is_empty())
        .take(10)
        .collect();
    assert!(
        in_logs.is_empty(),
        "secrets in the log: {in_logs:?}\n{}",
        lines.join("\n")
    );
    // The hash is not a secret to give away either: it can be attacked offline.
    assert!(!seen.contains(&hash) && !logs.contains(&hash));
    // The credentials did reach where they belong: the receiver got the HTTP trigger's Basic
    // header (so the absence above is masking, not a trigger that never ran).
    let basic_header = base64::engine::general_purpose::STANDARD
        .encode(format!("hook:{}", secret("http trigger password")));
    assert!(
        sink.requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.contains(&basic_header)),
        "the HTTP trigger sent its credentials"
    );
    drop(smtp);
    drop(mqtt);
    let _ = std::fs::remove_dir_all(&maildir);
}

/// Removes the extra image tags on drop.
struct ImageTags(Vec<String>);

impl Drop for ImageTags {
    fn drop(&mut self) {
        for reference in &self.0 {
            let _ = docker(&["rmi", "-f", reference]);
        }
    }
}

#[tokio::test]
async fn notifications_to_metadata_addresses_are_refused_in_every_spelling() {
    // Each is 169.254.169.254 or another link-local / metadata address, spelled so that a naive
    // string check misses it. drydock must refuse before connecting anywhere.
    let forbidden = [
        ("plain", "http://169.254.169.254/latest/meta-data/"),
        ("decimal", "http://2852039166/"),
        ("hex", "http://0xa9fea9fe/"),
        ("octal", "http://0251.0376.0251.0376/"),
        ("short", "http://169.254.43518/"),
        ("mapped", "http://[::ffff:169.254.169.254]/"),
        ("compatible", "http://[::169.254.169.254]/"),
        ("linklocal6", "http://[fe80::1]/"),
        ("awsv6", "http://[fd00:ec2::254]/"),
        ("alibaba", "http://100.100.100.200/"),
    ];
    let sink = Sink::start().await;
    let mut env: Vec<(String, String)> = vec![
        ("DD_ANONYMOUS_AUTH_CONFIRM".into(), "true".into()),
        ("DD_WATCHER_LOCAL_WATCHBYDEFAULT".into(), "false".into()),
        // A control: the same channel to loopback is delivered.
        ("DD_NOTIFICATION_HTTP_LOOPBACK_URL".into(), sink.url.clone()),
        // Mail and MQTT reach their servers without HTTP: the same guard applies.
        (
            "DD_NOTIFICATION_SMTP_METADATA_HOST".into(),
            "169.254.169.254".into(),
        ),
        ("DD_NOTIFICATION_SMTP_METADATA_PORT".into(), "25".into()),
        (
            "DD_NOTIFICATION_SMTP_METADATA_FROM".into(),
            "drydock@example.org".into(),
        ),
        (
            "DD_NOTIFICATION_SMTP_METADATA_TO".into(),
            "ops@example.org".into(),
        ),
        (
            "DD_NOTIFICATION_SMTP_DECIMAL_HOST".into(),
            "2852039166".into(),
        ),
        ("DD_NOTIFICATION_SMTP_DECIMAL_PORT".into(), "25".into()),
        (
            "DD_NOTIFICATION_SMTP_DECIMAL_FROM".into(),
            "drydock@example.org".into(),
        ),
        (
            "DD_NOTIFICATION_SMTP_DECIMAL_TO".into(),
            "ops@example.org".into(),
        ),
        (
            "DD_NOTIFICATION_MQTT_METADATA_URL".into(),
            "mqtt://169.254.169.254".into(),
        ),
        (
            "DD_NOTIFICATION_MQTT_LINKLOCAL_URL".into(),
            "mqtt://[fe80::1]:1883".into(),
        ),
    ];
    for (name, url) in forbidden {
        env.push((
            format!("DD_NOTIFICATION_HTTP_{}_URL", name.to_ascii_uppercase()),
            url.into(),
        ));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&env_refs);
    let http = client();

    let mut refused: Vec<(String, String)> = forbidden
        .iter()
        .map(|(name, _)| ("http".to_owned(), (*name).to_owned()))
        .collect();
    refused.extend([
        ("smtp".to_owned(), "metadata".to_owned()),
        ("smtp".to_owned(), "decimal".to_owned()),
        ("mqtt".to_owned(), "metadata".to_owned()),
        ("mqtt".to_owned(), "linklocal".to_owned()),
    ]);
    for (kind, name) in &refused {
        let response = http
            .post(server.url(&format!("/api/triggers/{kind}/{name}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 500, "{kind}.{name}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("link-local or cloud-metadata"),
            "{kind}.{name} refused by the guard, not by a failed connection: {error}"
        );
    }
    let delivered = http
        .post(server.url("/api/triggers/http/loopback"))
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    assert_eq!(sink.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn catastrophic_tag_regexes_finish_promptly() {
    // `(a+)+$` against `aaaa…!` takes exponential time on a backtracking engine. drydock compiles
    // user regexes with the `regex` crate (linear time): the watch of a container whose labels
    // carry such patterns, over a registry listing many long tags, answers at once.
    let prefix = unique("redos");
    let images = TestImage::pushed(&prefix, &["1.0.0"]);
    let repository = format!("drydock-test/{prefix}");
    let registry = "http://127.0.0.1:5000";
    let http = client();
    let manifest_type = "application/vnd.docker.distribution.manifest.v2+json";
    let manifest = http
        .get(format!("{registry}/v2/{repository}/manifests/1.0.0"))
        .header("Accept", manifest_type)
        .send()
        .await
        .unwrap();
    let content_type = manifest.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let manifest = manifest.bytes().await.unwrap();
    // 200 tags of up to 128 characters (the registry's limit) that almost match.
    for i in 0..200 {
        let tag = format!("{}{i}", "a".repeat(120));
        let put = http
            .put(format!("{registry}/v2/{repository}/manifests/{tag}"))
            .header("Content-Type", &content_type)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "tag {tag}: {}", put.status());
    }
    let pattern = "(a+)+$";
    let server = Server::start(&[("DD_ANONYMOUS_AUTH_CONFIRM", "true"), OPT_IN]);
    let container = TestContainer::run(
        &format!("{prefix}-app"),
        &images[0].reference,
        &[
            WATCH,
            ("dd.tag.include", pattern),
            ("dd.tag.exclude", "^(a|aa)+$"),
            ("dd.tag.transform", "^((a+)+)$ => $1"),
        ],
        "sleep 3600",
    );
    known(&server, &container.id, None).await;
    // A backtracking engine would take years: the bound only turns that hang into a failure.
    let hang_guard = Duration::from_secs(300);
    let response = tokio::time::timeout(
        hang_guard,
        http.post(server.url(&format!("/api/containers/{}/watch", container.id)))
            .send(),
    )
    .await
    .expect("the watch answers")
    .unwrap();
    assert_eq!(response.status(), 200);
    let watched: Value = response.json().await.unwrap();
    assert_eq!(watched["includeTags"], pattern);
    // The long tags were listed and judged, not lost to an error.
    assert!(watched["error"].is_null(), "{watched}");

    // The same patterns on the classic input, through the path that compiles labels for a watch.
    let rules = drydock_core::rules::TagRules::builder()
        .include(pattern)
        .exclude("^(a|aa)+$")
        .transform("^((a+)+)$ => $1")
        .build()
        .unwrap();
    let tags: Vec<String> = (0..2000)
        .map(|i| format!("{}{i}!", "a".repeat(4000)))
        .collect();
    let selection = tokio::time::timeout(
        hang_guard,
        tokio::task::spawn_blocking(move || {
            let selection = drydock_core::selection::select("1.0.0", &tags, &rules);
            (selection, tags.len())
        }),
    )
    .await
    .expect("the selection finishes")
    .unwrap();
    let (selection, judged) = selection;
    // Every tag was judged (so every pattern ran on every tag), and none is an update.
    assert_eq!(selection.decisions.len(), judged);
    assert!(!matches!(
        selection.outcome,
        drydock_core::selection::Outcome::Update { .. }
    ));
}

#[tokio::test]
async fn a_malformed_rollback_body_is_refused_not_read_as_the_newest_backup() {
    // `POST /rollback` takes an optional `{ backupId }`. A body that is there but not that shape
    // used to be read as "no body", which rolls back to the newest backup: another image than the
    // one asked for.
    let server = Server::start(&[("DD_ANONYMOUS_AUTH_CONFIRM", "true"), OPT_IN]);
    let (_image, container) = watched_container(&unique("rollback"));
    known(&server, &container.id, None).await;
    let http = client();
    let url = server.url(&format!("/api/containers/{}/rollback", container.id));
    for body in [r#"{"backupId": 42}"#, "not json", r#""backup""#] {
        let response = http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON"),
            "{answer}"
        );
    }
    // No body, or a well-formed one, goes on to the Docker action (none is configured: 404).
    for body in ["", r#"{"backupId": "abc123"}"#, "{}"] {
        let response = http.post(&url).body(body).send().await.unwrap();
        assert_eq!(response.status(), 404, "{body:?}");
    }
}
