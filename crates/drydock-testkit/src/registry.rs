use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::Platform;
use drydock_core::ports::{ImageConfig, PlatformManifest, Registry, RegistryError};

use crate::lock;

/// A scriptable registry held in memory.
///
/// Repositories are keyed by [`ImageReference::repository_path`]. It counts the requests it serves
/// (as a real registry's access log would) and can be told to fail or to answer slowly.
#[derive(Debug, Default)]
pub struct InMemoryRegistry {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    repos: HashMap<String, Repo>,
    configs: HashMap<String, ImageConfig>,
    failures: VecDeque<RegistryError>,
    broken: HashMap<String, RegistryError>,
    delay: Option<Duration>,
    counts: RequestCounts,
    /// Whether the next tag list or digest request is held ([`InMemoryRegistry::hold_next`]).
    hold_next: bool,
    /// How many requests wait at the gate now.
    parked: u32,
    /// Open (`true`) once [`InMemoryRegistry::release`] is called.
    gate: Option<tokio::sync::watch::Sender<bool>>,
}

#[derive(Debug, Default)]
struct Repo {
    /// Tags in push order, each with the digest it points at.
    tags: Vec<(String, String)>,
    /// Multi-platform indexes: index digest → children.
    indexes: HashMap<String, Vec<(Platform, PlatformManifest)>>,
    /// Single-platform manifests: manifest digest → config digest.
    manifests: HashMap<String, String>,
}

/// How many requests of each kind a registry served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Tag list requests.
    pub tag_lists: u32,
    /// Manifest digest (HEAD) requests.
    pub manifest_heads: u32,
    /// Manifest downloads (platform resolution).
    pub manifest_gets: u32,
    /// Config blob downloads.
    pub blob_gets: u32,
}

impl InMemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes a single-platform image: `tag` now points at `digest` (moving it if it existed).
    pub fn push(&self, image: &ImageReference, tag: &str, digest: &str) {
        let mut state = lock(&self.state);
        let repo = state.repos.entry(image.repository_path()).or_default();
        repo.manifests
            .entry(digest.to_owned())
            .or_insert_with(|| format!("{digest}-config"));
        set_tag(repo, tag, digest);
    }

    /// Pushes a multi-platform index under `tag`, with one child per platform.
    pub fn push_index(
        &self,
        image: &ImageReference,
        tag: &str,
        index_digest: &str,
        children: Vec<(Platform, PlatformManifest)>,
    ) {
        let mut state = lock(&self.state);
        let repo = state.repos.entry(image.repository_path()).or_default();
        repo.indexes.insert(index_digest.to_owned(), children);
        set_tag(repo, tag, index_digest);
    }

    /// Stores an image configuration blob.
    pub fn put_config(&self, config_digest: &str, config: ImageConfig) {
        lock(&self.state)
            .configs
            .insert(config_digest.to_owned(), config);
    }

    /// Removes a tag.
    pub fn delete_tag(&self, image: &ImageReference, tag: &str) {
        if let Some(repo) = lock(&self.state).repos.get_mut(&image.repository_path()) {
            repo.tags.retain(|(t, _)| t != tag);
        }
    }

    /// The next request fails with `error` (queued: several calls queue several failures).
    pub fn fail_next(&self, error: RegistryError) {
        lock(&self.state).failures.push_back(error);
    }

    /// Every request for this repository fails with `error` until [`Self::repair`].
    pub fn break_repository(&self, image: &ImageReference, error: RegistryError) {
        lock(&self.state)
            .broken
            .insert(image.repository_path(), error);
    }

    /// Ends [`Self::break_repository`] for this repository.
    pub fn repair(&self, image: &ImageReference) {
        lock(&self.state).broken.remove(&image.repository_path());
    }

    /// Every request waits this long before answering (a slow registry).
    pub fn set_delay(&self, delay: Option<Duration>) {
        lock(&self.state).delay = delay;
    }

    /// The next tag list or digest request reads the registry, then waits unanswered until
    /// [`Self::release`]: a request in flight while the registry changes (a cycle that read the
    /// tags before a push and answers after it).
    pub fn hold_next(&self) {
        let mut state = lock(&self.state);
        state.hold_next = true;
        state
            .gate
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0)
            .send_replace(false);
    }

    /// How many requests [`Self::hold_next`] holds now.
    pub fn parked(&self) -> u32 {
        lock(&self.state).parked
    }

    /// Lets the held request answer what it read.
    pub fn release(&self) {
        if let Some(gate) = &lock(&self.state).gate {
            gate.send_replace(true);
        }
    }

    /// Answers `result`, first waiting at the gate if this is the request to hold.
    async fn answer<T>(&self, result: T) -> T {
        let gate = {
            let mut state = lock(&self.state);
            if !std::mem::take(&mut state.hold_next) {
                return result;
            }
            state.parked += 1;
            state
                .gate
                .as_ref()
                .map(tokio::sync::watch::Sender::subscribe)
        };
        if let Some(mut gate) = gate {
            // An error means the registry was dropped: nothing waits for the answer any more.
            let _ = gate.wait_for(|open| *open).await;
        }
        lock(&self.state).parked -= 1;
        result
    }

    /// The requests served so far.
    pub fn requests(&self) -> RequestCounts {
        lock(&self.state).counts
    }

    /// Forgets the request counts.
    pub fn reset_requests(&self) {
        lock(&self.state).counts = RequestCounts::default();
    }

    /// Counts a request, then applies the scripted delay and failures.
    async fn begin(
        &self,
        image: &ImageReference,
        count: impl FnOnce(&mut RequestCounts),
    ) -> Result<(), RegistryError> {
        let delay = {
            let mut state = lock(&self.state);
            count(&mut state.counts);
            state.delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = lock(&self.state);
        if let Some(error) = state.failures.pop_front() {
            return Err(error);
        }
        if let Some(error) = state.broken.get(&image.repository_path()) {
            return Err(error.clone());
        }
        Ok(())
    }
}

