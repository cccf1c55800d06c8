//! A fault-injecting HTTP proxy in front of a real registry, on loopback, for tests that run whole
//! watch cycles against registries that misbehave.
//!
//! The proxy forwards the distribution API to an upstream registry (`127.0.0.1:5000` in the test
//! environment) and, per [`Rule`], answers some repositories' requests with a [`Fault`] instead:
//! a status (`429` with or without `Retry-After`, `5xx`), a connection reset, silence, a body at
//! one byte per second, truncated JSON, the wrong `Content-Type`, a huge tag list, a `Link` header
//! that loops, a failing token endpoint. Requests for other repositories pass through untouched,
//! so in one watch cycle some containers meet the fault and the others must not notice.
//!
//! It can also be the registry's token realm ([`FaultProxy::require_token`]): it then challenges
//! every `/v2/` request with `Bearer realm="…/token"` and issues opaque tokens itself, which is
//! how a token endpoint's failure is injected. With [`FaultProxy::start_tls`] the same port also
//! speaks TLS (the first byte tells which), with a certificate the caller chose — for instance one
//! that does not name the host ([`TlsIdentity::for_dns_name`]).
//!
//! The proxy runs on its own thread and runtime, so its tasks never count among the tasks of the
//! test's runtime, and stops when dropped. It records each request it served (see
//! [`FaultProxy::requests`]), including how many body bytes it managed to send, so a test can tell
//! how much of a huge answer a client actually read.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::lock;

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// How many served requests [`FaultProxy::requests`] keeps (the oldest are forgotten), so a soak
/// test's proxy does not grow with the number of cycles.
const MAX_LOG: usize = 20_000;
/// How long a hanging or trickling answer lasts at most, should the client never give up.
const MAX_STALL: Duration = Duration::from_secs(600);

/// What the proxy does instead of (or to) the upstream's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers with `status` (and a small JSON error body), plus `Retry-After: retry_after` when
    /// given. `429`, `500`, `502`, `503`.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` value, as sent (seconds or a date).
        retry_after: Option<String>,
    },
    /// Reads the request, then resets the connection (`SO_LINGER` 0: the client sees `RST`).
    Reset,
    /// Reads the request and never answers, until the client gives up.
    Hang,
    /// Sends the upstream's headers, then its body at one byte per `per_byte`.
    SlowBody {
        /// The pause before each byte.
        per_byte: Duration,
    },
    /// Sends the first half of the upstream's JSON body, with a `Content-Length` that matches the
    /// half: valid HTTP, invalid JSON.
    TruncatedJson,
    /// Sends the upstream's answer with `Content-Type: text/html; charset=utf-8`.
    WrongContentType,
    /// Answers a tag list with a well-formed one of `bytes` bytes, chunked (no `Content-Length`),
    /// so a client only learns its size by reading.
    HugeTagList {
        /// The size of the body.
        bytes: usize,
    },
    /// Adds to a tag list a `Link: <…>; rel="next"` that points back to the same page.
    LinkLoop,
    /// Answers the token endpoint with `status` for the rule's repositories' scopes.
    TokenStatus {
        /// The HTTP status.
        status: u16,
    },
}

impl Fault {
    /// A short name for logs and test reports.
    pub fn name(&self) -> String {
        match self {
            Self::Status {
                status,
                retry_after: Some(after),
            } => format!("{status} Retry-After {after}"),
            Self::Status { status, .. } => status.to_string(),
            Self::Reset => "reset".into(),
            Self::Hang => "hang".into(),
            Self::SlowBody { .. } => "slow body".into(),
            Self::TruncatedJson => "truncated JSON".into(),
            Self::WrongContentType => "wrong Content-Type".into(),
            Self::HugeTagList { bytes } => format!("{bytes}-byte tag list"),
            Self::LinkLoop => "Link loop".into(),
            Self::TokenStatus { status } => format!("token endpoint {status}"),
        }
    }
}

