//! What the client keeps per registry endpoint: its HTTP client, limits, gate, challenge,
//! tokens and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use drydock_core::image_ref::ImageReference;
use drydock_core::ports::{EndpointStats, RegistryError};
use reqwest::Url;
use reqwest::header::HeaderMap;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::body::LARGE_BODIES_AT_ONCE;
use crate::challenge::Challenge;
use crate::providers::{self, Provider, ProviderAuth, ProviderKind};
use crate::secret::Secret;

use super::options::*;

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
    pub(super) providers: Vec<Provider>,
    pub(super) options: ClientOptions,
    pub(super) endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    pub(super) large_bodies: tokio::sync::Semaphore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Ping,
    Tags,
    Head,
    Manifest,
    Blob,
    Token,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) pings: AtomicU64,
    pub(super) tag_lists: AtomicU64,
    pub(super) tag_lookups: AtomicU64,
    pub(super) tag_lookup_micros: AtomicU64,
    pub(super) manifest_heads: AtomicU64,
    pub(super) manifest_gets: AtomicU64,
    pub(super) blob_gets: AtomicU64,
    pub(super) tokens: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) errors: AtomicU64,
}

impl Counters {
    pub(super) fn count(&self, kind: Kind) {
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
pub(super) struct Endpoint {
    /// The registry host as images name it, for messages.
    pub(super) registry: String,
    pub(super) base: Url,
    pub(super) provider: Provider,
    pub(super) http: reqwest::Client,
    pub(super) permits: Semaphore,
    /// The credentials this endpoint uses (the provider's, or none where they do not apply).
    pub(super) credentials: ProviderAuth,
    pub(super) rate: Rate,
    pub(super) gate: Mutex<Gate>,
    pub(super) auth: Mutex<AuthState>,
    /// One lock per scope, so concurrent calls for one scope fetch its token once while other
    /// scopes' tokens are fetched alongside (one lock for all serialised a first cycle's 200
    /// token requests: 200 round trips end to end).
    pub(super) token_fetch: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) counters: Counters,
    pub(super) remaining: AtomicI64,
}

#[derive(Debug)]
pub(super) struct Gate {
    pub(super) tokens: f64,
    pub(super) refilled: Instant,
    pub(super) not_before: Option<Instant>,
}

#[derive(Debug, Default)]
pub(super) struct AuthState {
    pub(super) challenge: Option<Challenge>,
    pub(super) tokens: HashMap<String, (Secret, Instant)>,
    /// Basic credentials obtained at run time (ECR), with their expiry.
    pub(super) exchanged: Option<(String, Secret, Option<Instant>)>,
}

impl RegistryClient {
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

    pub(super) fn endpoint(&self, image: &ImageReference) -> Result<Arc<Endpoint>, RegistryError> {
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
}

impl Endpoint {
    /// The endpoint URL with `path` appended to the base's own path (some registries live under
    /// a path, `https://host/artifactory/api/docker/repo`).
    pub(super) fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", self.base.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    pub(super) fn challenge(&self) -> Option<Challenge> {
        lock(&self.auth).challenge.clone()
    }

    pub(super) fn cached_token(&self, scope: &str) -> Option<Secret> {
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
    pub(super) fn learn(&self, challenge: Challenge, scope: Option<&str>, sent: Option<&Secret>) {
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

    pub(super) fn hold_until(&self, until: Instant) {
        let mut gate = lock(&self.gate);
        if gate.not_before.is_none_or(|t| t < until) {
            gate.not_before = Some(until);
        }
    }

    pub(super) fn note_rate_limit(&self, headers: &HeaderMap) {
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

pub(super) fn build_http(
    provider: &Provider,
    options: &ClientOptions,
) -> Result<reqwest::Client, String> {
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

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn pull_scope(image: &ImageReference) -> String {
    format!("repository:{}:pull", image.repository())
}

pub(super) fn scope_repository(scope: Option<&str>) -> String {
    scope
        .and_then(|s| s.strip_prefix("repository:"))
        .and_then(|s| s.rsplit_once(':'))
        .map_or_else(|| "the registry".to_owned(), |(repo, _)| repo.to_owned())
}

pub(super) fn bearer_header(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}