fn set_tag(repo: &mut Repo, tag: &str, digest: &str) {
    match repo.tags.iter_mut().find(|(t, _)| t == tag) {
        Some(entry) => entry.1 = digest.to_owned(),
        None => repo.tags.push((tag.to_owned(), digest.to_owned())),
    }
}

fn not_found(image: &ImageReference, what: String) -> RegistryError {
    RegistryError::NotFound {
        registry: image.registry().to_owned(),
        what,
    }
}

#[async_trait]
impl Registry for InMemoryRegistry {
    async fn list_tags(&self, image: &ImageReference) -> Result<Vec<String>, RegistryError> {
        self.begin(image, |c| c.tag_lists += 1).await?;
        let tags = {
            let state = lock(&self.state);
            state
                .repos
                .get(&image.repository_path())
                .ok_or_else(|| not_found(image, image.repository().to_owned()))
                .map(|repo| repo.tags.iter().map(|(t, _)| t.clone()).collect())
        };
        self.answer(tags).await
    }

    async fn manifest_digest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<String, RegistryError> {
        self.begin(image, |c| c.manifest_heads += 1).await?;
        let digest = {
            let state = lock(&self.state);
            let what = || format!("{}:{reference}", image.repository());
            state
                .repos
                .get(&image.repository_path())
                .and_then(|repo| resolve(repo, reference))
                .ok_or_else(|| not_found(image, what()))
        };
        self.answer(digest).await
    }

    async fn platform_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        platform: &Platform,
    ) -> Result<PlatformManifest, RegistryError> {
        self.begin(image, |c| c.manifest_gets += 1).await?;
        let state = lock(&self.state);
        let what = || format!("{}:{reference}", image.repository());
        let repo = state
            .repos
            .get(&image.repository_path())
            .ok_or_else(|| not_found(image, what()))?;
        let digest = resolve(repo, reference).ok_or_else(|| not_found(image, what()))?;
        if let Some(children) = repo.indexes.get(&digest) {
            let matches = |p: &Platform| {
                p.os == platform.os
                    && p.architecture == platform.architecture
                    && (platform.variant.is_none() || p.variant == platform.variant)
            };
            return children
                .iter()
                .find(|(p, _)| matches(p))
                .map(|(_, child)| PlatformManifest {
                    index_digest: Some(digest.clone()),
                    ..child.clone()
                })
                .ok_or_else(|| RegistryError::PlatformNotFound {
                    registry: image.registry().to_owned(),
                    reference: what(),
                    platform: platform.to_string(),
                });
        }
        let config_digest = repo.manifests.get(&digest).cloned().unwrap_or_default();
        Ok(PlatformManifest {
            index_digest: None,
            digest,
            config_digest,
        })
    }

    async fn image_config(
        &self,
        image: &ImageReference,
        config_digest: &str,
    ) -> Result<ImageConfig, RegistryError> {
        self.begin(image, |c| c.blob_gets += 1).await?;
        lock(&self.state)
            .configs
            .get(config_digest)
            .cloned()
            .ok_or_else(|| not_found(image, format!("blob {config_digest}")))
    }
}

/// A tag or a digest → the digest it names, if the repository has it.
fn resolve(repo: &Repo, reference: &str) -> Option<String> {
    if reference.contains(':') {
        let known = repo.manifests.contains_key(reference)
            || repo.indexes.contains_key(reference)
            || repo.tags.iter().any(|(_, d)| d == reference);
        return known.then(|| reference.to_owned());
    }
    repo.tags
        .iter()
        .find(|(t, _)| t == reference)
        .map(|(_, d)| d.clone())
}

/// Tags grouped by repository, for debugging output.
impl InMemoryRegistry {
    /// A snapshot of every repository's tags → digests.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        lock(&self.state)
            .repos
            .iter()
            .map(|(name, repo)| (name.clone(), repo.tags.iter().cloned().collect()))
            .collect()
    }
}
