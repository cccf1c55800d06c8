//! The OCI distribution client behind [`RegistryClient`].
//!
//! Wire calls go through `reqwest` (rustls) rather than `oci_client::Client`, because the watcher
//! needs what that client keeps to itself: response headers (`Retry-After`, `ratelimit-remaining`,
//! `Link`), one token per scope reused across repositories' calls without a `/v2/` round trip
//! before each, HEAD without a silent fallback to GET, and byte limits on every body. Manifests and
//! indexes are read with `oci_client`'s manifest types.
//!
//! Per registry endpoint the client keeps: one HTTP client (TLS options of the provider), a
//! concurrency limit, a token bucket, a `Retry-After` gate, the authentication challenge learned
//! from the first `401`, and a token cache keyed by scope.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Platform, RegistryRef};
use drydock_core::ports::{EndpointStats, ImageConfig, PlatformManifest, Registry, RegistryError};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, ImageIndexEntry,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciImageIndex, OciImageManifest,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::body::{Body, LARGE_BODIES_AT_ONCE, read_body};
use crate::challenge::Challenge;
use crate::link::next_link;
use crate::providers::{self, Provider, ProviderAuth, ProviderKind};
use crate::secret::Secret;

/// Every manifest type drydock understands. Registries answer a narrower `Accept` with a converted
/// (schema 1) manifest and a different digest, so all four are always sent.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// How deep indexes may nest before the client gives up.
const MAX_INDEX_DEPTH: usize = 3;

/// How long the token prefetch waits for a registry's `/v2/` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Tunables of the client. The defaults suit public registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included.
    pub request_timeout: Duration,
    /// Requests in flight per public registry.
    pub max_concurrency: usize,
    /// Requests in flight per self-hosted registry: more, because a watch cycle's length is
    /// its requests times the round trip divided by this, and nobody else's quota is at stake.
    pub self_hosted_max_concurrency: usize,
    /// Request rate towards public registries (Docker Hub, GHCR, Quay, ...), which throttle.
    pub public_rate: Rate,
    /// Request rate towards self-hosted registries (a configured URL, or loopback).
    pub self_hosted_rate: Rate,
    /// Retries after a `429`, `503`, server error or connection failure.
    pub max_retries: u32,
    /// The first wait before a retry when the registry names none; each further retry waits
    /// twice as long, up to 30 s.
    pub retry_backoff: Duration,
    /// The longest `Retry-After` honoured; longer waits give up with `RateLimited`.
    pub max_retry_after: Duration,
    /// The largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// The most tag-list pages followed.
    pub max_tag_pages: usize,
    /// The most tags kept for one repository.
    pub max_tags: usize,
    /// The `User-Agent` sent.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrency: 8,
            self_hosted_max_concurrency: 32,
            public_rate: Rate {
                per_second: 10.0,
                burst: 30.0,
            },
            self_hosted_rate: Rate {
                per_second: 500.0,
                burst: 500.0,
            },
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            max_body_bytes: 8 * 1024 * 1024,
            max_tag_pages: 100,
            max_tags: 100_000,
            user_agent: format!("drydock/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The variable that sets [`ClientOptions::request_timeout`], in milliseconds (drydock's name).
pub const TIMEOUT_VARIABLE: &str = "DD_OUTBOUND_HTTP_TIMEOUT_MS";

impl ClientOptions {
    /// The defaults, with what the environment changes: `DD_OUTBOUND_HTTP_TIMEOUT_MS` is the time one registry request may take, body included,
    /// in milliseconds (default 30000); connecting may take at most that too (default 10 s). A
    /// registry that hangs or trickles then costs a watch cycle this long per request, not more.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use drydock_registry::ClientOptions;
    ///
    /// let env = BTreeMap::from([("DD_OUTBOUND_HTTP_TIMEOUT_MS".to_owned(), "2500".to_owned())]);
    /// let options = ClientOptions::from_env(&env).unwrap();
    /// assert_eq!(options.request_timeout, Duration::from_millis(2500));
    /// assert_eq!(options.connect_timeout, Duration::from_millis(2500));
    /// let env = BTreeMap::from([("DD_OUTBOUND_HTTP_TIMEOUT_MS".to_owned(), "soon".to_owned())]);
    /// assert!(ClientOptions::from_env(&env).is_err());
    /// ```
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, OptionsError> {
        let mut options = Self::default();
        let found = env
            .get(TIMEOUT_VARIABLE)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (TIMEOUT_VARIABLE.to_owned(), v.to_owned()));
        if let Some((variable, value)) = found {
            let millis = value
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=3_600_000).contains(ms))
                .ok_or(OptionsError::Invalid {
                    variable,
                    value,
                    accepted: "milliseconds from 1 to 3600000",
                })?;
            options.request_timeout = Duration::from_millis(millis);
            options.connect_timeout = options.connect_timeout.min(options.request_timeout);
        }
        Ok(options)
    }
}

/// A client setting from the environment that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// The value is not one the variable accepts.
    #[error("{variable}=`{value}` is invalid: expected {accepted}")]
    Invalid {
        /// The environment variable.
        variable: String,
        /// Its value.
        value: String,
        /// What it accepts.
        accepted: &'static str,
    },
}

