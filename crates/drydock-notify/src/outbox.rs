//! The notification service and its outbox: every message is queued in the store before it is
//! sent, and marked delivered or dead-lettered after.

use std::sync::Arc;

use drydock_core::discovery::LabelSettings;
use drydock_core::model::Container;
use drydock_core::notification::{OutboxEntry, OutboxStatus, Planned, applies, container_scope};
use drydock_core::ports::{Clock, Notification, NotificationEvent, Store};

use crate::delivery::{Delivery, RetryPolicy, deliver};
use crate::trigger::Trigger;
use crate::value::template_value;

/// The configured triggers and what they need to deliver: the store (outbox, `ONCE` keys) and
/// the clock.
pub struct Notifications {
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("triggers", &self.triggers)
            .finish_non_exhaustive()
    }
}

impl Notifications {
    /// The service over `triggers` (in delivery order: by `ORDER`, then id), with the default
    /// [`RetryPolicy`].
    pub fn new(mut triggers: Vec<Trigger>, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        triggers.sort_by(|a, b| {
            let (a, b) = (a.settings(), b.settings());
            a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id))
        });
        Self {
            triggers,
            store,
            clock,
            retry: RetryPolicy::default(),
        }
    }

    /// The same with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The triggers, in delivery order.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// The trigger `{kind}.{name}`, case-insensitively, if configured.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Trigger> {
        self.triggers.iter().find(|t| {
            let id = &t.settings().id;
            id.kind.eq_ignore_ascii_case(kind) && id.name.eq_ignore_ascii_case(name)
        })
    }

    /// The triggers a container's `dd.notification.include` / `exclude` labels (and their legacy
    /// and `wud.*` spellings) let act on it.
    pub fn applicable<'a>(&'a self, container: &Container) -> impl Iterator<Item = &'a Trigger> {
        let labels = LabelSettings::read(&container.labels);
        self.triggers.iter().filter(move |t| {
            applies(
                &t.settings().id,
                labels.notification_include.as_deref(),
                labels.notification_exclude.as_deref(),
            )
            .is_some()
        })
    }

    /// Sends the simple message about `container` now, once, whatever the threshold and `ONCE`
    /// say: a manual run or a test.
    pub async fn send_now(&self, trigger: &Trigger, container: Container) -> Delivery {
        let settings = trigger.settings();
        let scope = container_scope(&container, template_value(&container));
        let planned = Planned {
            trigger: settings.id.clone(),
            title: settings.simple_title.render(&scope),
            body: settings.simple_body.render(&scope),
            containers: vec![container],
            once_keys: Vec::new(),
        };
        let once = RetryPolicy {
            attempts: 1,
            ..self.retry
        };
        self.send(trigger, planned, once).await
    }

    /// Sends one planned message through the outbox: queued in the store first, then delivered
    /// with retries, then marked delivered (its `ONCE` keys recorded) or dead-lettered.
    pub(crate) async fn send(
        &self,
        trigger: &Trigger,
        planned: Planned,
        policy: RetryPolicy,
    ) -> Delivery {
        let now = self.clock.now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let entry = OutboxEntry {
            id: format!("{nanos:020}-{}", trigger.settings().id),
            trigger: trigger.settings().id.to_string(),
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
        self.deliver_entry(trigger, entry, planned.containers, policy)
            .await
    }

    async fn deliver_entry(
        &self,
        trigger: &Trigger,
        mut entry: OutboxEntry,
        containers: Vec<Container>,
        policy: RetryPolicy,
    ) -> Delivery {
        let store = self.store.as_ref();
        if let Err(e) = store.save_outbox(&entry).await {
            tracing::error!(trigger = %entry.trigger, error = %e, "could not queue a notification");
        }
        let notification = Notification {
            event: NotificationEvent::UpdateAvailable,
            title: entry.title.clone(),
            body: entry.body.clone(),
            containers,
        };
        let delivery = deliver(trigger.notifier(), &notification, policy).await;
        match &delivery {
            Delivery::Sent { attempts } => {
                trigger.count(true);
                entry.status = OutboxStatus::Delivered;
                entry.attempts += attempts;
                for key in &entry.once_keys {
                    if let Err(e) = store.record_announced(key).await {
                        tracing::error!(trigger = %entry.trigger, error = %e, "could not record a delivery");
                    }
                }
            }
            Delivery::Dead { attempts, error } => {
                trigger.count(false);
                tracing::error!(trigger = %entry.trigger, attempts, error = %error, "notification dead-lettered");
                entry.status = OutboxStatus::DeadLetter;
                entry.attempts += attempts;
                entry.last_error = Some(error.to_string());
            }
        }
        entry.updated = self.clock.now();
        if let Err(e) = store.save_outbox(&entry).await {
            tracing::error!(trigger = %entry.trigger, error = %e, "could not record a delivery outcome");
        }
        delivery
    }

    /// Delivers what a previous run queued and did not finish (a crash between queue and
    /// delivery). A store that cannot be read is logged and leaves the entries for next time.
    pub async fn resume_pending(&self) {
        let entries = match self.store.outbox().await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the notification outbox: queued messages wait");
                return;
            }
        };
        for entry in entries
            .into_iter()
            .filter(|e| e.status == OutboxStatus::Pending)
        {
            let Some(trigger) = self
                .triggers
                .iter()
                .find(|t| t.settings().id.to_string() == entry.trigger)
            else {
                continue;
            };
            let mut containers = Vec::new();
            for id in &entry.containers {
                if let Ok(Some(container)) = self.store.container(id).await {
                    containers.push(container);
                }
            }
            self.deliver_entry(trigger, entry, containers, self.retry)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use drydock_core::notification::{TriggerId, TriggerSettings};
    use drydock_testkit::{InMemoryStore, ManualClock, RecordingNotifier};

    use super::*;

    fn service(notifier: Arc<RecordingNotifier>, store: Arc<InMemoryStore>) -> Notifications {
        let id = TriggerId {
            kind: "ntfy".into(),
            name: "x".into(),
        };
        let trigger = Trigger::new(
            TriggerSettings::from_keys(id, &BTreeMap::new()).unwrap(),
            notifier,
            BTreeMap::new(),
        );
        let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
        Notifications::new(vec![trigger], store, clock).with_retry(RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        })
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

    #[tokio::test]
    async fn an_undeliverable_message_is_dead_lettered_in_the_store() {
        let notifier = Arc::new(RecordingNotifier::new("ntfy.x"));
        notifier.fail_always(true);
        let store = Arc::new(InMemoryStore::new());
        let service = service(notifier.clone(), store.clone());
        let trigger = &service.triggers()[0];
        let outcome = service.send(trigger, planned(), service.retry).await;
        assert!(matches!(outcome, Delivery::Dead { attempts: 3, .. }));
        assert_eq!(notifier.attempts(), 3);
        assert_eq!((trigger.failed(), trigger.delivered()), (1, 0));
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
        let notifier = Arc::new(RecordingNotifier::new("ntfy.x"));
        let store = Arc::new(InMemoryStore::new());
        let now = chrono::DateTime::UNIX_EPOCH;
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
        let service = service(notifier.clone(), store.clone());
        service.resume_pending().await;
        let outbox = store.outbox().await.unwrap();
        assert_eq!(outbox[0].status, OutboxStatus::Delivered);
        assert_eq!(service.triggers()[0].delivered(), 1);
        assert_eq!(notifier.delivered()[0].title, "t");
        assert!(store.announced("k").await.unwrap());
    }
}
