//! The [`Registry`] port: what the watch cycle asks an OCI distribution registry.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::image_ref::ImageReference;
use crate::model::{Platform, RegistryRef};

/// An OCI distribution registry, seen from a watcher.
///
/// Implementations authenticate, paginate, retry and rate-limit on their own; callers see only the
/// answers or a [`RegistryError`]. Every method that asks the registry may also fail with
/// [`RegistryError::RateLimited`] (the registry said to slow down, with its `Retry-After` when it
/// gave one), [`RegistryError::Unavailable`] (unreachable, or a server error after the retries),
/// [`RegistryError::Timeout`] (no answer within the limit) and [`RegistryError::InvalidResponse`]
/// (an answer that is not what the API promises, or larger than the limits).
#[async_trait]
pub trait Registry: Send + Sync {
    /// All tags of the image's repository, in the registry's order, every page followed.
    ///
    /// Errors: [`RegistryError::NotFound`] when the repository does not exist,
    /// [`RegistryError::Unauthorized`] when credentials are missing or refused, and the errors
    /// every call may return (above).
    async fn list_tags(&self, image: &ImageReference) -> Result<Vec<String>, RegistryError>;

    /// The digest of the manifest `reference` (a tag or digest) points at, as the registry reports it
    /// for a `HEAD` with every manifest media type accepted. For a multi-platform image this is the
    /// index digest, the same one Docker records in `RepoDigests`.
    ///
    /// Must not download the manifest when the registry returns `Docker-Content-Digest`: Docker Hub
    /// counts manifest `GET`s against the pull quota.
    ///
    /// Errors: [`RegistryError::NotFound`] when the repository or `reference` does not exist,
    /// [`RegistryError::Unauthorized`], and the errors every call may return; an answer without a
    /// valid digest is [`RegistryError::InvalidResponse`].
    async fn manifest_digest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError>;

    /// Resolves `reference` to the manifest for `platform`, following indexes.
    ///
    /// Errors: [`RegistryError::PlatformNotFound`] when an index has no child for the platform,
    /// [`RegistryError::NotFound`] when `reference` does not exist, [`RegistryError::Unauthorized`],
    /// and the errors every call may return (an index nested too deep is
    /// [`RegistryError::InvalidResponse`]).
    async fn platform_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError>;

    /// The image configuration blob `config_digest` (from [`PlatformManifest::config_digest`]).
    ///
    /// Errors: [`RegistryError::NotFound`] when the blob does not exist,
    /// [`RegistryError::Unauthorized`], and the errors every call may return (a blob that is not
    /// an image configuration is [`RegistryError::InvalidResponse`]).
    async fn image_config(
        &self,
        image: &ImageReference,
        config_digest: &str,
    ) -> Result<ImageConfig, RegistryError>;

    /// Called once at the start of a watch cycle with the images the cycle will ask about, so an
    /// implementation can prepare in bulk: fetch the pull tokens of many repositories in one
    /// request instead of one per repository. A hint only: a later call may name other images.
    /// By default nothing.
    ///
    /// Errors: none; a failure to prepare only means the later calls do the work.
    async fn prepare(&self, images: &[ImageReference]) {
        let _ = images;
    }

    /// Which configured registry serves `image`, for the API's `image.registry`. By default an
    /// unnamed registry at the image's host.
    ///
    /// Errors: none; it asks nothing of the registry.
    fn describe(&self, image: &ImageReference) -> RegistryRef {
        RegistryRef {
            name: "unknown".to_owned(),
            url: format!("https://{}/v2", image.registry()),
        }
    }
}

/// A manifest resolved for one platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformManifest {
    /// The index digest when `reference` named a multi-platform index.
    pub index_digest: Option<String>,
    /// The platform's image manifest digest.
    pub digest: String,
    /// The digest of the image's configuration blob.
    pub config_digest: String,
}

/// What an image configuration says about the image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// When the image was built.
    pub created: Option<DateTime<Utc>>,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant.
    pub variant: Option<String>,
    /// The image's labels (`org.opencontainers.image.version`, `...source`).
    pub labels: BTreeMap<String, String>,
}

/// Why a registry call failed. Messages name the registry and repository, never credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The repository, tag or blob does not exist.
    #[error("{registry}: {what} not found")]
    NotFound {
        /// Registry host.
        registry: String,
        /// What was asked for (`library/nginx:1.2`).
        what: String,
    },
    /// Credentials are missing or were refused.
    #[error("{registry}: not authorised to read {repository}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
    },
    /// The registry asked us to slow down.
    #[error("{registry}: rate limited{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Registry host.
        registry: String,
        /// How long the registry asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The registry cannot be reached or answers with a server error.
    #[error("{registry}: unavailable: {reason}")]
    Unavailable {
        /// Registry host.
        registry: String,
        /// What happened (`connection refused`, `HTTP 503`).
        reason: String,
    },
    /// The registry did not answer in time.
    #[error("{registry}: timed out after {}s", after.as_secs_f32())]
    Timeout {
        /// Registry host.
        registry: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// The registry answered something that is not a valid response.
    #[error("{registry}: invalid response: {reason}")]
    InvalidResponse {
        /// Registry host.
        registry: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A multi-platform index has no image for the container's platform.
    #[error("{registry}: {reference} has no image for platform {platform}")]
    PlatformNotFound {
        /// Registry host.
        registry: String,
        /// The reference that was resolved.
        reference: String,
        /// The platform that was asked for.
        platform: String,
    },
}

/// Request counts of one registry endpoint, for metrics and for tests that count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// The provider id (`hub.public`).
    pub provider: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// `GET /v2/` probes.
    pub pings: u64,
    /// Tag list pages fetched.
    pub tag_lists: u64,
    /// Tag look-ups (every page of one repository's list), finished or failed.
    pub tag_lookups: u64,
    /// Time spent in those look-ups, in microseconds.
    pub tag_lookup_micros: u64,
    /// Manifest `HEAD`s.
    pub manifest_heads: u64,
    /// Manifest `GET`s.
    pub manifest_gets: u64,
    /// Blob `GET`s.
    pub blob_gets: u64,
    /// Token requests.
    pub tokens: u64,
    /// Requests answered `429`.
    pub rate_limited: u64,
    /// Calls that ended in an error.
    pub errors: u64,
    /// The last `ratelimit-remaining` the registry reported.
    pub ratelimit_remaining: Option<i64>,
}
