//! Contract suites: the promises every adapter of a port keeps, as executable checks.
//!
//! Each suite takes the adapter as a trait object plus a fixture describing what the test put into
//! the real component (the tags pushed to a registry, the container started on an engine), and
//! panics with a message naming the broken promise. Real adapters call these from their
//! integration tests against real components; this crate calls them against its in-memory adapters.

mod action;
mod notifier;
mod registry;
mod runtime;
mod scanner;
mod store;

pub use action::{ActionFixture, action_contract};
pub use notifier::{NotifierFixture, notifier_contract};
pub use registry::{IndexFixture, RegistryFixture, registry_contract};
pub use runtime::{RuntimeFixture, runtime_contract};
pub use scanner::{ScannerFixture, scanner_contract};
pub use store::store_contract;

/// Unwraps a port call's result, or fails the suite naming the call.
trait Must<T> {
    fn must(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> Must<T> for Result<T, E> {
    fn must(self, what: &str) -> T {
        match self {
            Ok(value) => value,
            Err(e) => panic!("{what} failed: {e}"),
        }
    }
}