/// A token bucket: a sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once before the rate applies.
    pub burst: f64,
}

/// A [`Registry`] for every configured provider, talking the OCI distribution API.
///
/// ```no_run
/// use drydock_core::ports::Registry;
/// use drydock_registry::{ClientOptions, RegistryClient};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let client = RegistryClient::new(Vec::new(), ClientOptions::default());
/// let image = "127.0.0.1:5000/acme/app:1.0.0".parse()?;
/// let tags = client.list_tags(&image).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RegistryClient {
    providers: Vec<Provider>,
    options: ClientOptions,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    large_bodies: tokio::sync::Semaphore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ping,
    Tags,
    Head,
    Manifest,
    Blob,
    Token,
}

#[derive(Debug, Default)]
struct Counters {
    pings: AtomicU64,
    tag_lists: AtomicU64,
    tag_lookups: AtomicU64,
    tag_lookup_micros: AtomicU64,
    manifest_heads: AtomicU64,
    manifest_gets: AtomicU64,
    blob_gets: AtomicU64,
    tokens: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn count(&self, kind: Kind) {
        let counter = match kind {
            Kind::Ping => &self.pings,
            Kind::Tags => &self.tag_lists,
            Kind::Head => &self.manifest_heads,
            Kind::Manifest => &self.manifest_gets,
            Kind::Blob => &self.blob_gets,
            Kind::Token => &self.tokens,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One registry endpoint as seen through one provider.
#[derive(Debug)]
struct Endpoint {
    /// The registry host as images name it, for messages.
    registry: String,
    base: Url,
    provider: Provider,
    http: reqwest::Client,
    permits: Semaphore,
    /// The credentials this endpoint uses (the provider's, or none where they do not apply).
    credentials: ProviderAuth,
    rate: Rate,
    gate: Mutex<Gate>,
    auth: Mutex<AuthState>,
    /// One lock per scope, so concurrent calls for one scope fetch its token once while other
    /// scopes' tokens are fetched alongside (one lock for all serialised a first cycle's 200
    /// token requests: 200 round trips end to end).
    token_fetch: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    counters: Counters,
    remaining: AtomicI64,
}

#[derive(Debug)]
struct Gate {
    tokens: f64,
    refilled: Instant,
    not_before: Option<Instant>,
}

#[derive(Debug, Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (Secret, Instant)>,
    /// Basic credentials obtained at run time (ECR), with their expiry.
    exchanged: Option<(String, Secret, Option<Instant>)>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

/// Just enough of a manifest to tell an index from an image manifest.
#[derive(Deserialize)]
struct Versioned {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct ConfigBlob {
    created: Option<String>,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    variant: Option<String>,
    config: Option<ConfigSection>,
}

#[derive(Deserialize, Default)]
struct ConfigSection {
    #[serde(rename = "Labels")]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

impl RegistryClient {
    /// Every page of a repository's tag list.
    async fn tags_of(
        &self,
        endpoint: &Endpoint,
        image: &ImageReference,
    ) -> Result<Vec<String>, RegistryError> {
        let scope = pull_scope(image);
        let mut url = endpoint.url(&format!("/v2/{}/tags/list", image.repository()));
        url.set_query(Some("n=1000"));
        let mut tags = Vec::new();
        let mut seen_tags = HashSet::new();
        let mut seen_urls = HashSet::new();
        for _ in 0..self.options.max_tag_pages {
            seen_urls.insert(url.to_string());
            let response = self
                .send(
                    endpoint,
                    Kind::Tags,
                    Method::GET,
                    url.clone(),
                    None,
                    Some(&scope),
                )
                .await?;
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|h| h.to_str().ok())
                .and_then(next_link)
                .and_then(|target| url.join(target).ok())
                // Credentials travel with each page: never to another origin.
                .filter(|next| next.origin() == endpoint.base.origin());
            let body = read_body(
                response,
                self.options.max_body_bytes,
                &self.large_bodies,
                &endpoint.registry,
                self.options.request_timeout,
            )
            .await?;
            let page: TagList = body.json().map_err(|e| RegistryError::InvalidResponse {
                registry: endpoint.registry.clone(),
                reason: format!("tag list of {}: {e}", image.repository()),
            })?;
            let mut added = 0usize;
            for tag in page.tags.unwrap_or_default() {
                if seen_tags.insert(tag.clone()) {
                    tags.push(tag);
                    added += 1;
                }
            }
            if tags.len() > self.options.max_tags {
                return Err(RegistryError::InvalidResponse {
                    registry: endpoint.registry.clone(),
                    reason: format!(
                        "{} lists more than {} tags",
                        image.repository(),
                        self.options.max_tags
                    ),
                });
            }
            // Stop at the last page, on a page that adds nothing (registries that ignore `last`)
            // and on a link that loops back.
            match next {
                Some(next) if added > 0 && !seen_urls.contains(next.as_str()) => url = next,
                _ => return Ok(tags),
            }
        }
        tracing::warn!(
            registry = %endpoint.registry,
            repository = image.repository(),
            pages = self.options.max_tag_pages,
            "tag list truncated at the page limit"
        );
        Ok(tags)
    }

    /// A client for these providers (from [`providers::providers_from_env`]); images that match none
    /// are read anonymously.
    pub fn new(providers: Vec<Provider>, options: ClientOptions) -> Self {
        Self {
            providers,
            options,
            endpoints: Mutex::new(HashMap::new()),
            large_bodies: tokio::sync::Semaphore::new(LARGE_BODIES_AT_ONCE),
        }
    }

    /// Request counts per endpoint, for metrics.
    pub fn stats(&self) -> Vec<EndpointStats> {
        let endpoints = lock(&self.endpoints);
        let mut stats: Vec<EndpointStats> = endpoints
            .values()
            .map(|e| {
                let c = &e.counters;
                let remaining = e.remaining.load(Ordering::Relaxed);
                EndpointStats {
                    provider: e.provider.id(),
                    endpoint: e.base.to_string(),
                    pings: c.pings.load(Ordering::Relaxed),
                    tag_lists: c.tag_lists.load(Ordering::Relaxed),
                    tag_lookups: c.tag_lookups.load(Ordering::Relaxed),
                    tag_lookup_micros: c.tag_lookup_micros.load(Ordering::Relaxed),
                    manifest_heads: c.manifest_heads.load(Ordering::Relaxed),
                    manifest_gets: c.manifest_gets.load(Ordering::Relaxed),
                    blob_gets: c.blob_gets.load(Ordering::Relaxed),
                    tokens: c.tokens.load(Ordering::Relaxed),
                    rate_limited: c.rate_limited.load(Ordering::Relaxed),
                    errors: c.errors.load(Ordering::Relaxed),
                    ratelimit_remaining: (remaining >= 0).then_some(remaining),
                }
            })
            .collect();
        stats.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        stats
    }

    /// The provider that serves an image (the configured one that matches, else anonymous).
    pub fn provider_for(&self, image: &ImageReference) -> Provider {
        providers::pick(&self.providers, image)
            .cloned()
            .unwrap_or_else(|| Provider::anonymous_for(image))
    }

    /// Fetches, in as few token requests as the registry allows, the pull tokens for all these
    /// images. Call it at the start of a watch cycle; the calls that follow then need no token
    /// request of their own. Registries that ignore extra scopes simply get single-scope requests
    /// later.
    pub async fn prefetch_tokens(&self, images: &[ImageReference]) {
        let mut by_endpoint: HashMap<String, (Arc<Endpoint>, Vec<String>)> = HashMap::new();
        for image in images {
            let Ok(endpoint) = self.endpoint(image) else {
                continue;
            };
            let entry = by_endpoint
                .entry(endpoint.base.to_string())
                .or_insert_with(|| (endpoint.clone(), Vec::new()));
            let scope = pull_scope(image);
            if !entry.1.contains(&scope) {
                entry.1.push(scope);
            }
        }
        // Registries are prepared side by side, and a registry whose challenge is unknown gets
        // one probe, without retries and bounded in time: a slow or unreachable registry must
        // not hold up the cycle of all the others.
        let prefetches = by_endpoint
            .into_values()
            .map(|(endpoint, scopes)| async move {
                if endpoint.challenge().is_none() {
                    self.probe(&endpoint).await;
                }
                let Some(Challenge::Bearer { realm, service, .. }) = endpoint.challenge() else {
                    return;
                };
                let missing: Vec<String> = scopes
                    .into_iter()
                    .filter(|s| endpoint.cached_token(s).is_none())
                    .collect();
                for chunk in missing.chunks(25) {
                    let _ = self
                        .fetch_token(&endpoint, &realm, service.as_deref(), chunk)
                        .await;
                }
            });
        futures_util::future::join_all(prefetches).await;
    }

    /// `GET /v2/` once, to learn the registry's challenge; failures are left to the real calls.
    async fn probe(&self, endpoint: &Endpoint) {
        let request = endpoint.http.get(endpoint.url("/v2/")).send();
        let Ok(Ok(response)) = tokio::time::timeout(PROBE_TIMEOUT, request).await else {
            return;
        };
        endpoint.counters.count(Kind::Ping);
        if response.status() == StatusCode::UNAUTHORIZED
            && let Some(challenge) = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| Challenge::parse(h).ok())
        {
            endpoint.learn(challenge, None, None);
        }
    }

    fn endpoint(&self, image: &ImageReference) -> Result<Arc<Endpoint>, RegistryError> {
        let provider = self.provider_for(image);
        let base = provider.endpoint(image);
        let key = format!("{}|{base}", provider.id());
        if let Some(endpoint) = lock(&self.endpoints).get(&key) {
            return Ok(endpoint.clone());
        }
        let registry = image.registry().to_owned();
        let invalid = |reason: String| RegistryError::Unavailable {
            registry: registry.clone(),
            reason,
        };
        let base = Url::parse(&base).map_err(|e| invalid(format!("endpoint {base}: {e}")))?;
        let http = build_http(&provider, &self.options).map_err(invalid)?;
        let self_hosted = provider.url.is_some()
            || provider.kind == ProviderKind::Custom
            || base.scheme() == "http";
        let (rate, concurrency) = if self_hosted {
            (
                self.options.self_hosted_rate,
                self.options.self_hosted_max_concurrency,
            )
        } else {
            (self.options.public_rate, self.options.max_concurrency)
        };
        let credentials = provider.auth_for(image).clone();
        let endpoint = Arc::new(Endpoint {
            credentials,
            rate,
            registry: registry.clone(),
            base,
            provider,
            http,
            permits: Semaphore::new(concurrency.max(1)),
            gate: Mutex::new(Gate {
                tokens: rate.burst.max(1.0),
                refilled: Instant::now(),
                not_before: None,
            }),
            auth: Mutex::new(AuthState::default()),
            token_fetch: Mutex::default(),
            counters: Counters::default(),
            remaining: AtomicI64::new(-1),
        });
        Ok(lock(&self.endpoints).entry(key).or_insert(endpoint).clone())
    }

    /// Sends one request with authentication, politeness and retries; returns a `2xx` response.
    async fn send(
        &self,
        endpoint: &Endpoint,
        kind: Kind,
        method: Method,
        url: Url,
        accept: Option<&str>,
        scope: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let result = self
            .send_inner(endpoint, kind, method, url, accept, scope)
            .await;
        if result.is_err() {
            endpoint.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn send_inner(
        &self,
        endpoint: &Endpoint,
        kind: Kind,
        method: Method,
        url: Url,
        accept: Option<&str>,
        scope: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let registry = endpoint.registry.clone();
        let mut attempt = 0u32;
        let mut challenged = false;
        loop {
            self.wait_turn(endpoint).await?;
            let authorization = match scope {
                Some(scope) => self.authorization(endpoint, scope).await?,
                None => None,
            };
            let mut request = endpoint.http.request(method.clone(), url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value.expose());
            }
            let response = {
                let _permit = endpoint.permits.acquire().await;
                endpoint.counters.count(kind);
                request.send().await
            };
            let response = match response {
                Ok(response) => response,
                Err(e) if e.is_timeout() => {
                    return Err(RegistryError::Timeout {
                        registry,
                        after: self.options.request_timeout,
                    });
                }
                // Every request here is a GET or HEAD: a connection that failed or was reset
                // may be tried again. A certificate that does not fit will not fit next time.
                Err(e) if is_transient(&e) && attempt < self.options.max_retries => {
                    tracing::debug!(%registry, url = %url, error = %describe(&e), attempt, "registry request retried");
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(RegistryError::Unavailable {
                        registry,
                        reason: format!("{}{}", describe(&e), after_attempts(attempt + 1)),
                    });
                }
            };
            endpoint.note_rate_limit(response.headers());
            let status = response.status();
            match status {
                s if s.is_success() => return Ok(response),
                StatusCode::UNAUTHORIZED => {
                    // Learn how this registry authenticates, whatever the request was.
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|h| h.to_str().ok())
                        .and_then(|h| Challenge::parse(h).ok());
                    let learned = challenge.is_some();
                    if let Some(challenge) = challenge {
                        endpoint.learn(challenge, scope, authorization.as_ref());
                    }
                    if challenged || scope.is_none() || !learned {
                        return Err(RegistryError::Unauthorized {
                            registry,
                            repository: scope_repository(scope),
                        });
                    }
                    challenged = true;
                }
                StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Unauthorized {
                        registry,
                        repository: scope_repository(scope),
                    });
                }
                StatusCode::NOT_FOUND => {
                    return Err(RegistryError::NotFound {
                        registry,
                        what: url.path().trim_start_matches("/v2/").to_owned(),
                    });
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        endpoint
                            .counters
                            .rate_limited
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    let retry_after = retry_after(response.headers());
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt + 1));
                    if attempt >= self.options.max_retries || wait > self.options.max_retry_after {
                        // Honour the registry's wait for the calls that follow, even when this
                        // one gives up now.
                        if let Some(wait) = retry_after {
                            endpoint
                                .hold_until(Instant::now() + wait.min(Duration::from_secs(3600)));
                        }
                        return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                            RegistryError::RateLimited {
                                registry,
                                retry_after,
                            }
                        } else {
                            RegistryError::Unavailable {
                                registry,
                                reason: format!(
                                    "answered HTTP {status} to {}{}",
                                    url.path(),
                                    after_attempts(attempt + 1)
                                ),
                            }
                        });
                    }
                    attempt += 1;
                    endpoint.hold_until(Instant::now() + wait);
                }
                s if s.is_server_error() && attempt < self.options.max_retries => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                s if s.is_server_error() => {
                    return Err(RegistryError::Unavailable {
                        registry,
                        reason: format!(
                            "answered HTTP {s} to {}{}",
                            url.path(),
                            after_attempts(attempt + 1)
                        ),
                    });
                }
                s => {
                    return Err(RegistryError::InvalidResponse {
                        registry,
                        reason: format!("unexpected HTTP {s} for {}", url.path()),
                    });
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        backoff(self.options.retry_backoff, attempt)
    }

