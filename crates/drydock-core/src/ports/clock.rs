//! The [`Clock`] port: the time, so tests can move it.

use chrono::{DateTime, Utc};

/// The time. The domain never reads the system clock itself, so tests can move time.
pub trait Clock: Send + Sync {
    /// The current time.
    ///
    /// Errors: none.
    fn now(&self) -> DateTime<Utc>;
}