/// A fault and the repositories it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What to do.
    pub fault: Fault,
    /// Repositories (`drydock-test/app`) whose requests meet the fault; empty means every
    /// repository. Requests that name no repository (`GET /v2/`) always pass.
    pub repositories: Vec<String>,
    /// How many matching requests meet the fault before the rule lets requests pass; `None` for
    /// every one.
    pub times: Option<u64>,
}

impl Rule {
    /// `fault` for every request of every repository.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            repositories: Vec::new(),
            times: None,
        }
    }

    /// Only for these repositories.
    pub fn only<S: AsRef<str>>(mut self, repositories: &[S]) -> Self {
        self.repositories = repositories.iter().map(|r| r.as_ref().to_owned()).collect();
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, repository: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|r| r == repository)
    }
}

/// One request the proxy served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The repository the request named, if any (for the token endpoint: the first scope's).
    pub repository: Option<String>,
    /// The fault applied, by [`Fault::name`]; `None` when passed through.
    pub fault: Option<String>,
    /// The status sent; `0` when none was (reset, hang).
    pub status: u16,
    /// Body bytes the client's connection accepted.
    pub body_bytes: u64,
}

/// A certificate and key for the proxy's TLS side.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A certificate for `dns_name` only (no IP address), signed by the test environment's CA
    /// (`$DRYDOCK_TEST_ENV/tls/ca.crt`), made with the `openssl` CLI. A client that trusts that CA
    /// and connects to `127.0.0.1` must refuse it: the certificate does not name the host.
    ///
    /// # Panics
    ///
    /// When the test environment's CA is missing or `openssl` fails.
    pub fn for_dns_name(dns_name: &str) -> Self {
        let ca = crate::engine::test_env_dir().join("tls");
        let dir = std::env::temp_dir().join(crate::engine::unique("drydock-proxy-tls"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = |name: &str| dir.join(name).display().to_string();
        std::fs::write(
            dir.join("ext.cnf"),
            format!("subjectAltName=DNS:{dns_name}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let serial = format!("{}", std::process::id() as u64 * 1_000_003 + now_nanos());
        let steps: [Vec<String>; 2] = [
            [
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                format!("/CN={dns_name}"),
                "-keyout".into(),
                path("key.pem"),
                "-out".into(),
                path("req.csr"),
            ])
            .collect(),
            vec![
                "x509".into(),
                "-req".into(),
                "-in".into(),
                path("req.csr"),
                "-CA".into(),
                ca.join("ca.crt").display().to_string(),
                "-CAkey".into(),
                ca.join("ca.key").display().to_string(),
                "-set_serial".into(),
                serial,
                "-days".into(),
                "30".into(),
                "-extfile".into(),
                path("ext.cnf"),
                "-out".into(),
                path("cert.pem"),
            ],
        ];
        for args in steps {
            let output = Command::new("openssl")
                .args(&args)
                .output()
                .unwrap_or_else(|e| panic!("openssl: {e} (scripts/test-env.sh installs it)"));
            assert!(
                output.status.success(),
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let identity = Self {
            cert_pem: read("cert.pem"),
            key_pem: read("key.pem"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        identity
    }

    /// The CA that signed [`TlsIdentity::for_dns_name`]'s certificates.
    pub fn test_ca() -> PathBuf {
        crate::engine::test_env_dir().join("tls/ca.crt")
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or_default()
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<(Rule, u64)>,
    require_token: bool,
    log: VecDeque<(u64, ProxyRequest)>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    state: Mutex<State>,
    tokens_issued: AtomicU64,
    open_connections: AtomicUsize,
    accepted: AtomicU64,
    next_id: AtomicU64,
}

/// A fault-injecting proxy listening on `127.0.0.1`, in front of an upstream registry.
///
/// ```no_run
/// use drydock_testkit::fault_proxy::{Fault, FaultProxy, Rule};
///
/// let proxy = FaultProxy::start("127.0.0.1:5000");
/// // Every request for drydock-test/app is answered 503; other repositories pass through.
/// proxy.set_rules(vec![
///     Rule::new(Fault::Status { status: 503, retry_after: None }).only(&["drydock-test/app"]),
/// ]);
/// println!("images from {}/drydock-test/app", proxy.host());
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A plain-HTTP proxy to `upstream` (`host:port`, plain HTTP) on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound or no runtime can be built.
    pub fn start(upstream: &str) -> Self {
        Self::spawn(upstream, None)
    }

    /// Like [`FaultProxy::start`], and the same port also accepts TLS with `identity`.
    ///
    /// # Panics
    ///
    /// When the identity is not a PEM certificate and key, or as [`FaultProxy::start`].
    pub fn start_tls(upstream: &str, identity: &TlsIdentity) -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&identity.cert_pem)
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("proxy certificate: {e}"));
        let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
            .unwrap_or_else(|e| panic!("proxy key: {e}"));
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .unwrap_or_else(|e| panic!("proxy TLS configuration: {e}"));
        Self::spawn(upstream, Some(TlsAcceptor::from(Arc::new(config))))
    }

    fn spawn(upstream: &str, tls: Option<TlsAcceptor>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("binding the fault proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fault proxy address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("fault proxy socket: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            state: Mutex::new(State::default()),
            tokens_issued: AtomicU64::new(0),
            open_connections: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("fault proxy runtime: {e}"));
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener)
                        .unwrap_or_else(|e| panic!("fault proxy listener: {e}"));
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            tokio::spawn(connection(stream, tls.clone(), serving.clone()));
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels every connection task and closes its socket.
            })
            .unwrap_or_else(|e| panic!("fault proxy thread: {e}"));
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, the registry host images name to go through the proxy.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the rules; the first rule that matches a request decides.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        lock(&self.shared.state).rules = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Removes every rule: everything passes through.
    pub fn pass_through(&self) {
        self.set_rules(Vec::new());
    }

    /// Whether `/v2/` requests need a token from the proxy's own realm (`/token`).
    pub fn require_token(&self, on: bool) {
        lock(&self.shared.state).require_token = on;
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// Client connections accepted so far, TLS or not (a TLS handshake the client abandons still
    /// counts: it is how a client that retries a refused certificate shows).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Client connections open right now.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::Relaxed)
    }

    /// The requests served since the last [`FaultProxy::clear_requests`] (at most the last
    /// 20,000).
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.shared.state)
            .log
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.state).log.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How a connection ended.
enum Ending {
    Closed,
    Reset,
}

