//! The watch cycle: containers in, update results out, through ports only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use drydock_core::discovery::{LabelSettings, ResolvedImage, render_link};
use drydock_core::event::WatchEvent;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{
    Container, ContainerError, ContainerStatus, Image, ImageDigest, ImageTag, UpdateKind,
    UpdateResult,
};
use drydock_core::ports::{
    CandidateKey, Clock, ContainerRuntime, ContainerSummary, Registry, RegistryError, RuntimeError,
    Store, StoreError,
};
use drydock_core::selection::Outcome;
use futures_util::StreamExt as _;
use futures_util::stream;
use tokio::sync::broadcast;

use crate::cycle::{Cycle, CycleCache};
use crate::plan::{self, Lookup};
use crate::settings::WatcherSettings;

/// What one watch cycle did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// The containers watched, after the cycle.
    pub containers: Vec<Container>,
    /// How many carry an error.
    pub errors: usize,
    /// How many have an update available.
    pub updates: usize,
    /// Containers removed from the store because they are gone.
    pub removed: usize,
}

/// Why a watch could not run at all (failures of single containers are recorded on them).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The engine could not list or inspect containers.
    #[error("watcher {watcher}: {source}")]
    Runtime {
        /// The watcher.
        watcher: String,
        /// What the engine said.
        source: RuntimeError,
    },
    /// The store failed.
    #[error("watcher {watcher}: {source}")]
    Store {
        /// The watcher.
        watcher: String,
        /// What the store said.
        source: StoreError,
    },
    /// No such container on this watcher.
    #[error("container {0} not found")]
    NotFound(String),
    /// A container's tag choice cannot be explained: its image, labels or registry answer
    /// cannot be used.
    #[error("container {container}: {reason}")]
    Explain {
        /// The container.
        container: String,
        /// What went wrong, as a watch would record it on the container.
        reason: String,
    },
}

/// Digest comparisons already resolved through platform manifests, so a changed index is
/// downloaded once, not every cycle: (repository, tag, local digest) → (remote digest, same image).
type DigestMemo = HashMap<(String, String, String), (String, bool)>;

/// Orders containers so that each image's first container comes before any image's second:
/// containers of one image wait on the same registry answers, so a run of them would fill the
/// concurrency slots while a single repository is asked.
fn interleave_by_image(containers: Vec<ContainerSummary>) -> Vec<ContainerSummary> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ranked: Vec<(usize, usize, ContainerSummary)> = containers
        .into_iter()
        .enumerate()
        .map(|(position, container)| {
            let rank = seen.entry(container.image.clone()).or_default();
            *rank += 1;
            (*rank, position, container)
        })
        .collect();
    ranked.sort_by_key(|(rank, position, _)| (*rank, *position));
    ranked.into_iter().map(|(_, _, c)| c).collect()
}

