//! Wiring: the adapters chosen by the configuration, assembled into what the API and the CLI use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use drydock_actions::{AuditDraft, Updater};
use drydock_core::model::Container;
use drydock_core::operation::AuditStatus;
use drydock_core::ports::{Clock, ContainerRuntime, Store, StoreError};
use drydock_docker::DockerRuntime;
use drydock_registry::RegistryClient;
use drydock_testkit::SystemClock;
use drydock_watch::{WatchError, WatchEvent, Watcher};
use tokio::sync::broadcast;

use crate::api::list_cache::ListCache;
use crate::auth::Authenticator;
use crate::config::Config;

/// Durations of recent watch cycles per watcher, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct CycleStats {
    pub(crate) by_watcher: Mutex<HashMap<String, (u64, f64, f64)>>,
}

impl CycleStats {
    pub(crate) fn record(&self, watcher: &str, elapsed: Duration) {
        let mut stats = self
            .by_watcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = stats.entry(watcher.to_owned()).or_insert((0, 0.0, 0.0));
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
        entry.2 = elapsed.as_secs_f64();
    }
}

/// Everything a request handler may need.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    /// `GET /api/containers`, encoded once per change of the stored containers.
    pub(crate) container_list: ListCache,
    pub(crate) registry: Arc<RegistryClient>,
    pub(crate) watchers: Vec<Arc<Watcher>>,
    pub(crate) auth: Authenticator,
    pub(crate) events: broadcast::Sender<WatchEvent>,
    pub(crate) cycles: CycleStats,
    pub(crate) started: Instant,
    /// The Docker action triggers' updaters, by watcher name, in trigger order.
    pub(crate) updaters: Vec<(String, Arc<Updater>)>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("watchers", &self.watchers.len())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Connects to every watcher's engine and opens the store.
    pub(crate) async fn build(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let (store, container_list) = crate::api::list_cache::counting(store);
        let registry = Arc::new(RegistryClient::new(
            config.registries.clone(),
            config.registry_options.clone(),
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut watchers = Vec::new();
        for (settings, connection) in &config.watchers {
            // An engine that is down at start-up is not fatal: the watcher retries.
            let runtime: Arc<dyn ContainerRuntime> = match DockerRuntime::open(connection).await {
                Ok(runtime) => Arc::new(runtime),
                Err(e) => {
                    tracing::warn!(watcher = %settings.name, error = %e, "engine not reachable yet; will retry");
                    Arc::new(DockerRuntime::connect(connection).with_context(|| {
                        format!(
                            "watcher {}: cannot configure the engine connection",
                            settings.name
                        )
                    })?)
                }
            };
            watchers.push(Arc::new(Watcher::new(
                settings.clone(),
                runtime,
                registry.clone(),
                store.clone(),
                clock.clone(),
            )));
        }
        let (events, _) = broadcast::channel(1024);
        for watcher in &watchers {
            let mut receiver = watcher.subscribe();
            let sender = events.clone();
            tokio::spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            let _ = sender.send(event);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        if config.anonymous && !config.users.is_empty() {
            tracing::warn!(
                "DD_ANONYMOUS_AUTH_CONFIRM is ignored: users are configured (DD_AUTH_BASIC_*), so every API request needs their credentials"
            );
        }
        let auth = Authenticator::new(config.users.clone(), config.anonymous);
        let pull_auth = crate::actions::registry_auth(config.registries.clone());
        let mut updaters = Vec::new();
        for settings in &config.actions {
            for watcher in &watchers {
                let updater = Updater::new(
                    watcher.runtime().clone(),
                    store.clone(),
                    clock.clone(),
                    settings.clone(),
                )
                .with_registry_auth(pull_auth.clone());
                updaters.push((watcher.settings().name.clone(), Arc::new(updater)));
            }
        }
        Ok(Self {
            config,
            store,
            container_list,
            registry,
            watchers,
            auth,
            events,
            cycles: CycleStats::default(),
            started: Instant::now(),
            updaters,
        })
    }

    /// The watcher a stored container belongs to.
    pub(crate) fn watcher_of(&self, container: &Container) -> Option<&Arc<Watcher>> {
        self.watchers
            .iter()
            .find(|w| w.settings().name == container.watcher)
    }

    /// The updater that applies updates to a container: on the container's watcher, the first
    /// Docker Compose action for a compose container, else the first Docker action.
    pub(crate) fn updater_for(&self, container: &Container) -> Option<&Arc<Updater>> {
        crate::actions::candidates(&self.updaters, container)
            .into_iter()
            .next()
    }

    /// Appends an audit entry for an action taken through the API; a store failure is logged.
    pub(crate) async fn audit(
        &self,
        action: &str,
        container: &str,
        status: AuditStatus,
        details: Option<String>,
    ) {
        let draft = AuditDraft {
            action,
            actor: "api",
            container,
            from: None,
            to: None,
            status,
            details,
        };
        drydock_actions::record_audit(self.store.as_ref(), Utc::now(), None, draft).await;
    }

    /// Runs one watch cycle on every watcher; returns every stored container and the failures of
    /// watchers that could not watch at all (an engine down, say).
    pub(crate) async fn watch_all(&self) -> Result<(Vec<Container>, Vec<WatchError>), StoreError> {
        let mut failed = Vec::new();
        for watcher in &self.watchers {
            let started = Instant::now();
            match watcher.watch_all().await {
                Ok(_) => self
                    .cycles
                    .record(&watcher.settings().name, started.elapsed()),
                Err(e) => {
                    tracing::warn!(watcher = %watcher.settings().name, error = %e, "watch failed");
                    failed.push(e);
                }
            }
        }
        Ok((self.store.containers().await?, failed))
    }
}
