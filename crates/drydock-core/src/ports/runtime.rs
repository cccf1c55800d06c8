//! The [`ContainerRuntime`] port: one container engine, as the watch cycle and the updates use it.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;

use crate::image_ref::ImageReference;
use crate::model::ContainerStatus;

/// A stream of engine events; it ends when the connection to the engine is lost.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RuntimeEvent, RuntimeError>> + Send>>;

/// A container engine (Docker, Podman's Docker API): one watcher's host.
///
/// Every method may also fail with [`RuntimeError::Unavailable`] (the engine cannot be reached)
/// and [`RuntimeError::Timeout`] (it did not answer within the adapter's limit); those are worth
/// retrying, the others are not.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// The containers of the host; stopped ones too when `include_stopped`.
    ///
    /// Errors: only those every call may return (a host with no container is an empty list).
    async fn list_containers(
        &self,
        include_stopped: bool,
    ) -> Result<Vec<ContainerSummary>, RuntimeError>;

    /// The full configuration of a container, enough to recreate it identically.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown id or name.
    async fn inspect_container(&self, id: &str) -> Result<ContainerSpec, RuntimeError>;

    /// What the engine knows of a local image (id or reference).
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown image.
    async fn inspect_image(&self, image: &str) -> Result<ImageDetails, RuntimeError>;

    /// Subscribes to container and image events from now on.
    ///
    /// Errors: those every call may return, when subscribing; once subscribed, a lost
    /// connection ends the stream (after an error item, if the adapter saw one).
    async fn events(&self) -> Result<EventStream, RuntimeError>;

    /// Pulls an image. `registry_auth` is the engine's encoded registry credential, if any.
    ///
    /// Errors: [`RuntimeError::NotFound`] when the registry has no such image,
    /// [`RuntimeError::Rejected`] when the pull is refused (credentials, a registry error).
    async fn pull_image(
        &self,
        image: &ImageReference,
        registry_auth: Option<&str>,
    ) -> Result<(), RuntimeError>;

    /// Adds a tag to a local image (`source` is an id or reference; `target` the new reference).
    ///
    /// Errors: [`RuntimeError::NotFound`] when `source` is not a local image.
    async fn tag_image(&self, source: &str, target: &ImageReference) -> Result<(), RuntimeError>;

    /// Removes a local image reference.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown image, [`RuntimeError::Conflict`] when a
    /// container still uses it.
    async fn remove_image(&self, image: &str) -> Result<(), RuntimeError>;

    /// Creates a container named `name` from `spec` and returns its id.
    ///
    /// Errors: [`RuntimeError::Conflict`] when the name is taken, [`RuntimeError::NotFound`] when
    /// the image is not local, [`RuntimeError::Rejected`] when the engine refuses the
    /// configuration.
    async fn create_container(
        &self,
        name: &str,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError>;

    /// Starts a container. Starting a running container is not an error.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container, [`RuntimeError::Rejected`]
    /// when the engine cannot start it (a port taken, a missing mount).
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// Stops a container, killing it after `timeout`. Stopping a stopped container is not an error.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError>;

    /// Restarts a container.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container, [`RuntimeError::Rejected`]
    /// when it cannot start again.
    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError>;

    /// Removes a container (forcefully when `force`, which stops it first).
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container, [`RuntimeError::Conflict`]
    /// when it runs and `force` is false.
    async fn remove_container(&self, id: &str, force: bool) -> Result<(), RuntimeError>;

    /// Renames a container.
    ///
    /// Errors: [`RuntimeError::Conflict`] when the new name is taken, [`RuntimeError::NotFound`]
    /// for an unknown container.
    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), RuntimeError>;

    /// The container's log, stdout and stderr interleaved.
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container.
    async fn container_logs(&self, id: &str, options: &LogOptions) -> Result<String, RuntimeError>;

    /// The configuration a recreation carries over, as comparable fields: each field path
    /// (`HostConfig.Binds`, `Networks.backend`) maps to a canonical value, and each environment
    /// variable is a field of its own, [`crate::operation::ENV_FIELD_PREFIX`] and its name (its
    /// value a secret: [`crate::operation::config_diff`] and [`crate::operation::masked_settings`]
    /// never show it). Defaults
    /// that come from the container's image are left out, and so are values the engine generates
    /// (ids, the short-id hostname and alias), so two containers made from the same settings on
    /// different images compare equal. See [`crate::operation::config_diff`].
    ///
    /// Errors: [`RuntimeError::NotFound`] for an unknown container.
    async fn container_settings(&self, id: &str) -> Result<BTreeMap<String, String>, RuntimeError>;
}

