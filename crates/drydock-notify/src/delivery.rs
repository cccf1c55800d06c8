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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tokio::time::Instant;

    use super::*;
    use drydock_core::ports::NotificationEvent;

    /// A channel answering `answers` in turn (the last repeats), noting when each call came.
    struct Scripted {
        answers: Vec<Result<(), NotifyError>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), NotifyError>>) -> Self {
            Self {
                answers,
                calls: Mutex::new(Vec::new()),
            }
        }

        fn calls(&self) -> Vec<Instant> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Notifier for Scripted {
        fn id(&self) -> &str {
            "ntfy.scripted"
        }

        async fn notify(&self, _: &Notification) -> Result<(), NotifyError> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            let index = (calls.len() - 1).min(self.answers.len() - 1);
            self.answers[index].clone()
        }
    }

    fn unavailable() -> Result<(), NotifyError> {
        Err(NotifyError::Unavailable {
            trigger: "ntfy.scripted".into(),
            reason: "502".into(),
        })
    }

    fn message() -> Notification {
        Notification {
            event: NotificationEvent::UpdateAvailable,
            title: "t".into(),
            body: "b".into(),
            containers: Vec::new(),
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        attempts: 4,
        base: Duration::from_secs(30),
        max: Duration::from_secs(300),
    };

    #[tokio::test(start_paused = true)]
    async fn a_channel_failing_twice_gets_the_message_once_after_backing_off() {
        let channel = Scripted::new(vec![unavailable(), unavailable(), Ok(())]);
        let delivery = deliver(&channel, &message(), POLICY).await;
        assert_eq!(delivery, Delivery::Sent { attempts: 3 });
        let calls = channel.calls();
        assert_eq!(calls.len(), 3, "nothing after the success");
        // Virtual time: the back-off doubles from the base.
        assert_eq!(calls[1] - calls[0], Duration::from_secs(30));
        assert_eq!(calls[2] - calls[1], Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn an_always_failing_channel_is_dead_lettered_after_the_last_attempt() {
        let channel = Scripted::new(vec![unavailable()]);
        let delivery = deliver(&channel, &message(), POLICY).await;
        assert!(
            matches!(
                delivery,
                Delivery::Dead {
                    attempts: 4,
                    error: NotifyError::Unavailable { .. }
                }
            ),
            "{delivery:?}"
        );
        assert_eq!(channel.calls().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_error_or_a_refusal_is_not_retried() {
        for error in [
            NotifyError::Rejected {
                trigger: "ntfy.scripted".into(),
                status: 400,
                reason: "bad".into(),
            },
            NotifyError::Refused {
                trigger: "ntfy.scripted".into(),
                reason: "metadata address".into(),
            },
        ] {
            let channel = Scripted::new(vec![Err(error.clone())]);
            let delivery = deliver(&channel, &message(), POLICY).await;
            assert_eq!(delivery, Delivery::Dead { attempts: 1, error });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_the_longest_back_off() {
        let rate_limited = |seconds| {
            Err(NotifyError::RateLimited {
                trigger: "ntfy.scripted".into(),
                retry_after: Some(Duration::from_secs(seconds)),
            })
        };
        let channel = Scripted::new(vec![rate_limited(7), rate_limited(3600), Ok(())]);
        let delivery = deliver(&channel, &message(), POLICY).await;
        assert_eq!(delivery, Delivery::Sent { attempts: 3 });
        let calls = channel.calls();
        assert_eq!(calls[1] - calls[0], Duration::from_secs(7));
        assert_eq!(calls[2] - calls[1], POLICY.max, "an hour is capped");
    }
}
