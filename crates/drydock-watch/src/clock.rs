//! The system clock, for production and for tests against real components.

use chrono::{DateTime, Utc};
use drydock_core::ports::Clock;

/// The real [`Clock`]: what the services run on in production (tests that move time use the
/// testkit's `ManualClock`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