/// A container as the engine lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Container id.
    pub id: String,
    /// Name, without Docker's leading `/`.
    pub name: String,
    /// The image as the container was created with it (`nginx:1.25`, `sha256:…`).
    pub image: String,
    /// The local image id.
    pub image_id: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// State.
    pub status: ContainerStatus,
}

/// A container's full configuration.
///
/// `document` is the engine's own description (for Docker, the inspect JSON), kept opaque: only the
/// adapter that produced it interprets it. The domain reads and changes the image and name only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Container id.
    pub id: String,
    /// Name, without Docker's leading `/`.
    pub name: String,
    /// The image reference the container runs.
    pub image: String,
    /// State.
    pub status: ContainerStatus,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The local image id it runs (`sha256:…`).
    pub image_id: String,
    /// Its health, when the container has a health check.
    pub health: Option<Health>,
    /// Whether the engine removes it when it stops (`docker run --rm`, `HostConfig.AutoRemove`):
    /// stopping it destroys it.
    pub auto_remove: bool,
    /// The engine's full description, opaque to the domain.
    pub document: String,
}

/// A container's health-check status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// Not yet decided (within the start period).
    Starting,
    /// The check passes.
    Healthy,
    /// The check fails.
    Unhealthy,
}

/// A local image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageDetails {
    /// Image id (`sha256:` of the config).
    pub id: String,
    /// References that name it (`nginx:1.25`).
    pub repo_tags: Vec<String>,
    /// Registry digests it was pulled by (`nginx@sha256:…`); empty for local builds.
    pub repo_digests: Vec<String>,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant.
    pub variant: Option<String>,
    /// Build time.
    pub created: Option<DateTime<Utc>>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
}

/// What to read of a container's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Lines from the end (`None`: all).
    pub tail: Option<u32>,
    /// Only lines after this Unix time, in seconds.
    pub since: Option<i64>,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            tail: Some(100),
            since: None,
            timestamps: true,
        }
    }
}

/// An engine event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// What happened.
    pub kind: RuntimeEventKind,
    /// The container or image id concerned.
    pub id: String,
    /// The container's name, when the engine says it.
    pub name: Option<String>,
    /// When it happened.
    pub time: Option<DateTime<Utc>>,
}

/// The engine events a watcher reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeEventKind {
    /// A container was created.
    Create,
    /// A container started.
    Start,
    /// A container stopped.
    Stop,
    /// A container's process exited.
    Die,
    /// A container was removed.
    Destroy,
    /// A container was renamed.
    Rename,
    /// A container was paused or unpaused.
    Pause,
    /// A container's health status changed.
    Health,
    /// An image was tagged.
    ImageTag,
    /// An image was pulled.
    ImagePull,
    /// Any other event, by its engine name.
    Other(String),
}

/// Why an engine call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No such container or image.
    #[error("{what} not found")]
    NotFound {
        /// What was asked for (`container abc123`).
        what: String,
    },
    /// The name is taken, or the object is in a state that forbids the call.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicted.
        what: String,
    },
    /// The engine cannot be reached.
    #[error("engine unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The engine did not answer in time.
    #[error("engine call timed out after {}s", after.as_secs_f32())]
    Timeout {
        /// The limit that was hit.
        after: Duration,
    },
    /// The engine refused the call (bad request, not allowed, failed pull).
    #[error("engine refused {call}: {reason}")]
    Rejected {
        /// The call (`pull nginx:1.25`).
        call: String,
        /// The engine's message.
        reason: String,
    },
}
