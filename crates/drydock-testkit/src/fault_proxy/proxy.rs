//! The proxy itself: started on its own thread and runtime, configured while it runs, stopped
//! when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::lock;

use super::rules::*;
use super::serve::*;
use super::tls::*;

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
    pub(super) addr: SocketAddr,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(super) thread: Option<std::thread::JoinHandle<()>>,
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
