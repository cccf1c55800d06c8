//! drydock's [`ContainerRuntime`](drydock_core::ports::ContainerRuntime) port on the Docker
//! Engine API, through [bollard](https://docs.rs/bollard).
//!
//! One [`DockerRuntime`] is one watcher's engine: a local Unix socket (Docker's, or Podman's
//! Docker-compatible one) or a remote engine over HTTP or HTTPS, described by a
//! [`ConnectionConfig`] that [`ConnectionConfig::from_watcher_env`] reads from the
//! `DD_WATCHER_{NAME}_*` variables. [`DockerRuntime::negotiate`] lowers the API version to the
//! engine's, so the same build drives Docker 20.10 (API 1.41) and current engines.
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//!
//! use drydock_core::ports::{ContainerRuntime, LogOptions};
//! use drydock_docker::{ConnectionConfig, DockerRuntime};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let env: BTreeMap<String, String> = std::env::vars().collect();
//! for name in ["local", "nas"] {
//!     let config = ConnectionConfig::from_watcher_env(&name, &env)?;
//!     let engine = DockerRuntime::open(&config).await?;
//!     for container in engine.list_containers(false).await? {
//!         let spec = engine.inspect_container(&container.id).await?;
//!         println!("{name}: {} runs {}", spec.name, spec.image);
//!     }
//!     let logs = engine.container_logs("web", &LogOptions::default()).await?;
//!     print!("{logs}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Engine answers map onto [`RuntimeError`](drydock_core::ports::RuntimeError): 404 is
//! `NotFound`, 409 `Conflict`, a lost connection `Unavailable`, an exceeded
//! [`ConnectionConfig::timeout`] `Timeout`, anything else `Rejected` with the engine's message.
//! Nothing the engine returns makes the adapter panic.
//!
//! # Recreating containers
//!
//! [`ContainerSpec::document`](drydock_core::ports::ContainerSpec::document) is the container's
//! inspect JSON (as bollard models it). `create_container` builds the new container from its
//! `Config` (image replaced by `spec.image`), `HostConfig`, and one network: the one
//! `NetworkMode` names, else the first by name, with the user's aliases and IPAM config. It drops
//! the hostname the engine generated (the old short id) and any hostname where the network
//! namespace is shared (`host`, `container:`), rewrites inspect-style links, and binds anonymous
//! volumes by name so their data carries over. Environment and labels are copied as inspected,
//! image defaults included.

mod config;
mod convert;
mod error;
mod events;
mod recreate;
mod runtime;

pub use config::{
    ConfigError, ConnectionConfig, DEFAULT_PORT, DEFAULT_SOCKET, DEFAULT_TIMEOUT, LOCAL_WATCHER,
    Protocol,
};
pub use runtime::{DockerRuntime, LOG_LIMIT};
