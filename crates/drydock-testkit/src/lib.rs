//! In-memory adapters of every drydock port, and the contract suites that real adapters run too.
//!
//! Use the adapters to test code written against the ports of `drydock-core` without an engine, a
//! registry or a disk, and to embed drydock's domain in other tools' tests. They are deliberately
//! scriptable: a registry whose tags and digests you set, that counts requests and can be told to
//! fail or be slow; a runtime whose containers you add and whose events you emit; a notifier that
//! records what it was sent and can fail a given number of times.
//!
//! The [`contract`] module holds one suite per port. Each real adapter's tests call the suite of its
//! port against the real component, and this crate's tests call it against the in-memory adapter,
//! so both sides keep the same promises.
//!
//! # Example
//!
//! ```
//! use drydock_core::image_ref::ImageReference;
//! use drydock_core::ports::Registry;
//! use drydock_testkit::InMemoryRegistry;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registry = InMemoryRegistry::new();
//! let image: ImageReference = "ghcr.io/acme/app:1.0.0".parse().unwrap();
//! registry.push(&image, "1.0.0", "sha256:aaaa");
//! registry.push(&image, "1.1.0", "sha256:bbbb");
//!
//! assert_eq!(registry.list_tags(&image).await.unwrap(), ["1.0.0", "1.1.0"]);
//! assert_eq!(registry.manifest_digest(&image, "1.1.0").await.unwrap(), "sha256:bbbb");
//! assert_eq!(registry.requests().tag_lists, 1);
//! # });
//! ```

mod clock;
pub mod contract;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod fault_proxy;
mod faulty_store;
mod notifier;
#[cfg(feature = "engine")]
pub mod registries;
mod registry;
mod runtime;
mod store;

pub use clock::ManualClock;
pub use faulty_store::FaultyStore;
pub use notifier::{FakeScanner, RecordingAction, RecordingNotifier};
pub use registry::{InMemoryRegistry, RequestCounts};
pub use runtime::FakeRuntime;
pub use store::InMemoryStore;

/// Locks a mutex, recovering the data if a panicking test poisoned it.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
