//! The ports: what the domain needs from the outside world, as traits.
//!
//! Adapters implement them (`drydock-docker` the [`ContainerRuntime`], `drydock-registry` the
//! [`Registry`], `drydock-store-sled` the [`Store`], ...), and `drydock-testkit` has an in-memory
//! implementation of each with a contract suite the real adapters run too.
//!
//! Every port is object-safe, `Send + Sync`, and async through `async_trait`, so the server can hold
//! `Arc<dyn Registry>` and swap adapters at configuration time. Errors are small enums that say what
//! failed and for which input; they never carry secrets.

mod action;
mod clock;
mod notifier;
mod registry;
mod runtime;
mod scanner;
mod store;

pub use action::{Action, ActionError, ActionReport};
pub use clock::Clock;
pub use notifier::{Notification, NotificationEvent, Notifier, NotifyError};
pub use registry::{EndpointStats, ImageConfig, PlatformManifest, Registry, RegistryError};
pub use runtime::{
    ContainerRuntime, ContainerSpec, ContainerSummary, EventStream, Health, ImageDetails,
    LogOptions, RuntimeError, RuntimeEvent, RuntimeEventKind,
};
pub use scanner::{ScanError, ScanReport, Scanner, Severity, Vulnerability};
pub use store::{CandidateKey, Store, StoreError};
