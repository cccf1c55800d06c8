//! The updaters of a whole server, one per action trigger and watcher: which one updates a
//! container, the updates a crash interrupted finished at start-up, and detected updates applied
//! automatically where an action's `AUTO` allows it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use drydock_core::discovery::LabelSettings;
use drydock_core::event::WatchEvent;
use drydock_core::model::Container;
use drydock_core::operation::Operation;
use tokio::sync::broadcast;

use crate::settings::Automatic;
use crate::updater::Updater;

/// Every configured action trigger's updater, by the watcher (engine) it updates.
#[derive(Debug, Default)]
pub struct Updaters {
    updaters: Vec<(String, Arc<Updater>)>,
}

impl Updaters {
    /// The updaters, each with the name of the watcher whose engine it updates, in trigger order.
    pub fn new(updaters: Vec<(String, Arc<Updater>)>) -> Self {
        Self { updaters }
    }

    /// Stops accepting updates ([`Updater::drain`]), then waits until the running ones finish or
    /// `limit` passes; returns whether they all finished.
    pub async fn drain(&self, limit: Duration) -> bool {
        for (_, updater) in &self.updaters {
            updater.drain();
        }
        let mut all = true;
        for (_, updater) in &self.updaters {
            all &= updater.idle(limit).await;
        }
        all
    }

    /// How long a running update may still take: the longest stop timeout plus health timeout
    /// of any updater, and a minute for the pull and the rest.
    pub fn longest_update(&self) -> Duration {
        self.updaters
            .iter()
            .map(|(_, u)| u.settings().stop_timeout + u.settings().health_timeout)
            .max()
            .unwrap_or_default()
            + Duration::from_secs(60)
    }

    /// Whether no action trigger is configured.
    pub fn is_empty(&self) -> bool {
        self.updaters.is_empty()
    }

