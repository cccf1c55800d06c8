//! The test environment's three registries (`scripts/test-env.sh`): pushing images through the
//! distribution API as a user's CI would, reading a registry's access log, and the token issuer
//! the token-auth registry trusts (started on 127.0.0.1:5003 by the first test that needs it).
//!
//! Only with the `engine` feature; never used by drydock itself.

// Test support: a test environment that does not answer as set up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use drydock_core::model::Platform;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::engine::{test_env_dir, unique};

/// Where `scripts/test-env.sh` keeps its files; panics with what to run when it is missing.
pub fn env_dir() -> PathBuf {
    let dir = test_env_dir();
    assert!(
        dir.join("tls/ca.crt").exists(),
        "the test environment is missing: run scripts/test-env.sh (the README's test command does)"
    );
    dir
}

/// The basic-auth registry's user.
pub fn basic_user() -> String {
    read_trimmed("basic.user")
}

/// The basic-auth registry's password (a test-only secret).
pub fn basic_password() -> String {
    read_trimmed("basic.password")
}

fn read_trimmed(name: &str) -> String {
    std::fs::read_to_string(env_dir().join(name))
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
        .trim()
        .to_owned()
}

/// One of the test environment's registries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// 127.0.0.1:5000, plain HTTP, no auth.
    Anonymous,
    /// 127.0.0.1:5001, TLS from the test CA, htpasswd basic auth.
    Basic,
    /// 127.0.0.1:5002, bearer tokens from the test issuer on 127.0.0.1:5003.
    Token,
}

impl Setup {
    /// Its address.
    pub fn host(self) -> &'static str {
        match self {
            Self::Anonymous => "127.0.0.1:5000",
            Self::Basic => "127.0.0.1:5001",
            Self::Token => "127.0.0.1:5002",
        }
    }

    /// Its base URL.
    pub fn base(self) -> String {
        match self {
            Self::Basic => format!("https://{}", self.host()),
            _ => format!("http://{}", self.host()),
        }
    }

    /// Its access log.
    pub fn log_file(self) -> PathBuf {
        let name = match self {
            Self::Anonymous => "anonymous",
            Self::Basic => "basic",
            Self::Token => "token",
        };
        env_dir().join(format!("registry-{name}/registry.log"))
    }

    /// The drydock configuration a user would write for this registry.
    pub fn env(self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        match self {
            Self::Anonymous => {}
            Self::Basic => {
                env.insert("DD_REGISTRY_CUSTOM_BASIC_URL".into(), self.base());
                env.insert("DD_REGISTRY_CUSTOM_BASIC_LOGIN".into(), basic_user());
                env.insert("DD_REGISTRY_CUSTOM_BASIC_PASSWORD".into(), basic_password());
                let ca = env_dir().join("tls/ca.crt");
                env.insert(
                    "DD_REGISTRY_CUSTOM_BASIC_CAFILE".into(),
                    ca.display().to_string(),
                );
            }
            Self::Token => {
                issuer();
                env.insert("DD_REGISTRY_CUSTOM_TOKEN_URL".into(), self.base());
                env.insert("DD_REGISTRY_CUSTOM_TOKEN_LOGIN".into(), basic_user());
                env.insert("DD_REGISTRY_CUSTOM_TOKEN_PASSWORD".into(), basic_password());
            }
        }
        env
    }

    fn http(self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder();
        if self == Self::Basic {
            let pem = std::fs::read(env_dir().join("tls/ca.crt")).expect("test CA");
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }

    async fn authorization(self, repo: &str) -> Option<String> {
        match self {
            Self::Anonymous => None,
            Self::Basic => {
                let pair = format!("{}:{}", basic_user(), basic_password());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            Self::Token => Some(format!(
                "Bearer {}",
                issuer().sign(&[format!("repository:{repo}:pull,push")])
            )),
        }
    }

    /// Uploads a blob; returns its digest.
    pub async fn push_blob(self, repo: &str, bytes: &[u8]) -> String {
        let http = self.http();
        let auth = self.authorization(repo).await;
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        let mut start = http.post(format!("{}/v2/{repo}/blobs/uploads/", self.base()));
        if let Some(auth) = &auth {
            start = start.header("Authorization", auth);
        }
        let response = start.send().await.unwrap();
        assert_eq!(response.status(), 202, "starting a blob upload to {repo}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base())
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let mut put = http
            .put(format!("{location}{separator}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec());
        if let Some(auth) = &auth {
            put = put.header("Authorization", auth);
        }
        let response = put.send().await.unwrap();
        assert_eq!(response.status(), 201, "finishing a blob upload to {repo}");
        digest
    }

    /// Uploads a manifest under `reference`; returns its digest.
    pub async fn push_manifest(
        self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &str,
    ) -> String {
        let mut put = self
            .http()
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base()))
            .header("Content-Type", media_type)
            .body(body.to_owned());
        if let Some(auth) = self.authorization(repo).await {
            put = put.header("Authorization", auth);
        }
        let response = put.send().await.unwrap();
        let status = response.status();
        assert_eq!(
            status,
            201,
            "pushing {repo}:{reference}: {}",
            response.text().await.unwrap_or_default()
        );
        format!("sha256:{:x}", Sha256::digest(body.as_bytes()))
    }

    /// Pushes a one-layer image for `platform`, with content unique to this call; returns
    /// (manifest digest, config digest).
    pub async fn push_image(self, repo: &str, tag: &str, platform: &Platform) -> (String, String) {
        let (body, config) = self.image_manifest(repo, tag, platform).await;
        let digest = self
            .push_manifest(
                repo,
                tag,
                "application/vnd.oci.image.manifest.v1+json",
                &body,
            )
            .await;
        (digest, config)
    }

    async fn image_manifest(self, repo: &str, tag: &str, platform: &Platform) -> (String, String) {
        let layer = format!("layer of {repo}:{tag} for {platform} {}", unique("l"));
        let layer_digest = self.push_blob(repo, layer.as_bytes()).await;
        let variant = platform
            .variant
            .as_ref()
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        let config = format!(
            r#"{{"architecture":"{}","os":"{}"{variant},"created":"2026-11-27T10:00:00Z","config":{{"Labels":{{"org.opencontainers.image.version":"{tag}"}}}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#,
            platform.architecture, platform.os
        );
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        (body, config_digest)
    }

    /// Pushes an OCI index with one child per platform; returns (index digest, child digests).
    pub async fn push_index(
        self,
        repo: &str,
        tag: &str,
        platforms: &[Platform],
    ) -> (String, Vec<String>) {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for platform in platforms {
            let (body, _) = self.image_manifest(repo, tag, platform).await;
            let digest = self
                .push_manifest(
                    repo,
                    &format!("sha256:{:x}", Sha256::digest(body.as_bytes())),
                    "application/vnd.oci.image.manifest.v1+json",
                    &body,
                )
                .await;
            let variant = platform
                .variant
                .as_ref()
                .map(|v| format!(r#","variant":"{v}""#))
                .unwrap_or_default();
            entries.push(format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{},"platform":{{"architecture":"{}","os":"{}"{variant}}}}}"#,
                body.len(),
                platform.architecture,
                platform.os
            ));
            digests.push(digest);
        }
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        );
        let digest = self
            .push_manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index)
            .await;
        (digest, digests)
    }

    /// Access-log lines of this registry that mention `needle`: `(method, uri)`.
    pub fn requests_mentioning(self, needle: &str) -> Vec<(String, String)> {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        log.lines()
            .filter(|line| line.contains(needle))
            .filter_map(|line| {
                let quoted = line.split('"').nth(1)?;
                let mut parts = quoted.split(' ');
                let method = parts.next()?;
                let uri = parts.next()?;
                (parts.next()?.starts_with("HTTP/")).then(|| (method.to_owned(), uri.to_owned()))
            })
            .collect()
    }
}