    /// Waits for the registry's `Retry-After` gate and a token-bucket slot.
    async fn wait_turn(&self, endpoint: &Endpoint) -> Result<(), RegistryError> {
        loop {
            let wait = {
                let mut gate = lock(&endpoint.gate);
                let now = Instant::now();
                if let Some(until) = gate.not_before.filter(|until| *until > now) {
                    // A wait longer than we would sleep: fail at once, without asking again.
                    if until - now > self.options.max_retry_after {
                        return Err(RegistryError::RateLimited {
                            registry: endpoint.registry.clone(),
                            retry_after: Some(until - now),
                        });
                    }
                    Some(until - now)
                } else {
                    let rate = endpoint.rate.per_second.max(0.1);
                    let elapsed = now.duration_since(gate.refilled).as_secs_f64();
                    gate.tokens = (gate.tokens + elapsed * rate).min(endpoint.rate.burst.max(1.0));
                    gate.refilled = now;
                    if gate.tokens >= 1.0 {
                        gate.tokens -= 1.0;
                        None
                    } else {
                        Some(Duration::from_secs_f64((1.0 - gate.tokens) / rate))
                    }
                }
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Ok(()),
            }
        }
    }

    /// The `Authorization` header for a request needing `scope`, per the endpoint's challenge.
    async fn authorization(
        &self,
        endpoint: &Endpoint,
        scope: &str,
    ) -> Result<Option<Secret>, RegistryError> {
        match endpoint.challenge() {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .credentials(endpoint)
                .await?
                .map(|(user, password)| basic_header(&user, &password))),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if let Some(token) = endpoint.cached_token(scope) {
                    return Ok(Some(bearer_header(&token)));
                }
                let single = lock(&endpoint.token_fetch)
                    .entry(scope.to_owned())
                    .or_default()
                    .clone();
                let _single = single.lock().await;
                if let Some(token) = endpoint.cached_token(scope) {
                    return Ok(Some(bearer_header(&token)));
                }
                let token = self
                    .fetch_token(endpoint, &realm, service.as_deref(), &[scope.to_owned()])
                    .await?;
                Ok(Some(bearer_header(&token)))
            }
        }
    }

    /// A token endpoint's answer, small by nature: at most 64 KiB.
    async fn read_token_body(
        &self,
        response: reqwest::Response,
        registry: &str,
    ) -> Result<Body, RegistryError> {
        read_body(
            response,
            64 * 1024,
            &self.large_bodies,
            registry,
            self.options.request_timeout,
        )
        .await
    }

    /// Requests a token for `scopes` from `realm` and caches it under each scope.
    async fn fetch_token(
        &self,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Secret, RegistryError> {
        let registry = endpoint.registry.clone();
        let mut url = Url::parse(realm).map_err(|_| RegistryError::InvalidResponse {
            registry: registry.clone(),
            reason: "token realm is not a URL".into(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut request = endpoint.http.get(url.clone());
        if let Some((user, password)) = self.credentials(endpoint).await? {
            if !realm_may_receive_credentials(endpoint, &url) {
                return Err(RegistryError::Unauthorized {
                    registry,
                    repository: format!(
                        "{} (token realm {} is not trusted with credentials)",
                        scope_repository(scopes.first().map(String::as_str)),
                        url.host_str().unwrap_or_default()
                    ),
                });
            }
            request = request.basic_auth(user, Some(password.expose()));
        }
        self.wait_turn(endpoint).await?;
        tracing::debug!(%registry, scopes = scopes.len(), first = scopes.first().map(String::as_str), "token requested");
        endpoint.counters.count(Kind::Token);
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                RegistryError::Timeout {
                    registry: registry.clone(),
                    after: self.options.request_timeout,
                }
            } else {
                RegistryError::Unavailable {
                    registry: registry.clone(),
                    reason: format!("token endpoint: {}", describe(&e)),
                }
            }
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            // Refused credentials are an error, never a silent anonymous fallback.
            return Err(RegistryError::Unauthorized {
                registry,
                repository: scope_repository(scopes.first().map(String::as_str)),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Unavailable {
                registry,
                reason: format!("token endpoint answered HTTP {status}"),
            });
        }
        let body = self.read_token_body(response, &registry).await?;
        let parsed: TokenResponse = body.json().map_err(|e| RegistryError::InvalidResponse {
            registry: registry.clone(),
            reason: format!("token response: {e}"),
        })?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::InvalidResponse {
                registry: registry.clone(),
                reason: "token response without a token".into(),
            })?;
        // Tokens live `expires_in` seconds (60 when unsaid, per the distribution spec); renew early.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).clamp(10, 86_400));
        let expires = Instant::now() + lifetime.mul_f64(0.9);
        let token = Secret::new(token);
        let mut auth = lock(&endpoint.auth);
        for scope in scopes {
            auth.tokens.insert(scope.clone(), (token.clone(), expires));
        }
        Ok(token)
    }

    /// The Basic credentials of the endpoint's provider (exchanged with AWS first for ECR).
    async fn credentials(
        &self,
        endpoint: &Endpoint,
    ) -> Result<Option<(String, Secret)>, RegistryError> {
        match &endpoint.credentials {
            ProviderAuth::Anonymous => Ok(None),
            ProviderAuth::Basic { username, password } => {
                Ok(Some((username.clone(), password.clone())))
            }
            ProviderAuth::Ecr { .. } => self.ecr_credentials(endpoint).await.map(Some),
        }
    }

    async fn ecr_credentials(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(String, Secret), RegistryError> {
        let registry = endpoint.registry.clone();
        let cached = lock(&endpoint.auth).exchanged.clone();
        if let Some((user, password, expires)) = cached
            && expires.is_none_or(|e| e > Instant::now())
        {
            return Ok((user, password));
        }
        let unavailable = |reason: String| RegistryError::Unavailable {
            registry: registry.clone(),
            reason,
        };
        let signed = endpoint
            .provider
            .ecr_token_request(std::time::SystemTime::now())
            .map_err(|e| unavailable(format!("ECR token request: {e}")))?
            .ok_or_else(|| unavailable("ECR provider without a token request".into()))?;
        let method = Method::from_bytes(signed.method.as_bytes())
            .map_err(|_| unavailable("ECR token request method".into()))?;
        let mut request = endpoint
            .http
            .request(method, &signed.url)
            .body(signed.body.clone());
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        endpoint.counters.count(Kind::Token);
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(format!("ECR GetAuthorizationToken: {}", describe(&e))))?;
        if !response.status().is_success() {
            return Err(RegistryError::Unauthorized {
                registry,
                repository: format!("ECR GetAuthorizationToken: HTTP {}", response.status()),
            });
        }
        let body = self.read_token_body(response, &registry).await?;
        let text = body.text();
        let (user, password, expires_at) = providers::parse_ecr_token_response(&text)
            .map_err(|e| unavailable(format!("ECR token response: {e}")))?;
        let expires = expires_at.map(|at| {
            let left = (at - Utc::now()).to_std().unwrap_or_default();
            // Renew five minutes early, as drydock does.
            Instant::now() + left.saturating_sub(Duration::from_secs(300))
        });
        lock(&endpoint.auth).exchanged = Some((user.clone(), password.clone(), expires));
        Ok((user, password))
    }

    /// `GET` a manifest by tag or digest; returns its digest and body.
    async fn get_manifest(
        &self,
        endpoint: &Endpoint,
        image: &ImageReference,
        reference: &str,
    ) -> Result<(String, Body), RegistryError> {
        let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", image.repository()));
        let scope = pull_scope(image);
        let response = self
            .send(
                endpoint,
                Kind::Manifest,
                Method::GET,
                url,
                Some(MANIFEST_ACCEPT),
                Some(&scope),
            )
            .await?;
        let header = content_digest(response.headers());
        let body = read_body(
            response,
            4 * 1024 * 1024,
            &self.large_bodies,
            &endpoint.registry,
            self.options.request_timeout,
        )
        .await?;
        let computed = body.sha256();
        let digest = match header {
            Some(d) => d,
            None if reference.starts_with("sha256:") => reference.to_owned(),
            None => computed.clone(),
        };
        if digest.starts_with("sha256:") && digest != computed {
            return Err(RegistryError::InvalidResponse {
                registry: endpoint.registry.clone(),
                reason: format!("manifest {reference} does not match its digest {digest}"),
            });
        }
        Ok((digest, body))
    }
}

impl Endpoint {
    /// The endpoint URL with `path` appended to the base's own path (some registries live under
    /// a path, `https://host/artifactory/api/docker/repo`).
    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", self.base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    fn challenge(&self) -> Option<Challenge> {
        lock(&self.auth).challenge.clone()
    }

    fn cached_token(&self, scope: &str) -> Option<Secret> {
        let auth = lock(&self.auth);
        auth.tokens
            .get(scope)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(token, _)| token.clone())
    }

    /// Records a challenge. A `401` to a request that carried the scope's cached token means that
    /// token is stale. A `401` to one sent without it (before the challenge was known, while
    /// another request fetched the token) says nothing about the token: dropping it then made
    /// the first cycle fetch tokens twice.
    fn learn(&self, challenge: Challenge, scope: Option<&str>, sent: Option<&Secret>) {
        let mut auth = lock(&self.auth);
        if let (Some(scope), Some(sent)) = (scope, sent) {
            let carried = auth
                .tokens
                .get(scope)
                .is_some_and(|(token, _)| bearer_header(token) == *sent);
            if carried {
                auth.tokens.remove(scope);
            }
        }
        auth.challenge = Some(challenge);
    }

    fn hold_until(&self, until: Instant) {
        let mut gate = lock(&self.gate);
        if gate.not_before.is_none_or(|t| t < until) {
            gate.not_before = Some(until);
        }
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        let remaining = headers
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            // Docker Hub sends `100;w=21600`.
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse::<i64>().ok());
        if let Some(remaining) = remaining {
            self.remaining.store(remaining.max(0), Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Registry for RegistryClient {
    async fn prepare(&self, images: &[ImageReference]) {
        self.prefetch_tokens(images).await;
    }

    fn describe(&self, image: &ImageReference) -> RegistryRef {
        let provider = self.provider_for(image);
        RegistryRef {
            url: format!("{}/v2", provider.endpoint(image)),
            name: provider.id(),
        }
    }

    async fn list_tags(&self, image: &ImageReference) -> Result<Vec<String>, RegistryError> {
        let endpoint = self.endpoint(image)?;
        let started = Instant::now();
        let tags = self.tags_of(&endpoint, image).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        endpoint
            .counters
            .tag_lookups
            .fetch_add(1, Ordering::Relaxed);
        endpoint
            .counters
            .tag_lookup_micros
            .fetch_add(micros, Ordering::Relaxed);
        tags
    }

    async fn manifest_digest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError> {
        let endpoint = self.endpoint(image)?;
        let scope = pull_scope(image);
        let url = endpoint.url(&format!("/v2/{}/manifests/{reference}", image.repository()));
        let response = self
            .send(
                &endpoint,
                Kind::Head,
                Method::HEAD,
                url,
                Some(MANIFEST_ACCEPT),
                Some(&scope),
            )
            .await?;
        if let Some(digest) = content_digest(response.headers()) {
            return Ok(digest);
        }
        // A registry that omits the header on HEAD leaves no choice but a GET.
        let (digest, _) = self.get_manifest(&endpoint, image, reference).await?;
        Ok(digest)
    }

    async fn platform_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        let endpoint = self.endpoint(image)?;
        let registry = endpoint.registry.clone();
        let invalid = |reason: String| RegistryError::InvalidResponse {
            registry: registry.clone(),
            reason,
        };
        let mut current = reference.to_owned();
        let mut index_digest = None;
        for _ in 0..=MAX_INDEX_DEPTH {
            let (digest, body) = self.get_manifest(&endpoint, image, &current).await?;
            let versioned: Versioned = body
                .json()
                .map_err(|e| invalid(format!("manifest {current}: {e}")))?;
            let media_type = versioned.media_type.as_deref().unwrap_or_default();
            let is_index = media_type == OCI_IMAGE_INDEX_MEDIA_TYPE
                || media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
                || (media_type.is_empty() && versioned.manifests.is_some());
            if is_index {
                let index: OciImageIndex = body
                    .json()
                    .map_err(|e| invalid(format!("index {current}: {e}")))?;
                index_digest.get_or_insert(digest);
                let child = choose_child(&index.manifests, platform).ok_or_else(|| {
                    RegistryError::PlatformNotFound {
                        registry: registry.clone(),
                        reference: format!("{}:{reference}", image.repository()),
                        platform: platform.to_string(),
                    }
                })?;
                current = child.digest.clone();
                continue;
            }
            if !(media_type.is_empty()
                || media_type == OCI_IMAGE_MEDIA_TYPE
                || media_type == IMAGE_MANIFEST_MEDIA_TYPE)
            {
                return Err(invalid(format!("unsupported manifest type {media_type}")));
            }
            let manifest: OciImageManifest = body
                .json()
                .map_err(|e| invalid(format!("manifest {current}: {e}")))?;
            return Ok(PlatformManifest {
                index_digest,
                digest,
                config_digest: manifest.config.digest,
            });
        }
        Err(invalid(format!(
            "indexes nested deeper than {MAX_INDEX_DEPTH}"
        )))
    }

    async fn image_config(
        &self,
        image: &ImageReference,
        config_digest: &str,
    ) -> Result<ImageConfig, RegistryError> {
        let endpoint = self.endpoint(image)?;
        let scope = pull_scope(image);
        let url = endpoint.url(&format!("/v2/{}/blobs/{config_digest}", image.repository()));
        let response = self
            .send(&endpoint, Kind::Blob, Method::GET, url, None, Some(&scope))
            .await?;
        let body = read_body(
            response,
            self.options.max_body_bytes,
            &self.large_bodies,
            &endpoint.registry,
            self.options.request_timeout,
        )
        .await?;
        let blob: ConfigBlob = body.json().map_err(|e| RegistryError::InvalidResponse {
            registry: endpoint.registry.clone(),
            reason: format!("image config {config_digest}: {e}"),
        })?;
        Ok(ImageConfig {
            created: blob
                .created
                .as_deref()
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|c| c.with_timezone(&Utc)),
            os: blob.os,
            architecture: blob.architecture,
            variant: blob.variant,
            labels: blob.config.and_then(|c| c.labels).unwrap_or_default(),
        })
    }
}

