//! Credentials and tokens: which credentials an endpoint may send where, bearer tokens per
//! scope (fetched once, reused, prefetched several scopes at a time), ECR's exchange.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use drydock_core::image_ref::ImageReference;
use drydock_core::ports::RegistryError;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::time::Instant;

use crate::body::{Body, read_body};
use crate::challenge::Challenge;
use crate::providers::{self, ProviderAuth};
use crate::secret::Secret;

use super::state::*;
use crate::body::describe;

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub(super) token: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) expires_in: Option<u64>,
}

impl RegistryClient {
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

    /// The `Authorization` header for a request needing `scope`, per the endpoint's challenge.
    pub(super) async fn authorization(
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
    pub(super) async fn read_token_body(
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
    pub(super) async fn fetch_token(
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
    pub(super) async fn credentials(
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

    pub(super) async fn ecr_credentials(
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
}

/// Credentials go to a token realm only over HTTPS (or to loopback) and only on the registry's
/// own host or one its provider names.
pub(super) fn realm_may_receive_credentials(endpoint: &Endpoint, realm: &Url) -> bool {
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

pub(super) fn basic_header(user: &str, password: &Secret) -> Secret {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    Secret::new(format!("Basic {encoded}"))
}
