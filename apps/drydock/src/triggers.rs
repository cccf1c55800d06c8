//! Notification triggers: configuration from `DD_NOTIFICATION_{TYPE}_{NAME}_*` (legacy
//! `DD_TRIGGER_*`), and the dispatcher that turns watch events into deliveries.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use drydock_core::model::Container;
use drydock_core::notification::{
    OutboxEntry, OutboxStatus, Planned, TriggerId, TriggerSettings, once_key, plan,
};
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
    /// Messages delivered and dead-lettered since start-up, for `/metrics`.
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
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
    compat: drydock_triggers::Compat,
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
        // `DD_TRIGGER_DOCKER_*` and `_DOCKERCOMPOSE_*` are the legacy spelling of the action
        // triggers.
        if kind == "docker" || kind == "dockercompose" {
            continue;
        }
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
                let notifier = MqttNotifier::with_compat(&id.to_string(), &channel_keys, compat)
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
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
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

/// The trigger `{type}.{name}`, if configured.
pub(crate) fn find<'a>(triggers: &'a [Trigger], kind: &str, name: &str) -> Option<&'a Trigger> {
    let wanted = format!(
        "{}.{}",
        kind.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    );
    triggers
        .iter()
        .find(|t| t.settings.id.to_string() == wanted)
}

/// Sends the simple message about `container` now, once, whatever the threshold and `ONCE`
/// say: a manual run or a test.
pub(crate) async fn send_now(
    trigger: &Trigger,
    container: Container,
    store: &dyn Store,
) -> Delivery {
    let scope = drydock_core::notification::container_scope(&container, template_value(&container));
    let planned = Planned {
        trigger: trigger.settings.id.clone(),
        title: trigger.settings.simple_title.render(&scope),
        body: trigger.settings.simple_body.render(&scope),
        containers: vec![container],
        once_keys: Vec::new(),
    };
    let once = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    send(trigger, planned, store, once).await
}

