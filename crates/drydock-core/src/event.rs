//! What a watch changed: the events the watch service emits and the notification, update and API
//! services consume.

use crate::model::Container;

/// What a watch changed, for triggers, automatic updates and API streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// A container is watched for the first time.
    ContainerAdded(Box<Container>),
    /// A watched container changed.
    ContainerUpdated(Box<Container>),
    /// A watched container is gone (removed, or no longer watched).
    ContainerRemoved(Box<Container>),
    /// A container has a new update available (a new candidate, or one no longer suppressed).
    UpdateAvailable(Box<Container>),
    /// Events were lost on the way (a consumer fell behind and its channel overflowed): whoever
    /// acts on events re-reads the store for what it missed.
    Missed {
        /// The watcher whose events were lost.
        watcher: String,
        /// How many.
        count: u64,
    },
}

impl WatchEvent {
    /// The container the event is about, if it is about one.
    pub fn container(&self) -> Option<&Container> {
        match self {
            Self::ContainerAdded(c)
            | Self::ContainerUpdated(c)
            | Self::ContainerRemoved(c)
            | Self::UpdateAvailable(c) => Some(c),
            Self::Missed { .. } => None,
        }
    }
}
