//! drydock's [`Registry`](drydock_core::ports::Registry) port on the OCI distribution API.
//!
//! [`RegistryClient`] talks to every registry users configure (Docker Hub, GHCR, LSCR, Quay,
//! GitLab, ECR, GCR, GAR, ACR, Gitea, Forgejo, Codeberg, Harbor, Nexus, Artifactory, any custom
//! one) with the fewest requests it can: a token per scope reused until it expires, one tag list
//! per repository, manifest `HEAD`s in steady state, a manifest `GET` only to resolve a platform.
//! It is polite: a concurrency limit and a token bucket per registry, `Retry-After` honoured,
//! bounded retries, timeouts and byte limits. Credentials never appear in logs or errors.
//!
//! The watch cycle (`drydock-watch`) puts a per-cycle cache in front of it so that containers
//! sharing an image share its requests.
//!
//! # Example
//!
//! ```no_run
//! use drydock_core::ports::Registry;
//! use std::collections::BTreeMap;
//! use drydock_registry::providers::providers_from_env;
//! use drydock_registry::{ClientOptions, RegistryClient};
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let env: BTreeMap<String, String> = std::env::vars().collect();
//! let client = RegistryClient::new(providers_from_env(&env)?, ClientOptions::default());
//! let image = "ghcr.io/home-assistant/home-assistant:2024.11.3".parse()?;
//! let tags = client.list_tags(&image).await?;
//! let digest = client.manifest_digest(&image, "2024.11.3").await?;
//! # Ok(()) }
//! ```

mod body;
pub mod challenge;
mod client;
pub mod link;
pub mod providers;
pub mod secret;

pub use client::{ClientOptions, OptionsError, Rate, RegistryClient, TIMEOUT_VARIABLE};
/// The request counts [`RegistryClient::stats`] reports (defined with the port, so that metrics
/// need no registry adapter).
pub use drydock_core::ports::EndpointStats;
