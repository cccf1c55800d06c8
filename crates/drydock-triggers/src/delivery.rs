//! Delivery with retries: 5xx, 429 (after its `Retry-After`) and network errors are retried with
//! exponential back-off; after the last attempt the message is dead-lettered. One channel
//! failing never delays another: each delivery is its own future.

use std::time::Duration;

use drydock_core::ports::{Notification, Notifier, NotifyError};

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first back-off; it doubles after each failure.
    pub base: Duration,
    /// The longest back-off (and the longest `Retry-After` honoured).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(300),
        }
    }
}

/// The outcome of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by the receiver after this many attempts.
    Sent {
        /// Attempts made.
        attempts: u32,
    },
    /// Given up: the last error, after this many attempts.
    Dead {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        error: NotifyError,
    },
}

/// Delivers one notification, retrying what is worth retrying.
pub async fn deliver(
    notifier: &dyn Notifier,
    notification: &Notification,
    policy: RetryPolicy,
) -> Delivery {
    let mut backoff = policy.base;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match notifier.notify(notification).await {
            Ok(()) => return Delivery::Sent { attempts },
            Err(error) => error,
        };
        let wait = match &error {
            NotifyError::RateLimited { retry_after, .. } => retry_after.unwrap_or(backoff),
            NotifyError::Unavailable { .. } => backoff,
            // A client error or a refused destination will not change by trying again.
            _ => return Delivery::Dead { attempts, error },
        };
        if attempts >= policy.attempts {
            return Delivery::Dead { attempts, error };
        }
        tracing::warn!(trigger = notifier.id(), attempt = attempts, error = %error, "delivery failed; retrying");
        tokio::time::sleep(wait.min(policy.max)).await;
        backoff = (backoff * 2).min(policy.max);
    }
}