/// A Linux platform.
pub fn linux(arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(Into::into),
    }
}

/// The token issuer the token-auth registry trusts: signs JWTs with the test key, grants what is
/// asked to the test user, refuses everyone else. Counts its requests.
pub struct Issuer {
    /// Token requests answered.
    pub requests: AtomicU64,
    /// The scopes of each token request, in order.
    pub scopes: Mutex<Vec<Vec<String>>>,
    /// The `Authorization` header of each token request (empty when there was none), in order:
    /// lets a test see that a credential really went out.
    pub authorizations: Mutex<Vec<String>>,
    key: jsonwebtoken::EncodingKey,
    chain: String,
}

/// The issuer, started on first use.
pub fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<&'static Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let dir = env_dir().join("token");
        let key_pem = std::fs::read(dir.join("signing.key")).expect("token signing key");
        let cert_pem = std::fs::read_to_string(dir.join("signing.crt")).expect("token certificate");
        let der: String = cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let issuer: &'static Issuer = Box::leak(Box::new(Issuer {
            requests: AtomicU64::new(0),
            scopes: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            key: jsonwebtoken::EncodingKey::from_rsa_pem(&key_pem).expect("RSA key"),
            chain: der,
        }));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:5003")
                    .await
                    .expect("token issuer port 5003");
                let _ = ready_tx.send(());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(issuer.serve(stream));
                }
            });
        });
        ready_rx.recv().expect("token issuer started");
        issuer
    })
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A token granting `scopes` to the test user.
    pub fn sign(&self, scopes: &[String]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let claims = serde_json::json!({
            "iss": "drydock-test-issuer", "sub": basic_user(), "aud": "drydock-registry",
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": unique("jti"), "access": access,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5c = Some(vec![self.chain.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key).expect("signing a token")
    }

    async fn serve(&'static self, mut stream: TcpStream) {
        let Some(head) = read_head(&mut stream).await else {
            return;
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default();
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let scopes: Vec<String> = url_pairs(query)
            .into_iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v)
            .collect();
        self.scopes.lock().unwrap().push(scopes.clone());
        let authorization = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .map(|l| l[14..].trim().to_owned())
            .unwrap_or_default();
        self.authorizations
            .lock()
            .unwrap()
            .push(authorization.clone());
        let expected = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                basic_user(),
                basic_password()
            ))
        );
        let authorised = authorization.eq_ignore_ascii_case(&expected);
        let response = if authorised {
            let body =
                serde_json::json!({"token": self.sign(&scopes), "expires_in": 300}).to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        } else {
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        };
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an HTTP request's head (up to the blank line, at most 64 KiB) from `stream`.
pub async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buffer.len() > 64 * 1024 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buffer).ok()
}