    /// Every updater with its watcher's name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Updater>)> {
        self.updaters.iter().map(|(w, u)| (w.as_str(), u))
    }

    /// The updaters that may update `container`, best first: those of its watcher, the Docker
    /// Compose ones first for a container of a compose project (they keep its file in step), and
    /// only Docker ones for any other container.
    pub fn candidates(&self, container: &Container) -> Vec<&Arc<Updater>> {
        let in_compose = LabelSettings::read(&container.labels)
            .compose_service
            .is_some();
        let of_watcher: Vec<&Arc<Updater>> = self
            .updaters
            .iter()
            .filter(|(watcher, _)| *watcher == container.watcher)
            .map(|(_, u)| u)
            .collect();
        let compose = of_watcher
            .iter()
            .filter(|u| in_compose && u.settings().compose.is_some());
        let docker = of_watcher.iter().filter(|u| u.settings().compose.is_none());
        compose.chain(docker).copied().collect()
    }

    /// The updater that applies updates to `container`: the first of [`Self::candidates`].
    pub fn for_container(&self, container: &Container) -> Option<&Arc<Updater>> {
        self.candidates(container).into_iter().next()
    }

    /// Finishes the updates a crash interrupted ([`Updater::recover`] of each), once; returns
    /// how many it finished. What it cannot finish yet (an engine that does not answer, a
    /// container someone else put under the name) stays open for [`Self::retry_stranded`].
    pub async fn recover(&self) -> usize {
        let mut count = 0;
        for (watcher, updater) in &self.updaters {
            match updater.recover().await {
                Ok(done) => {
                    count += done.len();
                    for op in done {
                        tracing::warn!(
                            container = %op.container_name,
                            outcome = op.phase.as_str(),
                            reason = op.reason.as_deref().unwrap_or_default(),
                            "finished an update interrupted by a restart"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(%watcher, error = %e, "cannot finish an interrupted update yet; retrying in the background");
                }
            }
        }
        count
    }

    /// The open operations no update works on: interrupted updates still to be finished.
    pub async fn stranded(&self) -> Vec<Operation> {
        let Some((_, first)) = self.updaters.first() else {
            return Vec::new();
        };
        let running: HashSet<String> = self
            .updaters
            .iter()
            .flat_map(|(_, u)| u.running())
            .collect();
        match first.store().operations().await {
            Ok(ops) => ops
                .into_iter()
                .filter(|op| !op.phase.is_terminal() && !running.contains(&op.container_name))
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the update journal");
                Vec::new()
            }
        }
    }

    /// Retries [`Self::recover`] while stranded operations remain, with back-off from `first`
    /// doubling to five minutes; while none remains it only looks once a minute (an operation is
    /// stranded by a failed rollback, rarely). Runs until the task is dropped.
    pub async fn retry_stranded(&self, first: Duration) {
        const IDLE: Duration = Duration::from_secs(60);
        let mut backoff = first;
        let mut delay = first;
        loop {
            tokio::time::sleep(delay).await;
            if !self.stranded().await.is_empty() {
                self.recover().await;
            }
            if self.stranded().await.is_empty() {
                backoff = first;
                delay = IDLE;
            } else {
                delay = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }

    /// Applies detected updates automatically until `events` closes: for each
    /// `update-available`, the first candidate updater whose `AUTO` and the container's
    /// `dd.action.*` labels allow it.
    pub async fn apply_automatically(&self, mut events: broadcast::Receiver<WatchEvent>) {
        if self.updaters.is_empty() {
            return;
        }
        loop {
            match events.recv().await {
                Ok(WatchEvent::UpdateAvailable(container)) => self.apply(&container).await,
                Ok(WatchEvent::Missed { watcher, count }) => {
                    tracing::warn!(%watcher, missed = count, "automatic updates fell behind the watch events: re-reading the stored containers");
                    self.catch_up(Some(&watcher)).await;
                }
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    tracing::warn!(
                        missed = count,
                        "automatic updates fell behind the watch events: re-reading the stored containers"
                    );
                    self.catch_up(None).await;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    /// What lost events would have started: every stored container of `watcher` (of every
    /// watcher for `None`) with an update available, decided as its event would have been.
    async fn catch_up(&self, watcher: Option<&str>) {
        let mut seen = HashSet::new();
        for (name, updater) in &self.updaters {
            if watcher.is_some_and(|w| w != name) || !seen.insert(name.clone()) {
                continue;
            }
            match updater.store().containers().await {
                Ok(stored) => {
                    for container in stored.iter().filter(|c| c.watcher == *name) {
                        self.apply(container).await;
                    }
                }
                Err(e) => {
                    tracing::error!(watcher = %name, error = %e, "cannot read the stored containers")
                }
            }
        }
    }

    /// Applies one detected update if an updater's `AUTO`, the labels and the threshold allow it.
    async fn apply(&self, container: &Container) {
        // `update_available` already accounts for skips, snoozes and maturity.
        if !container.update_available {
            return;
        }
        let labels = LabelSettings::read(&container.labels);
        let level = container.update_kind.level();
        let mut refused = Vec::new();
        let Some(updater) = self.candidates(container).into_iter().find(|u| {
            match u.settings().automatic(&labels, level) {
                Automatic::Applies => true,
                decision @ (Automatic::BeyondThreshold { .. }
                | Automatic::UnreadableThreshold(_)) => {
                    refused.push(format!("{}: {decision}", u.settings().id));
                    false
                }
                _ => false,
            }
        }) else {
            // Said once per candidate: the event fires when a new one appears.
            for reason in refused {
                tracing::info!(container = %container.name, %reason, "update not applied automatically");
            }
            return;
        };
        match updater.update(container, "auto").await {
            Ok(outcome) => tracing::info!(
                container = %container.name,
                to = %outcome.operation.to_image,
                "updated automatically"
            ),
            Err(e) => {
                tracing::warn!(container = %container.name, error = %e, "automatic update failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ActionSettings;

    #[test]
    fn compose_containers_go_to_the_compose_action_and_others_to_docker() {
        let updater = |settings: ActionSettings| {
            Arc::new(Updater::new(
                Arc::new(drydock_testkit::FakeRuntime::new()),
                Arc::new(drydock_testkit::InMemoryStore::new()),
                Arc::new(drydock_testkit::ManualClock::new(
                    chrono::DateTime::UNIX_EPOCH,
                )),
                settings,
            ))
        };
        let updaters = Updaters::new(vec![
            ("local".to_owned(), updater(ActionSettings::new("local"))),
            (
                "local".to_owned(),
                updater(ActionSettings::compose("stack")),
            ),
            ("remote".to_owned(), updater(ActionSettings::new("remote"))),
        ]);
        let ids = |container: &Container| -> Vec<String> {
            updaters
                .candidates(container)
                .iter()
                .map(|u| u.settings().id.clone())
                .collect()
        };
        let plain = Container {
            watcher: "local".into(),
            ..Container::default()
        };
        assert_eq!(ids(&plain), vec!["docker.local"]);
        let mut composed = plain.clone();
        composed
            .labels
            .insert("com.docker.compose.service".into(), "web".into());
        assert_eq!(ids(&composed), vec!["dockercompose.stack", "docker.local"]);
        assert_eq!(
            updaters
                .for_container(&composed)
                .map(|u| u.settings().id.as_str()),
            Some("dockercompose.stack")
        );
        let elsewhere = Container {
            watcher: "remote".into(),
            ..composed
        };
        assert_eq!(ids(&elsewhere), vec!["docker.remote"]);
    }
}
