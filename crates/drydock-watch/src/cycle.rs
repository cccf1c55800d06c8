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
use drydock_core::ports::{
    ContainerRuntime, ImageConfig, ImageDetails, PlatformManifest, Registry, RegistryError,
    RuntimeError,
};
use drydock_core::rules::{RuleError, RuleSource, TagRules};
use drydock_core::selection::Selection;
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
    lock(map).entry(key).or_default().clone()
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

/// What one watch cycle learns once and shares between its containers: registry answers, the
/// engine's view of each image (five containers of one image cost one inspection), the compiled
/// tag rules of each distinct set of labels, and each tag selection.
pub(crate) struct Cycle<'r> {
    pub(crate) registry: CycleCache<'r>,
    images: Mutex<HashMap<String, Inspection>>,
    rules: Mutex<HashMap<RuleSource, Result<Arc<TagRules>, RuleError>>>,
    selections: Mutex<HashMap<SelectionKey, Arc<Selection>>>,
}

/// One image's inspection, shared by the containers that wait for it.
type Inspection = Arc<OnceCell<Result<ImageDetails, RuntimeError>>>;

/// A selection is the same for every container with this repository, installed tag, tag list
/// (asked or not) and rules.
pub(crate) type SelectionKey = (String, String, bool, Arc<TagRules>);

impl<'r> Cycle<'r> {
    pub(crate) fn new(registry: &'r dyn Registry) -> Self {
        Self {
            registry: CycleCache::new(registry),
            images: Mutex::default(),
            rules: Mutex::default(),
            selections: Mutex::default(),
        }
    }

    /// The rules written as `source`, compiled once per cycle however many containers share them.
    pub(crate) fn rules(&self, source: &RuleSource) -> Result<Arc<TagRules>, RuleError> {
        if let Some(known) = lock(&self.rules).get(source) {
            return known.clone();
        }
        let compiled = source.compile().map(Arc::new);
        lock(&self.rules).insert(source.clone(), compiled.clone());
        compiled
    }

    /// The selection for `key`, computed by `compute` only the first time in this cycle.
    pub(crate) fn selection(
        &self,
        key: SelectionKey,
        compute: impl FnOnce() -> Selection,
    ) -> Arc<Selection> {
        if let Some(known) = lock(&self.selections).get(&key) {
            return known.clone();
        }
        // Computed outside the lock; two containers racing on one key both compute, harmlessly.
        let selection = Arc::new(compute());
        lock(&self.selections).insert(key, selection.clone());
        selection
    }

    /// The engine's details of `image`, inspected once per cycle.
    pub(crate) async fn inspect_image(
        &self,
        runtime: &dyn ContainerRuntime,
        image: &str,
    ) -> Result<ImageDetails, RuntimeError> {
        let cell = lock(&self.images)
            .entry(image.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| runtime.inspect_image(image))
            .await
            .clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
