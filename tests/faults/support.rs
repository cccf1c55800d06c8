//! What the fault tests share: images pushed to the real registry and pulled by the real engine
//! through the fault proxy, containers running them, a watcher configured the way a user would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::Container;
use drydock_core::ports::{
    ContainerRuntime, ContainerSpec, ContainerSummary, EventStream, ImageDetails, LogOptions,
    RuntimeError,
};
use drydock_docker::{ConnectionConfig, DockerRuntime};
use drydock_registry::providers::providers_from_env;
use drydock_registry::{ClientOptions, RegistryClient};
use drydock_store_sled::SledStore;
use drydock_testkit::engine::{REGISTRY, TestContainer, TestImage, must};
use drydock_watch::SystemClock;
use drydock_watch::{Watcher, WatcherSettings};

/// The label that makes a container watched with `WATCHBYDEFAULT=false`: the fault tests'
/// watchers see only containers that opt in, not the whole shared engine.
pub const WATCH: (&str, &str) = ("dd.watch", "true");

pub const SLEEP: &str = "sleep 3600";

/// `drydock-test/<repo>`, the repository path `TestImage` pushes to.
pub fn repository(repo: &str) -> String {
    format!("drydock-test/{repo}")
}

/// Pulls `repo:tag` from the real registry through the proxy, so the engine records the proxy's
/// host in the image's `RepoDigests`, as it would for a real registry. Removed on drop.
pub fn pull_through(proxy_host: &str, repo: &str, tag: &str) -> TestImage {
    let reference = format!("{proxy_host}/{}:{tag}", repository(repo));
    must(&["pull", "-q", &reference]);
    TestImage { reference }
}

/// The reference of `repo:tag` straight from the real registry.
pub fn direct(repo: &str, tag: &str) -> String {
    format!("{REGISTRY}/{}:{tag}", repository(repo))
}

/// Runs a watched container.
pub fn run(name: &str, image: &str) -> TestContainer {
    TestContainer::run(name, image, &[WATCH], SLEEP)
}

/// The real engine, with the containers it lists narrowed to those whose names start with a
/// prefix: the engine is shared with other tests (and other test runs), whose containers may come
/// from registries that are down on purpose; a dedicated engine would show only ours. Every other
/// call goes to the engine unchanged.
pub struct Scoped {
    engine: DockerRuntime,
    prefix: String,
}

#[async_trait]
impl ContainerRuntime for Scoped {
    async fn list_containers(
        &self,
        include_stopped: bool,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        let mut listed = self.engine.list_containers(include_stopped).await?;
        listed.retain(|c| c.name.starts_with(&self.prefix));
        Ok(listed)
    }
    async fn inspect_container(&self, id: &str) -> Result<ContainerSpec, RuntimeError> {
        self.engine.inspect_container(id).await
    }
    async fn inspect_image(&self, image: &str) -> Result<ImageDetails, RuntimeError> {
        self.engine.inspect_image(image).await
    }
    async fn events(&self) -> Result<EventStream, RuntimeError> {
        self.engine.events().await
    }
    async fn pull_image(
        &self,
        image: &ImageReference,
        registry_auth: Option<&str>,
    ) -> Result<(), RuntimeError> {
        self.engine.pull_image(image, registry_auth).await
    }
    async fn tag_image(&self, source: &str, target: &ImageReference) -> Result<(), RuntimeError> {
        self.engine.tag_image(source, target).await
    }
    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.engine.remove_image(image).await
    }
    async fn create_container(
        &self,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        self.engine.create_container(name, spec).await
    }
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.engine.start_container(id).await
    }
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.engine.stop_container(id, timeout).await
    }
    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.engine.restart_container(id, timeout).await
    }
    async fn remove_container(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        self.engine.remove_container(id, force).await
    }
    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), RuntimeError> {
        self.engine.rename_container(id, new_name).await
    }
    async fn container_logs(&self, id: &str, options: &LogOptions) -> Result<String, RuntimeError> {
        self.engine.container_logs(id, options).await
    }
    async fn container_settings(&self, id: &str) -> Result<BTreeMap<String, String>, RuntimeError> {
        self.engine.container_settings(id).await
    }
}

/// The real engine, seen through [`Scoped`]: only containers named `prefix…`.
pub async fn engine(prefix: &str) -> Arc<Scoped> {
    let engine = DockerRuntime::open(&ConnectionConfig::default())
        .await
        .expect("the test engine answers (scripts/test-env.sh)");
    Arc::new(Scoped {
        engine,
        prefix: prefix.to_owned(),
    })
}

/// The watcher of the fault tests: opt-in containers of `engine` only, this registry client.
pub fn watcher(
    name: &str,
    engine: Arc<Scoped>,
    registry: Arc<RegistryClient>,
    store: Arc<SledStore>,
    concurrency: usize,
) -> Watcher {
    Watcher::new(
        WatcherSettings {
            watch_by_default: false,
            concurrency,
            ..WatcherSettings::new(name)
        },
        engine,
        registry,
        store,
        Arc::new(SystemClock),
    )
}

/// A registry client built from `env` exactly as drydock builds it from its environment.
pub fn client_from_env(env: &BTreeMap<String, String>) -> (Arc<RegistryClient>, ClientOptions) {
    let options = ClientOptions::from_env(env).expect("valid client settings");
    let providers = providers_from_env(env).expect("valid registry settings");
    (
        Arc::new(RegistryClient::new(providers, options.clone())),
        options,
    )
}

/// The longest one registry call may take under `options` when every attempt fails as slowly as
/// it can: each attempt up to the request timeout, each retry after its back-off or a
/// `Retry-After` of at most `retry_after`.
pub fn worst_call(options: &ClientOptions, retry_after: Duration) -> Duration {
    let attempts = options.max_retries + 1;
    let waits: Duration = (1..=options.max_retries)
        .map(|n| {
            let backoff = options
                .retry_backoff
                .saturating_mul(1 << (n - 1).min(5))
                .min(Duration::from_secs(30));
            backoff.max(retry_after.min(options.max_retry_after))
        })
        .sum();
    options.request_timeout * attempts + options.connect_timeout * attempts + waits
}

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn find<'a>(containers: &'a [Container], name: &str) -> Option<&'a Container> {
    containers.iter().find(|c| c.name == name)
}