/// One watcher: one engine, its containers, the registries they come from, the store.
pub struct Watcher {
    settings: WatcherSettings,
    runtime: Arc<dyn ContainerRuntime>,
    registry: Arc<dyn Registry>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<WatchEvent>,
    digests: Mutex<DigestMemo>,
    /// Held for a whole cycle: cycles of one watcher run one after the other.
    cycle: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher over these adapters.
    pub fn new(
        settings: WatcherSettings,
        runtime: Arc<dyn ContainerRuntime>,
        registry: Arc<dyn Registry>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            settings,
            runtime,
            registry,
            store,
            clock,
            events,
            digests: Mutex::new(HashMap::new()),
            cycle: tokio::sync::Mutex::new(()),
        }
    }

    /// The watcher's settings.
    pub fn settings(&self) -> &WatcherSettings {
        &self.settings
    }

    /// The engine this watcher watches.
    pub fn runtime(&self) -> &Arc<dyn ContainerRuntime> {
        &self.runtime
    }

    /// The registry this watcher asks.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.registry
    }

    /// The store this watcher keeps its containers in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The time, from the watcher's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Subscribes to what watches change.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    pub(crate) fn identity(&self, name: &str) -> String {
        format!("{}/{name}", self.settings.name)
    }

    fn runtime_error(&self, source: RuntimeError) -> WatchError {
        WatchError::Runtime {
            watcher: self.settings.name.clone(),
            source,
        }
    }

    fn store_error(&self, source: StoreError) -> WatchError {
        WatchError::Store {
            watcher: self.settings.name.clone(),
            source,
        }
    }

    /// Watches every container of the engine once: the watch cycle.
    pub async fn watch_all(&self) -> Result<CycleReport, WatchError> {
        // Overlapping cycles (the schedule, the API, a catch-up after the engine's events came
        // back) would each store what they saw, the one that finished last winning: a cycle begun
        // before a push could overwrite the newer result of one asked after it. One at a time, a
        // cycle asked while another runs starts when it ends and sees the registry as it is then.
        let _cycle = self.cycle.lock().await;
        let started = Instant::now();
        // Stopped containers too: one drydock already watches stays listed with its real status
        // (a stopped container must stay startable through the API), whatever `WATCHALL` says.
        let listed = self
            .runtime
            .list_containers(true)
            .await
            .map_err(|e| self.runtime_error(e))?;
        let stored = self.stored_containers().await?;
        let watched: Vec<ContainerSummary> = listed
            .into_iter()
            .filter(|c| !c.image.is_empty() && self.follows(c, stored.contains_key(&c.id)))
            .collect();
        // (`Registry::prepare`, which batches a cycle's token requests, is not called: a realm
        // that refuses one scope would fail the whole batch, as the fault matrix's token mode
        // showed; each repository fetches its own token.)
        let cycle = Cycle::new(self.registry.as_ref());
        let concurrency = self.settings.concurrency.max(1);
        let cycle = &cycle;
        let work: Vec<(ContainerSummary, LabelSettings, Option<Container>)> =
            interleave_by_image(watched)
                .into_iter()
                .filter_map(|summary| {
                    let labels = LabelSettings::read(&summary.labels);
                    if !labels.is_watched(self.settings.watch_by_default) {
                        return None;
                    }
                    let previous = stored.get(&summary.id).cloned();
                    Some((summary, labels, previous))
                })
                .collect();
        let containers: Vec<Container> = stream::iter(work)
            .map(|(summary, labels, previous)| async move {
                self.evaluate(&summary, &labels, cycle, previous).await
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut report = CycleReport::default();
        for container in containers {
            let previous = stored.get(&container.id);
            self.save(&container, previous).await?;
            report.errors += usize::from(container.error.is_some());
            report.updates += usize::from(container.update_available);
            report.containers.push(container);
        }
        for (id, gone) in &stored {
            if !report.containers.iter().any(|c| &c.id == id) {
                self.store
                    .remove_container(id)
                    .await
                    .map_err(|e| self.store_error(e))?;
                let _ = self
                    .events
                    .send(WatchEvent::ContainerRemoved(Box::new(gone.clone())));
                report.removed += 1;
            }
        }
        report.containers.sort_by(|a, b| a.name.cmp(&b.name));
        tracing::info!(
            watcher = %self.settings.name,
            containers = report.containers.len(),
            updates = report.updates,
            errors = report.errors,
            removed = report.removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "watch cycle done"
        );
        Ok(report)
    }

    /// Watches one container now (id, id prefix or name), registry included.
    pub async fn watch_one(&self, id: &str) -> Result<Container, WatchError> {
        let spec = match self.runtime.inspect_container(id).await {
            Ok(spec) => spec,
            Err(RuntimeError::NotFound { .. }) => return Err(WatchError::NotFound(id.to_owned())),
            Err(e) => return Err(self.runtime_error(e)),
        };
        let listed = self
            .runtime
            .list_containers(true)
            .await
            .map_err(|e| self.runtime_error(e))?;
        let summary = listed
            .into_iter()
            .find(|c| c.id == spec.id)
            .ok_or_else(|| WatchError::NotFound(id.to_owned()))?;
        let previous = self
            .store
            .container(&summary.id)
            .await
            .map_err(|e| self.store_error(e))?;
        let cycle = Cycle::new(self.registry.as_ref());
        let labels = LabelSettings::read(&summary.labels);
        let container = self
            .evaluate(&summary, &labels, &cycle, previous.clone())
            .await;
        self.save(&container, previous.as_ref()).await?;
        Ok(container)
    }

    /// Whether a listed container is this watcher's to follow: every one with `WATCHALL`, else a
    /// running one or one already `known` (a watched container that stops stays listed with its
    /// status until it is removed from the engine).
    fn follows(&self, summary: &ContainerSummary, known: bool) -> bool {
        self.settings.watch_all || known || summary.status == ContainerStatus::Running
    }

    /// Applies an engine event about one container without asking any registry: its state,
    /// name and labels are refreshed; a container that appears is watched in full; one that is
    /// gone from the engine leaves the store (a stopped one stays, with its status).
    pub async fn refresh(&self, id: &str) -> Result<(), WatchError> {
        let previous = self
            .store
            .container(id)
            .await
            .map_err(|e| self.store_error(e))?;
        let listed = self
            .runtime
            .list_containers(true)
            .await
            .map_err(|e| self.runtime_error(e))?;
        let summary = listed.into_iter().find(|c| c.id == id).map(|s| {
            let labels = LabelSettings::read(&s.labels);
            (s, labels)
        });
        let keep = summary.as_ref().is_some_and(|(s, labels)| {
            !s.image.is_empty()
                && self.follows(s, previous.is_some())
                && labels.is_watched(self.settings.watch_by_default)
        });
        match (summary, previous, keep) {
            (Some((summary, labels)), Some(previous), true) => {
                let mut container = previous.clone();
                container.name = summary.name.clone();
                container.status = summary.status;
                if container.labels != summary.labels {
                    // New labels can mean new rules: watch it again in full.
                    let cycle = Cycle::new(self.registry.as_ref());
                    container = self
                        .evaluate(&summary, &labels, &cycle, Some(previous.clone()))
                        .await;
                }
                self.save(&container, Some(&previous)).await
            }
            (Some((summary, labels)), None, true) => {
                let cycle = Cycle::new(self.registry.as_ref());
                let container = self.evaluate(&summary, &labels, &cycle, None).await;
                self.save(&container, None).await
            }
            (_, Some(previous), _) => {
                self.store
                    .remove_container(id)
                    .await
                    .map_err(|e| self.store_error(e))?;
                let _ = self
                    .events
                    .send(WatchEvent::ContainerRemoved(Box::new(previous)));
                Ok(())
            }
            (_, None, _) => Ok(()),
        }
    }

    async fn stored_containers(&self) -> Result<HashMap<String, Container>, WatchError> {
        Ok(self
            .store
            .containers()
            .await
            .map_err(|e| self.store_error(e))?
            .into_iter()
            .filter(|c| c.watcher == self.settings.name)
            .map(|c| (c.id.clone(), c))
            .collect())
    }

    /// Stores a container and tells subscribers what changed. The policy is read again first: one
    /// changed through the API while the cycle ran must not be overwritten by the cycle.
    async fn save(
        &self,
        container: &Container,
        previous: Option<&Container>,
    ) -> Result<(), WatchError> {
        let identity = self.identity(&container.name);
        let policy = self
            .store
            .policy(&identity)
            .await
            .map_err(|e| self.store_error(e))?;
        let refreshed;
        let container = if policy == container.update_policy {
            container
        } else {
            let mut fresh = container.clone();
            fresh.update_policy = policy;
            let kind = fresh.update_kind.clone();
            self.apply_policy(&mut fresh, kind, &identity)
                .await
                .map_err(|e| self.store_error(e))?;
            refreshed = fresh;
            &refreshed
        };
        if previous == Some(container) {
            return Ok(());
        }
        self.store
            .save_container(container)
            .await
            .map_err(|e| self.store_error(e))?;
        let boxed = || Box::new(container.clone());
        let _ = self.events.send(match previous {
            None => WatchEvent::ContainerAdded(boxed()),
            Some(_) => WatchEvent::ContainerUpdated(boxed()),
        });
        let newly_available = container.update_available
            && previous.is_none_or(|p| {
                !p.update_available
                    || p.update_kind.remote_value != container.update_kind.remote_value
            });
        if newly_available {
            let _ = self.events.send(WatchEvent::UpdateAvailable(boxed()));
        }
        Ok(())
    }

    /// Everything drydock knows about one container after asking its registry. Never fails: a
    /// problem becomes the container's `error`, and the last good result is kept.
    async fn evaluate(
        &self,
        summary: &ContainerSummary,
        labels: &LabelSettings,
        cycle: &Cycle<'_>,
        previous: Option<Container>,
    ) -> Container {
        let identity = self.identity(&summary.name);
        let mut container = Container {
            id: summary.id.clone(),
            name: summary.name.clone(),
            display_name: labels.display_name.clone(),
            display_icon: labels.display_icon.clone(),
            watcher: self.settings.name.clone(),
            include_tags: labels.tag_rules.include.clone(),
            exclude_tags: labels.tag_rules.exclude.clone(),
            transform_tags: labels.tag_rules.transform.clone(),
            link_template: labels.link_template.clone(),
            labels: summary.labels.clone(),
            status: summary.status,
            ..Container::default()
        };
        match self.store.policy(&identity).await {
            Ok(policy) => container.update_policy = policy,
            Err(e) => {
                tracing::warn!(container = %summary.name, error = %e, "update policy unreadable")
            }
        }
        if let Err(message) = self
            .fill_from_registry(&mut container, summary, labels, cycle, &identity)
            .await
        {
            // Keep the last good result: a failing registry must not erase what was known.
            if let Some(previous) = previous {
                container.result = previous.result;
                container.update_kind = previous.update_kind;
                container.update_available = previous.update_available;
                if container.image.name.is_empty() {
                    container.image = previous.image;
                }
            }
            container.error = Some(ContainerError { message });
        }
        container
    }

    async fn fill_from_registry(
        &self,
        container: &mut Container,
        summary: &ContainerSummary,
        labels: &LabelSettings,
        cycle: &Cycle<'_>,
        identity: &str,
    ) -> Result<(), String> {
        let registry = &cycle.registry;
        let plan = plan::lookup(self.runtime.as_ref(), summary, labels, cycle).await?;
        let Lookup {
            details,
            resolved,
            rules,
            image: lookup,
            transformed,
            semver,
            watch_digest,
        } = &plan;
        let watch_digest = *watch_digest;
        container.image = Image {
            id: details.id.clone(),
            registry: registry.describe(lookup),
            name: resolved.reference.repository().to_owned(),
            tag: ImageTag {
                value: resolved.tag.clone(),
                semver: *semver,
            },
            digest: ImageDigest {
                watch: watch_digest,
                value: resolved.repo_digest.clone(),
                repo: resolved.repo_digest.clone(),
            },
            architecture: details.architecture.clone(),
            os: details.os.clone(),
            variant: details.variant.clone(),
            created: details.created,
        };
        if let Some(template) = &labels.link_template {
            container.link = Some(render_link(template, &resolved.tag, transformed));
        }
        if resolved.local || resolved.pinned_by_digest {
            // Built locally, or running a digest: there is nothing to compare with a registry.
            return Ok(());
        }

        let wants_tags = plan.wants_tags();
        // The tag list and the current tag's digest are independent: ask both at once, so a
        // repository costs one round trip, not two.
        let tags = async {
            if wants_tags {
                registry.shared_tags(lookup).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let digest = async {
            if watch_digest {
                registry
                    .manifest_digest(lookup, &resolved.tag)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let (tags, remote_digest) = futures_util::future::join(tags, digest).await;
        let tags = tags.map_err(|e| format!("tag list of {}: {e}", lookup.repository()))?;
        let selection = plan::selection(cycle, &plan, tags.as_deref());
        let remote_digest = remote_digest
            .map_err(|e| format!("digest of {}:{}: {e}", lookup.repository(), resolved.tag))?;
        let local_digest = self
            .comparable_local_digest(
                container,
                resolved,
                lookup,
                remote_digest.as_deref(),
                registry,
            )
            .await?;
        container.image.digest.value = local_digest.clone();
        let kind = UpdateKind::classify(
            &resolved.tag,
            selection.as_ref(),
            watch_digest,
            local_digest.as_deref(),
            remote_digest.as_deref(),
        );
        let result_tag = selection.update_tag().unwrap_or(&resolved.tag).to_owned();
        container.result = Some(UpdateResult {
            link: labels
                .link_template
                .as_ref()
                .map(|template| render_link(template, &result_tag, &rules.transform(&result_tag))),
            tag: Some(result_tag),
            digest: match selection.outcome {
                Outcome::Update { .. } => None,
                _ => remote_digest,
            },
            created: None,
        });
        self.apply_policy(container, kind, identity)
            .await
            .map_err(|e| e.to_string())
    }

    /// The local digest to compare with the registry's. When the index digests differ, the
    /// container's own platform image may still be the same (another platform was added): then
    /// the two are resolved through their platform manifests, once per change.
    async fn comparable_local_digest(
        &self,
        container: &Container,
        resolved: &ResolvedImage,
        lookup: &ImageReference,
        remote: Option<&str>,
        registry: &CycleCache<'_>,
    ) -> Result<Option<String>, String> {
        let (Some(local), Some(remote)) = (resolved.repo_digest.as_deref(), remote) else {
            return Ok(resolved.repo_digest.clone());
        };
        if local == remote {
            return Ok(Some(local.to_owned()));
        }
        let key = (
            lookup.repository_path(),
            resolved.tag.clone(),
            local.to_owned(),
        );
        let memo = lock(&self.digests).get(&key).cloned();
        let same = match memo {
            Some((memo_remote, same)) if memo_remote == remote => same,
            _ => {
                let platform = container.image.platform();
                let theirs = registry.platform_manifest(lookup, remote, &platform).await;
                let ours = registry.platform_manifest(lookup, local, &platform).await;
                let manifest_error = |digest: &str, e: RegistryError| {
                    format!("manifest {digest} of {}: {e}", lookup.repository())
                };
                let same = match (theirs, ours) {
                    (Ok(theirs), Ok(ours)) => theirs.digest == ours.digest,
                    // The old manifest may be gone from the registry: the image changed.
                    (Ok(_), Err(RegistryError::NotFound { .. })) => false,
                    // Anything else (a rate limit, a timeout) proves nothing: no verdict, no memo.
                    (Err(e), _) => return Err(manifest_error(remote, e)),
                    (_, Err(e)) => return Err(manifest_error(local, e)),
                };
                lock(&self.digests).insert(key, (remote.to_owned(), same));
                same
            }
        };
        Ok(Some(if same {
            remote.to_owned()
        } else {
            local.to_owned()
        }))
    }

    /// Applies the container's policy to `kind`: dates the candidate (first seen) and decides
    /// `update_available`.
    pub(crate) async fn apply_policy(
        &self,
        container: &mut Container,
        kind: UpdateKind,
        identity: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let first_seen = match &kind.remote_value {
            Some(value) if kind.is_update() => Some(
                self.store
                    .record_first_seen(
                        &CandidateKey {
                            identity: identity.to_owned(),
                            value: value.clone(),
                        },
                        now,
                    )
                    .await?,
            ),
            _ => None,
        };
        container.update_available = kind.is_update()
            && container
                .update_policy
                .suppression(&kind, first_seen, now)
                .is_none();
        container.update_kind = kind;
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, image: &str) -> ContainerSummary {
        ContainerSummary {
            id: id.to_owned(),
            image: image.to_owned(),
            ..ContainerSummary::default()
        }
    }

    #[test]
    fn each_image_is_asked_for_before_any_image_is_asked_for_twice() {
        let listed = vec![
            summary("a1", "a:1"),
            summary("a2", "a:1"),
            summary("a3", "a:1"),
            summary("b1", "b:1"),
            summary("b2", "b:1"),
            summary("c1", "c:1"),
        ];
        let order: Vec<String> = interleave_by_image(listed)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(order, ["a1", "b1", "c1", "a2", "b2", "a3"]);
    }
}