/// The container a trigger test announces when none is given.
pub(crate) fn sample_container() -> Container {
    use drydock_core::model::{ImageTag, KindOfUpdate, UpdateKind, UpdateResult};
    use drydock_core::version::SemverDiff;
    Container {
        id: "drydock-test".into(),
        name: "drydock-test".into(),
        watcher: "local".into(),
        image: drydock_core::model::Image {
            name: "drydock/test".into(),
            tag: ImageTag {
                value: "1.0.0".into(),
                semver: true,
            },
            ..drydock_core::model::Image::default()
        },
        result: Some(UpdateResult {
            tag: Some("1.1.0".into()),
            ..UpdateResult::default()
        }),
        update_available: true,
        update_kind: UpdateKind {
            kind: KindOfUpdate::Tag,
            local_value: Some("1.0.0".into()),
            remote_value: Some("1.1.0".into()),
            semver_diff: Some(SemverDiff::Minor),
        },
        ..Container::default()
    }
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

/// Sends one planned message through the outbox: queued in the store first, then delivered with
/// retries, then marked delivered (its `ONCE` keys recorded) or dead-lettered.
pub(crate) async fn send(
    trigger: &Trigger,
    planned: Planned,
    store: &dyn Store,
    policy: RetryPolicy,
) -> Delivery {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let entry = OutboxEntry {
        id: format!("{nanos:020}-{}", trigger.settings.id),
        trigger: trigger.settings.id.to_string(),
        title: planned.title,
        body: planned.body,
        containers: planned.containers.iter().map(|c| c.id.clone()).collect(),
        once_keys: planned.once_keys,
        status: OutboxStatus::Pending,
        attempts: 0,
        last_error: None,
        created: now,
        updated: now,
    };
    deliver_entry(trigger, entry, planned.containers, store, policy).await
}

async fn deliver_entry(
    trigger: &Trigger,
    mut entry: OutboxEntry,
    containers: Vec<Container>,
    store: &dyn Store,
    policy: RetryPolicy,
) -> Delivery {
    if let Err(e) = store.save_outbox(&entry).await {
        tracing::error!(trigger = %entry.trigger, error = %e, "could not queue a notification");
    }
    let notification = Notification {
        event: NotificationEvent::UpdateAvailable,
        title: entry.title.clone(),
        body: entry.body.clone(),
        containers,
    };
    let delivery = deliver(trigger.notifier.as_ref(), &notification, policy).await;
    match &delivery {
        Delivery::Sent { attempts } => {
            trigger.delivered.fetch_add(1, Ordering::Relaxed);
            entry.status = OutboxStatus::Delivered;
            entry.attempts += attempts;
            for key in &entry.once_keys {
                if let Err(e) = store.record_announced(key).await {
                    tracing::error!(trigger = %entry.trigger, error = %e, "could not record a delivery");
                }
            }
        }
        Delivery::Dead { attempts, error } => {
            trigger.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(trigger = %entry.trigger, attempts, error = %error, "notification dead-lettered");
            entry.status = OutboxStatus::DeadLetter;
            entry.attempts += attempts;
            entry.last_error = Some(error.to_string());
        }
    }
    entry.updated = chrono::Utc::now();
    if let Err(e) = store.save_outbox(&entry).await {
        tracing::error!(trigger = %entry.trigger, error = %e, "could not record a delivery outcome");
    }
    delivery
}

/// Delivers what a previous run queued and did not finish (a crash between queue and delivery).
async fn resume_pending(triggers: &[Trigger], store: &dyn Store, policy: RetryPolicy) {
    let Ok(entries) = store.outbox().await else {
        return;
    };
    for entry in entries
        .into_iter()
        .filter(|e| e.status == OutboxStatus::Pending)
    {
        let Some(trigger) = triggers
            .iter()
            .find(|t| t.settings.id.to_string() == entry.trigger)
        else {
            continue;
        };
        let mut containers = Vec::new();
        for id in &entry.containers {
            if let Ok(Some(container)) = store.container(id).await {
                containers.push(container);
            }
        }
        deliver_entry(trigger, entry, containers, store, policy).await;
    }
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
    resume_pending(&triggers, store.as_ref(), policy).await;
    loop {
        let first = match events.recv().await {
            Ok(WatchEvent::UpdateAvailable(container)) => *container,
            Ok(WatchEvent::ContainerAdded(container) | WatchEvent::ContainerUpdated(container)) => {
                publish_state(&triggers, *container);
                continue;
            }
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
                    Ok(WatchEvent::ContainerAdded(container) | WatchEvent::ContainerUpdated(container)) => {
                        publish_state(&triggers, *container);
                    }
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

/// MQTT triggers publish every container's state as it changes, update or not (Home Assistant
/// shows the installed version of all of them); a retained message needs no outbox: the next
/// change publishes again.
fn publish_state(triggers: &Arc<Vec<Trigger>>, container: Container) {
    for index in 0..triggers.len() {
        if triggers[index].settings.id.kind != "mqtt" {
            continue;
        }
        let triggers = triggers.clone();
        let container = container.clone();
        tokio::spawn(async move {
            let trigger = &triggers[index];
            let notification = Notification {
                event: NotificationEvent::UpdateAvailable,
                title: String::new(),
                body: String::new(),
                containers: vec![container],
            };
            if let Err(e) = trigger.notifier.notify(&notification).await {
                tracing::warn!(trigger = trigger.notifier.id(), error = %e, "publishing a container's state failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_testkit::InMemoryStore;

    fn trigger(url: &str) -> Trigger {
        let id = TriggerId {
            kind: "ntfy".into(),
            name: "x".into(),
        };
        let keys = BTreeMap::from([
            ("TOPIC".to_owned(), "t".to_owned()),
            ("URL".to_owned(), url.to_owned()),
        ]);
        Trigger {
            settings: TriggerSettings::from_keys(id, &BTreeMap::new()).unwrap(),
            notifier: Box::new(HttpNotifier::new("ntfy.x", ChannelKind::Ntfy, keys).unwrap()),
            configuration: BTreeMap::new(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn planned() -> Planned {
        Planned {
            trigger: TriggerId {
                kind: "ntfy".into(),
                name: "x".into(),
            },
            title: "t".into(),
            body: "b".into(),
            containers: vec![Container {
                id: "c1".into(),
                ..Container::default()
            }],
            once_keys: vec!["ntfy.x|local/c|1.1".into()],
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn an_undeliverable_message_is_dead_lettered_in_the_store() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = InMemoryStore::new();
        let unreachable = trigger(&format!("http://127.0.0.1:{closed}"));
        let outcome = send(&unreachable, planned(), &store, fast()).await;
        assert!(matches!(outcome, Delivery::Dead { attempts: 3, .. }));
        assert_eq!(unreachable.failed.load(Ordering::Relaxed), 1);
        assert_eq!(unreachable.delivered.load(Ordering::Relaxed), 0);
        let outbox = store.outbox().await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].status, OutboxStatus::DeadLetter);
        assert_eq!(outbox[0].attempts, 3);
        assert!(outbox[0].last_error.is_some());
        assert!(
            !store.announced("ntfy.x|local/c|1.1").await.unwrap(),
            "not delivered, not announced"
        );
    }

    #[tokio::test]
    async fn a_pending_message_left_by_a_crash_is_delivered_at_start() {
        // A receiver that accepts anything.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        let store = InMemoryStore::new();
        let now = chrono::Utc::now();
        let pending = OutboxEntry {
            id: "1-ntfy.x".into(),
            trigger: "ntfy.x".into(),
            title: "t".into(),
            body: "b".into(),
            containers: Vec::new(),
            once_keys: vec!["k".into()],
            status: OutboxStatus::Pending,
            attempts: 0,
            last_error: None,
            created: now,
            updated: now,
        };
        store.save_outbox(&pending).await.unwrap();
        let triggers = [trigger(&url)];
        resume_pending(&triggers, &store, fast()).await;
        let outbox = store.outbox().await.unwrap();
        assert_eq!(outbox[0].status, OutboxStatus::Delivered);
        assert_eq!(triggers[0].delivered.load(Ordering::Relaxed), 1);
        assert!(store.announced("k").await.unwrap());
    }
}