/// Picks the index entry for a platform: same OS and architecture; then the same variant, or (for
/// a container without one) the entry without a variant; arm64 counts as `v8` when unsaid.
fn choose_child<'a>(
    entries: &'a [ImageIndexEntry],
    want: &Platform,
) -> Option<&'a ImageIndexEntry> {
    let normalise = |arch: &str, variant: Option<&str>| -> Option<String> {
        match (arch, variant) {
            ("arm64", None | Some("")) => Some("v8".to_owned()),
            (_, Some("")) | (_, None) => None,
            (_, Some(v)) => Some(v.to_owned()),
        }
    };
    let wanted_variant = normalise(&want.architecture, want.variant.as_deref());
    let candidates: Vec<&ImageIndexEntry> = entries
        .iter()
        .filter(|e| {
            e.platform.as_ref().is_some_and(|p| {
                p.os.to_string() == want.os && p.architecture.to_string() == want.architecture
            })
        })
        .collect();
    let variant_of = |e: &&ImageIndexEntry| {
        e.platform
            .as_ref()
            .and_then(|p| normalise(&p.architecture.to_string(), p.variant.as_deref()))
    };
    candidates
        .iter()
        .find(|e| variant_of(e) == wanted_variant)
        .or_else(|| {
            // A container that does not say its variant takes the first match.
            wanted_variant
                .is_none()
                .then(|| candidates.first())
                .flatten()
        })
        .copied()
}

