//! Notification triggers: configuration from `DD_NOTIFICATION_{TYPE}_{NAME}_*` (legacy
//! `DD_TRIGGER_*`), and the dispatcher that turns watch events into deliveries.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use drydock_core::model::Container;
use drydock_core::notification::{Planned, TriggerId, TriggerSettings, once_key, plan};
use drydock_core::ports::{Notification, NotificationEvent, Notifier, Store};
use drydock_core::template::Value;
use drydock_triggers::channels::ChannelKind;
use drydock_triggers::{
    CommandNotifier, Delivery, HttpNotifier, MqttNotifier, RetryPolicy, SmtpNotifier, deliver,
};
use drydock_watch::WatchEvent;
use tokio::sync::broadcast;

/// Keys every trigger shares; the rest belong to the channel.
const COMMON: &[&str] = &[
    "THRESHOLD",
    "MODE",
    "ONCE",
    "ORDER",
    "AUTO",
    "SIMPLETITLE",
    "SIMPLEBODY",
    "BATCHTITLE",
    "BATCHBODY",
];

/// A configured notification trigger.
pub(crate) struct Trigger {
    pub(crate) settings: TriggerSettings,
    pub(crate) notifier: Box<dyn Notifier>,
    /// The channel's configuration with secrets masked.
    configuration: BTreeMap<String, String>,
}

impl std::fmt::Debug for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trigger")
            .field("id", &self.settings.id.to_string())
            .finish_non_exhaustive()
    }
}

impl Trigger {
    /// The API's view: id, type, name and configuration with secrets masked.
    pub(crate) fn describe(&self) -> serde_json::Value {
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

/// Reads the triggers; types not available yet are returned as notices.
pub(crate) fn from_env(
    env: &BTreeMap<String, String>,
) -> anyhow::Result<(Vec<Trigger>, Vec<String>)> {
    // (type, name) → key → value; DD_NOTIFICATION_ wins over the legacy DD_TRIGGER_.
    let mut grouped: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    let mut notices = Vec::new();
    for prefix in ["DD_TRIGGER_", "DD_NOTIFICATION_"] {
        for (variable, value) in env.iter().filter(|(k, _)| k.starts_with(prefix)) {
            let rest = &variable[prefix.len()..];
            let mut parts = rest.splitn(3, '_');
            let (Some(kind), Some(name), Some(key)) = (parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("{variable}: expected {prefix}{{TYPE}}_{{NAME}}_{{KEY}}");
            };
            grouped
                .entry((kind.to_ascii_lowercase(), name.to_ascii_lowercase()))
                .or_default()
                .insert(key.to_ascii_uppercase(), value.clone());
        }
    }
    let mut triggers = Vec::new();
    for ((kind, name), keys) in grouped {
        let id = TriggerId {
            kind: kind.clone(),
            name: name.clone(),
        };
        let channel_keys: BTreeMap<String, String> = keys
            .iter()
            .filter(|(k, _)| !COMMON.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (notifier, configuration): (Box<dyn Notifier>, BTreeMap<String, String>) =
            if kind == "command" {
                let notifier = CommandNotifier::new(&id.to_string(), &channel_keys)
                    .with_context(|| format!("trigger {id}"))?;
                // The command line may hold secrets: it is never shown.
                let masked = channel_keys
                    .iter()
                    .map(|(k, v)| {
                        let shown = if k == "CMD" {
                            "[REDACTED]".to_owned()
                        } else {
                            v.clone()
                        };
                        (k.to_ascii_lowercase(), shown)
                    })
                    .collect();
                (Box::new(notifier), masked)
            } else if kind == "mqtt" {
                let notifier = MqttNotifier::new(&id.to_string(), &channel_keys)
                    .with_context(|| format!("trigger {id}"))?;
                let masked = notifier.masked_configuration();
                (Box::new(notifier), masked)
            } else if kind == "smtp" {
                let notifier = SmtpNotifier::new(&id.to_string(), &channel_keys)
                    .with_context(|| format!("trigger {id}"))?;
                let masked = notifier.masked_configuration();
                (Box::new(notifier), masked)
            } else if let Some(channel) = ChannelKind::parse(&kind) {
                let notifier = HttpNotifier::new(&id.to_string(), channel, channel_keys)
                    .with_context(|| format!("trigger {id}"))?;
                let masked = notifier.masked_configuration();
                (Box::new(notifier), masked)
            } else {
                notices.push(format!(
                    "{kind}.{name} ({kind} triggers are not available in this version yet)"
                ));
                continue;
            };
        let settings = TriggerSettings::from_keys(id.clone(), &keys)?;
        triggers.push(Trigger {
            settings,
            notifier,
            configuration,
        });
    }
    triggers.sort_by(|a, b| {
        a.settings
            .order
            .cmp(&b.settings.order)
            .then_with(|| a.settings.id.cmp(&b.settings.id))
    });
    Ok((triggers, notices))
}

/// A container as templates see it: the API's JSON.
pub(crate) fn template_value(container: &Container) -> Value {
    serde_json::to_value(container)
        .map(|v| from_json(&v))
        .unwrap_or_default()
}

fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Sends one planned message and, once delivered, records its `ONCE` keys.
pub(crate) async fn send(
    trigger: &Trigger,
    planned: Planned,
    store: &dyn Store,
    policy: RetryPolicy,
) -> Delivery {
    let notification = Notification {
        event: NotificationEvent::UpdateAvailable,
        title: planned.title,
        body: planned.body,
        containers: planned.containers,
    };
    let delivery = deliver(trigger.notifier.as_ref(), &notification, policy).await;
    match &delivery {
        Delivery::Sent { .. } => {
            for key in &planned.once_keys {
                if let Err(e) = store.record_announced(key).await {
                    tracing::error!(trigger = trigger.notifier.id(), error = %e, "could not record a delivery");
                }
            }
        }
        Delivery::Dead { attempts, error } => {
            tracing::error!(trigger = trigger.notifier.id(), attempts, error = %error, "notification dead-lettered");
        }
    }
    delivery
}

/// Turns `update-available` events into deliveries: events are gathered for a moment (one watch
/// cycle's worth), then each trigger plans and sends on its own, so a failing channel never holds
/// up another.
pub(crate) async fn dispatch(
    triggers: Arc<Vec<Trigger>>,
    store: Arc<dyn Store>,
    mut events: broadcast::Receiver<WatchEvent>,
    policy: RetryPolicy,
) {
    if triggers.is_empty() {
        return;
    }
    loop {
        let first = match events.recv().await {
            Ok(WatchEvent::UpdateAvailable(container)) => *container,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut batch = vec![first];
        let gather = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(gather);
        loop {
            tokio::select! {
                () = &mut gather => break,
                event = events.recv() => match event {
                    Ok(WatchEvent::UpdateAvailable(container)) => batch.push(*container),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        for index in 0..triggers.len() {
            let triggers = triggers.clone();
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move {
                let trigger = &triggers[index];
                let mut announced = HashSet::new();
                for container in &batch {
                    let key = once_key(&trigger.settings.id, container);
                    if store.announced(&key).await.unwrap_or(false) {
                        announced.insert(key);
                    }
                }
                let planned = plan(&trigger.settings, &batch, template_value, |key| {
                    announced.contains(key)
                });
                for message in planned {
                    send(trigger, message, store.as_ref(), policy).await;
                }
            });
        }
    }
}
