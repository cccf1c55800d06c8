//! A configured trigger: its common settings, its channel, and what it delivered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use drydock_core::notification::TriggerSettings;
use drydock_core::ports::Notifier;

/// A configured notification trigger.
pub struct Trigger {
    settings: TriggerSettings,
    notifier: Arc<dyn Notifier>,
    /// The channel's configuration with secrets masked.
    configuration: BTreeMap<String, String>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl std::fmt::Debug for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trigger")
            .field("id", &self.settings.id.to_string())
            .finish_non_exhaustive()
    }
}

impl Trigger {
    /// A trigger with its settings, its channel, and the channel's configuration as it may be
    /// shown (secrets already masked by the channel).
    pub fn new(
        settings: TriggerSettings,
        notifier: Arc<dyn Notifier>,
        configuration: BTreeMap<String, String>,
    ) -> Self {
        Self {
            settings,
            notifier,
            configuration,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// The common settings: id, threshold, mode, `ONCE`, order, templates.
    pub fn settings(&self) -> &TriggerSettings {
        &self.settings
    }

    /// The channel.
    pub fn notifier(&self) -> &dyn Notifier {
        self.notifier.as_ref()
    }

    /// Messages delivered since start-up.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages dead-lettered since start-up.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn count(&self, delivered: bool) {
        let counter = if delivered {
            &self.delivered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The API's view: id, type, name and configuration with secrets masked.
    pub fn describe(&self) -> serde_json::Value {
        let mut configuration: serde_json::Map<String, serde_json::Value> = self
            .configuration
            .clone()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        configuration.insert(
            "threshold".into(),
            format!("{:?}", self.settings.threshold)
                .to_ascii_lowercase()
                .into(),
        );
        configuration.insert(
            "mode".into(),
            format!("{:?}", self.settings.mode)
                .to_ascii_lowercase()
                .into(),
        );
        configuration.insert("once".into(), self.settings.once.into());
        configuration.insert("order".into(), self.settings.order.into());
        serde_json::json!({
            "id": self.settings.id.to_string(),
            "type": self.settings.id.kind,
            "name": self.settings.id.name,
            "configuration": configuration,
        })
    }
}