fn build_http(provider: &Provider, options: &ClientOptions) -> Result<reqwest::Client, String> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        // Blobs live behind CDNs; nothing else may redirect (credentials never follow a
        // cross-host redirect in reqwest).
        if attempt.previous().len() > 3 {
            attempt.error("too many redirects")
        } else if attempt
            .previous()
            .first()
            .is_some_and(|first| first.path().contains("/blobs/"))
        {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(options.user_agent.clone())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .redirect(redirects);
    let tls = &provider.tls;
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("CA file {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("CA file {}: {e}", ca.display()))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let mut pem = std::fs::read(cert)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| format!("client key {}: {e}", key.display()))?);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
        builder = builder.identity(identity);
    }
    if tls.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Credentials go to a token realm only over HTTPS (or to loopback) and only on the registry's
/// own host or one its provider names.
fn realm_may_receive_credentials(endpoint: &Endpoint, realm: &Url) -> bool {
    let host = realm.host_str().unwrap_or_default();
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    let secure = realm.scheme() == "https" || loopback;
    let own = endpoint.base.host_str() == Some(host);
    let named = endpoint
        .provider
        .auth_hosts()
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host));
    secure && (own || named)
}

fn pull_scope(image: &ImageReference) -> String {
    format!("repository:{}:pull", image.repository())
}

