//! The [`Notifier`] port: one notification channel.

use std::time::Duration;

use async_trait::async_trait;

use crate::model::Container;

/// A notification channel (ntfy, Slack, SMTP, MQTT, ...): one configured trigger.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The trigger id, `{type}.{name}` (`ntfy.one`).
    ///
    /// Errors: none.
    fn id(&self) -> &str;

    /// Delivers one notification. Returns only once the receiver accepted it.
    ///
    /// Errors: [`NotifyError::RateLimited`] (the receiver said to slow down, with its
    /// `Retry-After` when it gave one) and [`NotifyError::Unavailable`] (unreachable, a server
    /// error) are worth retrying; [`NotifyError::Rejected`] (the receiver refused the message) and
    /// [`NotifyError::Refused`] (drydock will not send there) are not.
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;

    /// Whether the channel mirrors every container's state as it changes (MQTT's retained
    /// topics, which Home Assistant reads), not only the updates announced: such a channel is
    /// also sent each added or changed container, one per notification, with an empty title and
    /// body. `false` unless the channel says otherwise.
    ///
    /// Errors: none.
    fn publishes_state(&self) -> bool {
        false
    }
}

/// A rendered notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// What happened.
    pub event: NotificationEvent,
    /// The rendered title.
    pub title: String,
    /// The rendered body.
    pub body: String,
    /// The containers concerned: one in simple mode, all of the cycle in batch mode.
    pub containers: Vec<Container>,
}

/// The events notifications are sent for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationEvent {
    /// An update became available.
    UpdateAvailable,
    /// An update was applied.
    UpdateApplied,
    /// An update failed (and was rolled back).
    UpdateFailed,
}

/// Why a delivery failed. Messages never contain the channel's secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The receiver answered with a client error: retrying will not help.
    #[error("{trigger}: rejected with status {status}: {reason}")]
    Rejected {
        /// Trigger id.
        trigger: String,
        /// Status code of the receiver (HTTP, SMTP reply code, ...).
        status: u16,
        /// The receiver's explanation, shortened.
        reason: String,
    },
    /// The receiver asked us to slow down.
    #[error("{trigger}: rate limited")]
    RateLimited {
        /// Trigger id.
        trigger: String,
        /// How long to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The receiver cannot be reached or failed on its side.
    #[error("{trigger}: unavailable: {reason}")]
    Unavailable {
        /// Trigger id.
        trigger: String,
        /// What happened.
        reason: String,
    },
    /// drydock refused to send (a forbidden destination, a bad configuration).
    #[error("{trigger}: refused: {reason}")]
    Refused {
        /// Trigger id.
        trigger: String,
        /// Why.
        reason: String,
    },
}
