//! A loopback proxy in front of the test registry: it delays every request by a set time (a
//! remote registry's latency), counts requests by kind, and can act as a bearer-token registry
//! (a `401` challenge and its own token endpoint) so token requests are counted too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

/// Registry requests by kind, as the issue's targets name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    /// `GET /v2/` probes.
    pub(crate) ping: u64,
    /// Token requests to the realm.
    pub(crate) token: u64,
    /// `GET /v2/<name>/tags/list` (every page).
    pub(crate) tags_list: u64,
    /// `HEAD /v2/<name>/manifests/<reference>`.
    pub(crate) manifest_head: u64,
    /// `GET /v2/<name>/manifests/<reference>`.
    pub(crate) manifest_get: u64,
    /// `GET /v2/<name>/blobs/<digest>`.
    pub(crate) blob_get: u64,
    /// Anything else.
    pub(crate) other: u64,
}

#[derive(Clone, Copy)]
enum Kind {
    Ping,
    Token,
    TagsList,
    ManifestHead,
    ManifestGet,
    BlobGet,
    Other,
}

const KINDS: usize = 7;

fn classify(method: &Method, path: &str) -> Kind {
    if path == "/token" {
        return Kind::Token;
    }
    if path == "/v2/" || path == "/v2" {
        return Kind::Ping;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Kind::Other;
    };
    match *method {
        Method::GET if rest.ends_with("/tags/list") => Kind::TagsList,
        Method::HEAD if rest.contains("/manifests/") => Kind::ManifestHead,
        Method::GET if rest.contains("/manifests/") => Kind::ManifestGet,
        Method::GET if rest.contains("/blobs/") => Kind::BlobGet,
        _ => Kind::Other,
    }
}

struct State {
    upstream: String,
    realm: String,
    client: reqwest::Client,
    delay_ms: AtomicU64,
    auth: AtomicBool,
    counts: [AtomicU64; KINDS],
}

/// The running proxy; it lives as long as the benchmark.
#[derive(Clone)]
pub(crate) struct Proxy {
    state: Arc<State>,
    /// `host:port` the proxy listens on; images are named after it.
    pub(crate) host: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("host", &self.host).finish()
    }
}

impl Proxy {
    /// Listens on `127.0.0.1:port` and forwards to `upstream` (`http://127.0.0.1:5000`).
    pub(crate) async fn start(port: u16, upstream: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the latency proxy to 127.0.0.1:{port}"))?;
        let addr: SocketAddr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            realm: format!("http://{addr}/token"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
                .build()?,
            delay_ms: AtomicU64::new(0),
            auth: AtomicBool::new(false),
            counts: Default::default(),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            state,
            host: addr.to_string(),
        })
    }

    /// Sets the delay added before every request is answered.
    pub(crate) fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Turns the bearer-token challenge on (measurement) or off (set-up pulls).
    pub(crate) fn set_auth(&self, on: bool) {
        self.state.auth.store(on, Ordering::SeqCst);
    }

    /// The counts so far, and zero them.
    pub(crate) fn take(&self) -> Counts {
        let c = |kind: Kind| self.state.counts[kind as usize].swap(0, Ordering::SeqCst);
        Counts {
            ping: c(Kind::Ping),
            token: c(Kind::Token),
            tags_list: c(Kind::TagsList),
            manifest_head: c(Kind::ManifestHead),
            manifest_get: c(Kind::ManifestGet),
            blob_get: c(Kind::BlobGet),
            other: c(Kind::Other),
        }
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let kind = classify(request.method(), request.uri().path());
    state.counts[kind as usize].fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let debug = std::env::var_os("DRYDOCK_BENCH_DEBUG").is_some();
    if debug && matches!(kind, Kind::Token | Kind::Ping) {
        eprintln!("proxy: {} {}", request.method(), request.uri());
    }
    if matches!(kind, Kind::Token) {
        // Any client gets a token; the registry behind is anonymous. A long lifetime lets a
        // watcher reuse it across cycles, as it would with a real registry's token.
        let body = r#"{"token":"bench-token","access_token":"bench-token","expires_in":3600}"#;
        let mut response = respond(StatusCode::OK, Bytes::from_static(body.as_bytes()));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return response;
    }
    if state.auth.load(Ordering::SeqCst) {
        let bearer = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        if !bearer {
            if std::env::var_os("DRYDOCK_BENCH_DEBUG").is_some() {
                eprintln!(
                    "proxy: 401 for {} {} (authorization: {:?})",
                    request.method(),
                    request.uri(),
                    request
                        .headers()
                        .get(hyper::header::AUTHORIZATION)
                        .map(|v| v.len())
                );
            }
            let mut response = respond(StatusCode::UNAUTHORIZED, Bytes::new());
            let challenge = format!("Bearer realm=\"{}\",service=\"drydock-bench\"", state.realm);
            if let Ok(value) = hyper::header::HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(hyper::header::WWW_AUTHENTICATE, value);
            }
            return response;
        }
    }
    let uri = request.uri().clone();
    match forward(state, request).await {
        Ok(response) => {
            if debug && !response.status().is_success() {
                eprintln!("proxy: upstream answered {} for {uri}", response.status());
            }
            response
        }
        Err(e) => {
            if debug {
                eprintln!("proxy: upstream failed for {uri}: {e:#}");
            }
            respond(StatusCode::BAD_GATEWAY, Bytes::from(e.to_string()))
        }
    }
}

async fn forward(
    state: &State,
    request: Request<Incoming>,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = body.collect().await?.to_bytes();
    let mut outgoing = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST && name != hyper::header::AUTHORIZATION {
            outgoing = outgoing.header(name, value);
        }
    }
    let upstream = outgoing.body(body).send().await?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await?;
    let mut response = respond(status, bytes);
    for (name, value) in &headers {
        if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONNECTION {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_their_registry_route() {
        let kind = |m: Method, p: &str| classify(&m, p) as usize;
        assert_eq!(kind(Method::GET, "/v2/"), Kind::Ping as usize);
        assert_eq!(kind(Method::GET, "/token"), Kind::Token as usize);
        assert_eq!(
            kind(Method::GET, "/v2/drydock-bench/r0001/tags/list"),
            Kind::TagsList as usize
        );
        assert_eq!(
            kind(Method::HEAD, "/v2/a/b/manifests/1.0.0"),
            Kind::ManifestHead as usize
        );
        assert_eq!(
            kind(Method::GET, "/v2/a/manifests/sha256:00"),
            Kind::ManifestGet as usize
        );
        assert_eq!(
            kind(Method::GET, "/v2/a/blobs/sha256:00"),
            Kind::BlobGet as usize
        );
        assert_eq!(
            kind(Method::POST, "/v2/a/blobs/uploads/"),
            Kind::Other as usize
        );
    }
}
