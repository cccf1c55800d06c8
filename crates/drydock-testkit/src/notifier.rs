use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::image_ref::ImageReference;
use drydock_core::model::Container;
use drydock_core::ports::{
    Action, ActionError, ActionReport, Notification, Notifier, NotifyError, ScanError, ScanReport,
    Scanner, Vulnerability,
};

use crate::lock;

/// A [`Notifier`] that records what it delivers, and can fail a number of times first.
#[derive(Debug)]
pub struct RecordingNotifier {
    id: String,
    state: Mutex<NotifierState>,
}

#[derive(Debug, Default)]
struct NotifierState {
    delivered: Vec<Notification>,
    attempts: u32,
    failures_left: u32,
    always_fail: bool,
}

impl RecordingNotifier {
    /// A notifier with trigger id `id` (`ntfy.one`) that delivers everything.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: Mutex::new(NotifierState::default()),
        }
    }

    /// The next `n` deliveries fail with [`NotifyError::Unavailable`].
    pub fn fail_times(&self, n: u32) {
        lock(&self.state).failures_left = n;
    }

    /// Every delivery fails with [`NotifyError::Unavailable`], or none does again.
    pub fn fail_always(&self, fail: bool) {
        lock(&self.state).always_fail = fail;
    }

    /// The notifications delivered, in order.
    pub fn delivered(&self) -> Vec<Notification> {
        lock(&self.state).delivered.clone()
    }

    /// How many deliveries were attempted, failed ones included.
    pub fn attempts(&self) -> u32 {
        lock(&self.state).attempts
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let mut state = lock(&self.state);
        state.attempts += 1;
        if state.always_fail || state.failures_left > 0 {
            state.failures_left = state.failures_left.saturating_sub(1);
            return Err(NotifyError::Unavailable {
                trigger: self.id.clone(),
                reason: "scripted failure".into(),
            });
        }
        state.delivered.push(notification.clone());
        Ok(())
    }
}

/// An [`Action`] that records the containers it was run on and reports success, or a scripted
/// rollback.
#[derive(Debug)]
pub struct RecordingAction {
    id: String,
    state: Mutex<ActionState>,
}

#[derive(Debug, Default)]
struct ActionState {
    runs: Vec<Container>,
    fail_with: Option<String>,
}

impl RecordingAction {
    /// An action with trigger id `id` (`docker.local`).
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: Mutex::new(ActionState::default()),
        }
    }

    /// Every run fails with [`ActionError::RolledBack`] carrying `reason`, or succeeds again with `None`.
    pub fn set_failure(&self, reason: Option<&str>) {
        lock(&self.state).fail_with = reason.map(str::to_owned);
    }

    /// The containers the action was run on, in order.
    pub fn runs(&self) -> Vec<Container> {
        lock(&self.state).runs.clone()
    }
}

#[async_trait]
impl Action for RecordingAction {
    fn id(&self) -> &str {
        &self.id
    }

    async fn run(&self, container: &Container) -> Result<ActionReport, ActionError> {
        let mut state = lock(&self.state);
        state.runs.push(container.clone());
        if !container.update_available {
            return Err(ActionError::NothingToDo {
                container: container.name.clone(),
            });
        }
        if let Some(reason) = &state.fail_with {
            return Err(ActionError::RolledBack {
                container: container.name.clone(),
                step: "scripted".into(),
                reason: reason.clone(),
            });
        }
        let target = container
            .update_kind
            .remote_value
            .clone()
            .unwrap_or_default();
        Ok(ActionReport {
            container_id: container.id.clone(),
            image: format!("{}:{target}", container.image.name),
            summary: format!("updated {} to {target}", container.name),
        })
    }
}

/// A [`Scanner`] that answers scripted findings per image.
#[derive(Debug)]
pub struct FakeScanner {
    findings: Mutex<HashMap<String, Vec<Vulnerability>>>,
    unscannable: Mutex<Vec<String>>,
    scanned_at: DateTime<Utc>,
}

impl FakeScanner {
    /// A scanner whose reports carry `scanned_at`, finding nothing until told otherwise.
    pub fn new(scanned_at: DateTime<Utc>) -> Self {
        Self {
            findings: Mutex::new(HashMap::new()),
            unscannable: Mutex::new(Vec::new()),
            scanned_at,
        }
    }

    /// Scans of `image` will fail with [`ScanError::Failed`].
    pub fn set_unscannable(&self, image: &ImageReference) {
        lock(&self.unscannable).push(image.to_string());
    }

    /// Scans of `image` will report `vulnerabilities`.
    pub fn set_findings(&self, image: &ImageReference, vulnerabilities: Vec<Vulnerability>) {
        lock(&self.findings).insert(image.to_string(), vulnerabilities);
    }
}

#[async_trait]
impl Scanner for FakeScanner {
    fn name(&self) -> &str {
        "fake"
    }

    async fn scan(&self, image: &ImageReference) -> Result<ScanReport, ScanError> {
        let key = image.to_string();
        if lock(&self.unscannable).contains(&key) {
            return Err(ScanError::Failed {
                image: key,
                reason: "scripted failure".into(),
            });
        }
        Ok(ScanReport {
            vulnerabilities: lock(&self.findings).get(&key).cloned().unwrap_or_default(),
            image: key,
            scanned_at: self.scanned_at,
        })
    }
}
