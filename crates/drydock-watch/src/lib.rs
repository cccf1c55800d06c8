//! drydock's watch cycle and scheduler: an application service over the ports of
//! `drydock-core`, with no engine, HTTP or database types in it.
//!
//! A [`Watcher`] lists its engine's containers, keeps the watched ones (`dd.watch`,
//! `WATCHBYDEFAULT`, `WATCHALL`), resolves each one's image, asks the registry through a
//! [`CycleCache`] (one tag list per repository and one digest per tag, however many containers
//! share them), runs the core's selection and policies, stores the result and tells subscribers
//! what changed. A failure for one container is recorded on it and keeps its last good result; the
//! others carry on. [`Watcher::run`] adds the schedule: a watch at start-up, on the cron with
//! jitter, and the engine's events within a fraction of a second.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use drydock_core::model::ContainerStatus;
//! use drydock_core::ports::ImageDetails;
//! use drydock_testkit::{FakeRuntime, InMemoryRegistry, InMemoryStore, ManualClock};
//! use drydock_watch::{Watcher, WatcherSettings};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let runtime = Arc::new(FakeRuntime::new());
//! let registry = Arc::new(InMemoryRegistry::new());
//! let image = "ghcr.io/acme/app:1.0.0".parse().unwrap();
//! registry.push(&image, "1.0.0", "sha256:1");
//! registry.push(&image, "1.1.0", "sha256:2");
//! runtime.add_image(ImageDetails {
//!     id: "sha256:local".into(),
//!     repo_tags: vec!["ghcr.io/acme/app:1.0.0".into()],
//!     repo_digests: vec!["ghcr.io/acme/app@sha256:1".into()],
//!     ..ImageDetails::default()
//! });
//! runtime.add_container("app", "ghcr.io/acme/app:1.0.0", Default::default(), ContainerStatus::Running);
//!
//! let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
//! let watcher = Watcher::new(WatcherSettings::new("local"), runtime, registry, Arc::new(InMemoryStore::new()), clock);
//! let report = watcher.watch_all().await.unwrap();
//! assert_eq!(report.containers[0].result.as_ref().and_then(|r| r.tag.as_deref()), Some("1.1.0"));
//! assert!(report.containers[0].update_available);
//! # });
//! ```

mod clock;
mod cycle;
mod explain;
mod plan;
mod policy;
mod schedule;
mod settings;
mod watcher;

pub use clock::SystemClock;
pub use cycle::CycleCache;
pub use drydock_core::event::WatchEvent;
pub use explain::Explanation;
pub use policy::PolicyChangeError;
pub use settings::{Schedule, SettingsError, WatcherSettings};
pub use watcher::{CycleReport, WatchError, Watcher};