fn scope_repository(scope: Option<&str>) -> String {
    scope
        .and_then(|s| s.strip_prefix("repository:"))
        .and_then(|s| s.rsplit_once(':'))
        .map_or_else(|| "the registry".to_owned(), |(repo, _)| repo.to_owned())
}

fn basic_header(user: &str, password: &Secret) -> Secret {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    Secret::new(format!("Basic {encoded}"))
}

fn bearer_header(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}

fn content_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| valid_digest(d))
        .map(str::to_owned)
}

fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }) || digest.strip_prefix("sha512:").is_some_and(|hex| {
        hex.len() == 128
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

/// `base`, twice that, four times, ... capped at 30 s (1 s, 2 s, 4 s by default).
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(30))
}

/// Whether a failed request may succeed if sent again: the connection could not be made or broke
/// (refused, reset, closed early), and it was not for a certificate the client refuses.
fn is_transient(error: &reqwest::Error) -> bool {
    !error.is_timeout()
        && (error.is_connect() || error.is_request())
        && !is_certificate_error(error)
}

/// Whether TLS refused the registry's certificate somewhere in the error's causes.
fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        // TLS streams report handshake failures as I/O errors wrapping rustls's (hyper-rustls
        // wraps that I/O error in another), and an I/O error's `source` skips what it wraps.
        let mut inner: &(dyn std::error::Error + 'static) = cause;
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = wrapped;
        }
        if matches!(
            inner.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// `""` after the first attempt, `" after 4 attempts"` after retries, for messages.
fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

/// A reqwest error with its causes. drydock never puts credentials in URLs, so the URL may stay.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a 401 to the request that carried the cached token drops it: one sent without a token
    /// (before the challenge was known), or with an older one, leaves it for the callers waiting.
    #[tokio::test]
    async fn a_401_drops_a_scopes_token_only_when_that_token_was_sent() {
        let client = RegistryClient::new(Vec::new(), ClientOptions::default());
        let image: ImageReference = "127.0.0.1:5000/acme/app:1.0.0".parse().unwrap();
        let endpoint = client.endpoint(&image).unwrap();
        let scope = "repository:acme/app:pull";
        let challenge = Challenge::Bearer {
            realm: "https://127.0.0.1:5000/token".into(),
            service: None,
            scope: None,
        };
        let cached = Secret::new(String::from("fresh"));
        let expires = Instant::now() + Duration::from_secs(300);
        lock(&endpoint.auth)
            .tokens
            .insert(scope.into(), (cached.clone(), expires));

        endpoint.learn(challenge.clone(), Some(scope), None);
        assert_eq!(endpoint.cached_token(scope), Some(cached.clone()));
        let older = bearer_header(&Secret::new(String::from("older")));
        endpoint.learn(challenge.clone(), Some(scope), Some(&older));
        assert_eq!(endpoint.cached_token(scope), Some(cached.clone()));
        endpoint.learn(challenge, Some(scope), Some(&bearer_header(&cached)));
        assert_eq!(endpoint.cached_token(scope), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        let later = (Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let got = retry_after(&headers).unwrap();
        assert!(
            got <= Duration::from_secs(30) && got >= Duration::from_secs(28),
            "{got:?}"
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn digests_are_validated() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!valid_digest("sha256:abc"));
        assert!(!valid_digest("md5:abc"));
    }

    #[test]
    fn scopes_name_their_repository() {
        assert_eq!(
            scope_repository(Some("repository:library/nginx:pull")),
            "library/nginx"
        );
        assert_eq!(scope_repository(None), "the registry");
    }
}
