//! One watch cycle's view of a registry: each distinct question asked once.
//!
//! Ten containers running `nginx:1.25` cost one tag list and one manifest `HEAD`, not ten. Answers,
//! errors included, are kept for the life of the [`CycleCache`]: make one per cycle. Concurrent
//! callers asking the same question wait for the first caller's answer instead of asking again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Platform, RegistryRef};
use drydock_core::ports::{ImageConfig, PlatformManifest, Registry, RegistryError};
use tokio::sync::OnceCell;

type Cell<T> = Arc<OnceCell<Result<T, RegistryError>>>;

/// A [`Registry`] that answers each distinct call once and remembers the answer.
///
/// ```
/// use drydock_core::ports::Registry;
/// use drydock_watch::CycleCache;
/// use drydock_testkit::InMemoryRegistry;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = InMemoryRegistry::new();
/// let image = "ghcr.io/acme/app:1.0".parse().unwrap();
/// registry.push(&image, "1.0", "sha256:a");
/// let cycle = CycleCache::new(&registry);
/// for _ in 0..10 {
///     cycle.list_tags(&image).await.unwrap();
/// }
/// assert_eq!(registry.requests().tag_lists, 1);
/// # });
/// ```
pub struct CycleCache<'r> {
    inner: &'r dyn Registry,
    tags: Mutex<HashMap<String, Cell<Arc<[String]>>>>,
    digests: Mutex<HashMap<(String, String), Cell<String>>>,
    manifests: Mutex<HashMap<(String, String, Platform), Cell<PlatformManifest>>>,
    configs: Mutex<HashMap<(String, String), Cell<ImageConfig>>>,
}

impl std::fmt::Debug for CycleCache<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleCache").finish_non_exhaustive()
    }
}

fn cell<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Cell<T>>>, key: K) -> Cell<T> {
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(key)
        .or_default()
        .clone()
}

impl<'r> CycleCache<'r> {
    /// A fresh cache in front of `inner`.
    pub fn new(inner: &'r dyn Registry) -> Self {
        Self {
            inner,
            tags: Mutex::default(),
            digests: Mutex::default(),
            manifests: Mutex::default(),
            configs: Mutex::default(),
        }
    }

    /// The repository's tags, shared rather than copied: a cycle's containers of one repository
    /// read the same list (hundreds of tags each) without a copy per container.
    pub async fn shared_tags(
        &self,
        image: &ImageReference,
    ) -> Result<Arc<[String]>, RegistryError> {
        let cell = cell(&self.tags, image.repository_path());
        cell.get_or_init(|| async { self.inner.list_tags(image).await.map(Arc::from) })
            .await
            .clone()
    }
}

#[async_trait]
impl Registry for CycleCache<'_> {
    async fn prepare(&self, images: &[ImageReference]) {
        self.inner.prepare(images).await;
    }

    fn describe(&self, image: &ImageReference) -> RegistryRef {
        self.inner.describe(image)
    }

    async fn list_tags(&self, image: &ImageReference) -> Result<Vec<String>, RegistryError> {
        self.shared_tags(image).await.map(|tags| tags.to_vec())
    }

    async fn manifest_digest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError> {
        let cell = cell(
            &self.digests,
            (image.repository_path(), reference.to_owned()),
        );
        cell.get_or_init(|| self.inner.manifest_digest(image, reference))
            .await
            .clone()
    }

    async fn platform_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        let key = (
            image.repository_path(),
            reference.to_owned(),
            platform.clone(),
        );
        let cell = cell(&self.manifests, key);
        cell.get_or_init(|| self.inner.platform_manifest(image, reference, platform))
            .await
            .clone()
    }

    async fn image_config(
        &self,
        image: &ImageReference,
        config_digest: &str,
    ) -> Result<ImageConfig, RegistryError> {
        let cell = cell(
            &self.configs,
            (image.repository_path(), config_digest.to_owned()),
        );
        cell.get_or_init(|| self.inner.image_config(image, config_digest))
            .await
            .clone()
    }
}
