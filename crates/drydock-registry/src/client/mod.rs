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

mod auth;
mod manifest;
mod options;
mod state;
#[cfg(test)]
mod tests;
mod transport;

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Platform, RegistryRef};
use drydock_core::ports::{ImageConfig, PlatformManifest, Registry, RegistryError};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciImageIndex, OciImageManifest,
};
use reqwest::Method;
use tokio::time::Instant;

use crate::body::read_body;

use self::manifest::*;
use self::state::*;

pub use options::{ClientOptions, OptionsError, Rate, TIMEOUT_VARIABLE};
pub use state::RegistryClient;

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
