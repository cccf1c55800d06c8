//! The client's unit tests.

use std::time::Duration;

use chrono::Utc;
use drydock_core::image_ref::ImageReference;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use crate::challenge::Challenge;
use crate::secret::Secret;

use super::manifest::*;
use super::options::*;
use super::state::*;
use super::transport::*;

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