async fn connection(stream: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    shared.open_connections.fetch_add(1, Ordering::Relaxed);
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    let mut first = [0u8; 1];
    // TLS records start with 0x16 (handshake); HTTP requests with a method's letter.
    let is_tls =
        tls.is_some() && matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
    match tls.filter(|_| is_tls) {
        Some(acceptor) => {
            if let Ok(mut stream) = acceptor.accept(stream).await
                && let Ending::Reset = serve(&mut stream, "https", &shared).await
            {
                let _ = stream.get_ref().0.set_zero_linger();
            }
        }
        None => {
            let mut stream = stream;
            if let Ending::Reset = serve(&mut stream, "http", &shared).await {
                let _ = stream.set_zero_linger();
            }
        }
    }
    shared.open_connections.fetch_sub(1, Ordering::Relaxed);
}

/// A request's line in the log, published as soon as it says something (a long answer's fault is
/// visible while it lasts) and again when the answer is over.
struct Record<'a> {
    shared: &'a Shared,
    id: u64,
    entry: ProxyRequest,
    published: bool,
}

impl Record<'_> {
    /// Adds the line to the log, or updates it there; a line forgotten by
    /// [`FaultProxy::clear_requests`] meanwhile stays forgotten.
    fn publish(&mut self) {
        let mut state = lock(&self.shared.state);
        if let Some((_, line)) = state.log.iter_mut().rev().find(|(id, _)| *id == self.id) {
            *line = self.entry.clone();
            return;
        }
        if self.published {
            return;
        }
        self.published = true;
        if state.log.len() >= MAX_LOG {
            state.log.pop_front();
        }
        state.log.push_back((self.id, self.entry.clone()));
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Serves requests on one client connection until it closes or a fault ends it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    scheme: &str,
    shared: &Shared,
) -> Ending {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(stream, &mut buffer).await else {
            return Ending::Closed;
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let entry = ProxyRequest {
            method: request.method.clone(),
            target: request.target.clone(),
            repository: repository_of(&request),
            fault: None,
            status: 0,
            body_bytes: 0,
        };
        let mut record = Record {
            shared,
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            entry,
            published: false,
        };
        let outcome = answer(stream, scheme, &request, &mut record).await;
        record.publish();
        match outcome {
            Some(Ending::Reset) => return Ending::Reset,
            Some(Ending::Closed) => return Ending::Closed,
            None if close => return Ending::Closed,
            None => {}
        }
    }
}

