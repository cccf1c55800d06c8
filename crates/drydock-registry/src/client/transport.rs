//! Sending a request: the endpoint's turn (concurrency, rate, `Retry-After`), authentication,
//! retries with back-off, and errors that say what happened.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use drydock_core::ports::RegistryError;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::time::Instant;

use crate::challenge::Challenge;

use super::state::*;
use crate::body::describe;

/// How long the token prefetch waits for a registry's `/v2/` probe.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl RegistryClient {
    /// `GET /v2/` once, to learn the registry's challenge; failures are left to the real calls.
    pub(super) async fn probe(&self, endpoint: &Endpoint) {
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

    /// Sends one request with authentication, politeness and retries; returns a `2xx` response.
    pub(super) async fn send(
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

    pub(super) async fn send_inner(
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

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        backoff(self.options.retry_backoff, attempt)
    }

    /// Waits for the registry's `Retry-After` gate and a token-bucket slot.
    pub(super) async fn wait_turn(&self, endpoint: &Endpoint) -> Result<(), RegistryError> {
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
}

/// `Retry-After` as seconds or an HTTP date.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

/// `base`, twice that, four times, ... capped at 30 s (1 s, 2 s, 4 s by default).
pub(super) fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(30))
}

/// Whether a failed request may succeed if sent again: the connection could not be made or broke
/// (refused, reset, closed early), and it was not for a certificate the client refuses.
pub(super) fn is_transient(error: &reqwest::Error) -> bool {
    !error.is_timeout()
        && (error.is_connect() || error.is_request())
        && !is_certificate_error(error)
}

/// Whether TLS refused the registry's certificate somewhere in the error's causes.
pub(super) fn is_certificate_error(error: &reqwest::Error) -> bool {
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
pub(super) fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}
