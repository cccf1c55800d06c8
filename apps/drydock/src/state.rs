//! Wiring: the adapters chosen by the configuration, assembled into the services the API and the
//! CLI use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use drydock_accounts::Authenticator;
use drydock_actions::{AuditDraft, Updater, Updaters};
use drydock_core::event::WatchEvent;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::Container;
use drydock_core::operation::AuditStatus;
use drydock_core::ports::{Clock, ContainerRuntime, Store, StoreError};
use drydock_docker::DockerRuntime;
use drydock_metrics::CycleTotals;
use drydock_notify::Notifications;
use drydock_registry::RegistryClient;
use drydock_registry::providers::Provider;
use drydock_watch::{SystemClock, WatchError, Watcher};
use tokio::sync::broadcast;

use crate::config::Config;
use crate::list_cache::ListCache;

/// Everything a request handler may need.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// `GET /api/containers`, encoded once per change of the stored containers.
    pub(crate) container_list: ListCache,
    pub(crate) registry: Arc<RegistryClient>,
    pub(crate) watchers: Vec<Arc<Watcher>>,
    pub(crate) auth: Authenticator,
    pub(crate) events: broadcast::Sender<WatchEvent>,
    /// Watch cycles so far, by watcher, for `/metrics`.
    pub(crate) cycles: Mutex<BTreeMap<String, CycleTotals>>,
    pub(crate) started: Instant,
    pub(crate) notifications: Arc<Notifications>,
    /// The action triggers' updaters, by watcher, in trigger order.
    pub(crate) updaters: Arc<Updaters>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("watchers", &self.watchers.len())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Connects to every watcher's engine and wires the services over `store`.
    pub(crate) async fn build(mut config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let (store, container_list) = crate::list_cache::counting(store);
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
        // One stream of every watcher's events, for the services and the API.
        let (events, _) = broadcast::channel(1024);
        for watcher in &watchers {
            let mut receiver = watcher.subscribe();
            let sender = events.clone();
            let name = watcher.settings().name.clone();
            tokio::spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            let _ = sender.send(event);
                        }
                        Err(broadcast::error::RecvError::Lagged(count)) => {
                            tracing::warn!(watcher = %name, missed = count, "watch events overflowed their channel; consumers re-read the store");
                            let _ = sender.send(WatchEvent::Missed {
                                watcher: name.clone(),
                                count,
                            });
                        }
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
        let pull_auth = engine_credentials(config.registries.clone());
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
        let triggers = std::mem::take(&mut config.triggers);
        let notifications = Arc::new(Notifications::new(triggers, store.clone(), clock.clone()));
        Ok(Self {
            config,
            store,
            clock,
            container_list,
            registry,
            watchers,
            auth,
            events,
            cycles: Mutex::default(),
            started: Instant::now(),
            notifications,
            updaters: Arc::new(Updaters::new(updaters)),
        })
    }

    /// The watcher a stored container belongs to.
    pub(crate) fn watcher_of(&self, container: &Container) -> Option<&Arc<Watcher>> {
        self.watchers
            .iter()
            .find(|w| w.settings().name == container.watcher)
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
        drydock_actions::record_audit(self.store.as_ref(), self.clock.now(), None, draft).await;
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
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(watcher.settings().name.clone())
                    .or_default()
                    .record(started.elapsed()),
                Err(e) => {
                    tracing::warn!(watcher = %watcher.settings().name, error = %e, "watch failed");
                    failed.push(e);
                }
            }
        }
        Ok((self.store.containers().await?, failed))
    }
}

/// The engine credential (`X-Registry-Auth`) for pulling an image with the configured registries.
fn engine_credentials(providers: Vec<Provider>) -> drydock_actions::RegistryAuth {
    Arc::new(move |image: &ImageReference| {
        drydock_registry::providers::pick(&providers, image)?.engine_credential(image)
    })
}