/// The fault for a request, if a rule matches it (counting the rule's uses).
fn fault_for(shared: &Shared, repository: Option<&str>, token: bool) -> Option<Fault> {
    let repository = repository?;
    let mut state = lock(&shared.state);
    let (rule, used) = state.rules.iter_mut().find(|(rule, used)| {
        let kind_fits = token == matches!(rule.fault, Fault::TokenStatus { .. });
        kind_fits && rule.matches(repository) && rule.times.is_none_or(|n| *used < n)
    })?;
    *used += 1;
    Some(rule.fault.clone())
}

/// Answers one request; `Some` when the connection must end.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    scheme: &str,
    request: &Request,
    record: &mut Record<'_>,
) -> Option<Ending> {
    let shared = record.shared;
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let host = request.header("host").unwrap_or("127.0.0.1").to_owned();
    if request.path() == "/token" {
        let response = match fault_for(shared, record.entry.repository.as_deref(), true) {
            Some(fault @ Fault::TokenStatus { status }) => {
                record.entry.fault = Some(fault.name());
                Response::json(
                    status,
                    r#"{"errors":[{"code":"UNAVAILABLE","message":"token service failing"}]}"#,
                )
            }
            _ => {
                let n = shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
                Response::json(
                    200,
                    &format!(r#"{{"token":"dd-proxy-token-{n}","expires_in":300}}"#),
                )
            }
        };
        return send(stream, response, head_only, record).await;
    }
    let authorised = request
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer dd-proxy-token-"));
    if lock(&shared.state).require_token && request.path().starts_with("/v2/") && !authorised {
        let scope = record
            .entry
            .repository
            .as_deref()
            .map(|r| format!(r#",scope="repository:{r}:pull""#))
            .unwrap_or_default();
        let mut response = Response::json(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        response.set_header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{scheme}://{host}/token",service="fault-proxy"{scope}"#),
        );
        response.set_header("Docker-Distribution-Api-Version", "registry/2.0");
        return send(stream, response, head_only, record).await;
    }
    let fault = fault_for(shared, record.entry.repository.as_deref(), false);
    let is_tag_list = request.path().ends_with("/tags/list");
    // Faults that apply to the kind of request: the others let it pass.
    let fault = fault.filter(|f| match f {
        Fault::HugeTagList { .. } | Fault::LinkLoop => is_tag_list,
        Fault::SlowBody { .. } | Fault::TruncatedJson => !head_only,
        _ => true,
    });
    record.entry.fault = fault.as_ref().map(Fault::name);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut response = Response::json(
                status,
                r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}"#,
            );
            if let Some(after) = retry_after {
                response.set_header("Retry-After", &after);
            }
            send(stream, response, head_only, record).await
        }
        Some(Fault::Reset) => {
            record.publish();
            Some(Ending::Reset)
        }
        Some(Fault::Hang) => {
            record.publish();
            // Silence; the connection ends when the client gives up (or after MAX_STALL).
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(MAX_STALL, async {
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
            Some(Ending::Closed)
        }
        Some(Fault::HugeTagList { bytes }) => {
            record.entry.status = 200;
            record.publish();
            let repository = record.entry.repository.clone().unwrap_or_default();
            record.entry.body_bytes = huge_tag_list(stream, &repository, bytes).await;
            Some(Ending::Closed)
        }
        fault => {
            let mut response = match forward(shared, request).await {
                Ok(response) => response,
                Err(e) => Response::json(
                    502,
                    &format!(
                        r#"{{"errors":[{{"code":"UNAVAILABLE","message":"fault proxy upstream: {e}"}}]}}"#
                    ),
                ),
            };
            match fault {
                Some(Fault::SlowBody { per_byte }) => {
                    record.entry.status = response.status;
                    record.publish();
                    let head = head_bytes(&response, response.body.len());
                    if stream.write_all(&head).await.is_err() {
                        return Some(Ending::Closed);
                    }
                    let _ = tokio::time::timeout(MAX_STALL, async {
                        for byte in &response.body {
                            tokio::time::sleep(per_byte).await;
                            if stream.write_all(&[*byte]).await.is_err()
                                || stream.flush().await.is_err()
                            {
                                return;
                            }
                            record.entry.body_bytes += 1;
                        }
                    })
                    .await;
                    Some(Ending::Closed)
                }
                Some(Fault::TruncatedJson) => {
                    let half = response.body.len() / 2;
                    response.body.truncate(half);
                    send(stream, response, head_only, record).await
                }
                Some(Fault::WrongContentType) => {
                    response.set_header("Content-Type", "text/html; charset=utf-8");
                    send(stream, response, head_only, record).await
                }
                Some(Fault::LinkLoop) => {
                    response.set_header("Link", &format!(r#"<{}>; rel="next""#, request.target));
                    send(stream, response, head_only, record).await
                }
                _ => send(stream, response, head_only, record).await,
            }
        }
    }
}

/// The repository a request names: `/v2/<repo>/{tags,manifests,blobs}/…`, or for the token
/// endpoint its first `scope=repository:<repo>:…`.
fn repository_of(request: &Request) -> Option<String> {
    let path = request.path();
    if path == "/token" {
        let query = request.target.split_once('?').map(|(_, q)| q)?;
        return query.split('&').find_map(|pair| {
            let value = pair.strip_prefix("scope=")?;
            let scope = percent_decode(value);
            let rest = scope.strip_prefix("repository:")?;
            rest.rsplit_once(':').map(|(repo, _)| repo.to_owned())
        });
    }
    let rest = path.strip_prefix("/v2/")?;
    ["/tags/list", "/manifests/", "/blobs/"]
        .iter()
        .find_map(|marker| rest.find(marker).map(|at| rest[..at].to_owned()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The status line and headers, with `Content-Length: length`.
fn head_bytes(response: &Response, length: usize) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {length}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes a whole response; `Some` when the connection must end. The log has it before the
/// client does.
async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: Response,
    head_only: bool,
    record: &mut Record<'_>,
) -> Option<Ending> {
    record.entry.status = response.status;
    if !head_only {
        record.entry.body_bytes = response.body.len() as u64;
    }
    record.publish();
    // A HEAD answer keeps the upstream's Content-Length: it announces the GET's body.
    let length = if head_only {
        response
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    } else {
        response.body.len()
    };
    let mut headers = response.headers.clone();
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    let trimmed = Response {
        status: response.status,
        headers,
        body: Vec::new(),
    };
    let mut bytes = head_bytes(&trimmed, length);
    if !head_only {
        bytes.extend_from_slice(&response.body);
    }
    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
        record.entry.body_bytes = 0;
        return Some(Ending::Closed);
    }
    None
}

/// Streams a tag list of `bytes` bytes, chunked; returns the body bytes the connection took.
/// One 64 KiB chunk of tags is made once and sent again and again (a client sees repeated tags),
/// and the task yields between chunks: the proxy's other connections must not wait for a client
/// that reads fast.
async fn huge_tag_list<S: AsyncWrite + Unpin>(
    stream: &mut S,
    repository: &str,
    bytes: usize,
) -> u64 {
    const CHUNK: usize = 64 * 1024;
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut tags = Vec::with_capacity(CHUNK + 32);
    let mut n = 0u64;
    while tags.len() < CHUNK {
        tags.extend_from_slice(format!("\"tag-{n:012}\",").as_bytes());
        n += 1;
    }
    let frame = |data: &[u8]| {
        [
            format!("{:x}\r\n", data.len()).into_bytes(),
            data.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat()
    };
    let opening = frame(format!(r#"{{"name":"{repository}","tags":["#).as_bytes());
    let middle = frame(&tags);
    let closing = frame(b"\"end\"]}");
    if stream.write_all(&opening).await.is_err() {
        return 0;
    }
    let mut sent = 0u64;
    while sent as usize + tags.len() < bytes {
        if stream.write_all(&middle).await.is_err() {
            return sent;
        }
        sent += tags.len() as u64;
        tokio::task::yield_now().await;
    }
    if stream.write_all(&closing).await.is_ok() {
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let _ = stream.flush().await;
    }
    sent
}

/// Reads one request (head and `Content-Length` body) from the connection; `None` at its end.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
) -> Option<Request> {
    let end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    buffer.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut words = lines.next()?.split(' ');
    let method = words.next()?.to_owned();
    let target = words.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer.drain(..length).collect();
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Sends the request to the upstream registry (one connection, closed after the answer) and
/// reads the whole answer.
async fn forward(shared: &Shared, request: &Request) -> Result<Response, String> {
    let mut upstream = TcpStream::connect(&shared.upstream)
        .await
        .map_err(|e| format!("connecting to {}: {e}", shared.upstream))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method, request.target, shared.upstream
    );
    for (name, value) in &request.headers {
        let hop = ["host", "connection", "keep-alive", "proxy-connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
        // The proxy's own tokens mean nothing upstream.
        let ours = name.eq_ignore_ascii_case("authorization") && value.contains("dd-proxy-token-");
        if !hop && !ours {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    upstream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("writing upstream: {e}"))?;
    upstream
        .write_all(&request.body)
        .await
        .map_err(|e| format!("writing upstream: {e}"))?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), upstream.read_to_end(&mut raw))
        .await
        .map_err(|_| "upstream did not answer within 120 s".to_owned())?
        .map_err(|e| format!("reading upstream: {e}"))?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("upstream answer without a head")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("upstream status line")?;
    let mut headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if request.method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        match headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
        {
            Some(length) => rest.get(..length).unwrap_or(rest).to_vec(),
            None => rest.to_vec(),
        }
    };
    let head_request = request.method.eq_ignore_ascii_case("HEAD");
    headers.retain(|(n, _)| {
        let hop = ["connection", "keep-alive", "transfer-encoding"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h));
        // The proxy sets its own length, except on HEAD, whose length announces the GET's.
        let length = n.eq_ignore_ascii_case("content-length");
        !hop && (!length || head_request)
    });
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("chunk size {size_text}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("chunk shorter than its size")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn requests_name_their_repository() {
        assert_eq!(
            repository_of(&request("/v2/drydock-test/a-1/tags/list?n=1000")).as_deref(),
            Some("drydock-test/a-1")
        );
        assert_eq!(
            repository_of(&request("/v2/x/manifests/1.0")).as_deref(),
            Some("x")
        );
        assert_eq!(
            repository_of(&request(
                "/token?service=fault-proxy&scope=repository%3Adrydock-test%2Fa%3Apull"
            ))
            .as_deref(),
            Some("drydock-test/a")
        );
        assert_eq!(repository_of(&request("/v2/")), None);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap_or_default(),
            b"abcde"
        );
        assert!(dechunk(b"zz\r\n").is_err());
    }
}
