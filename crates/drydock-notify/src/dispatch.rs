//! From watch events to deliveries: one cycle's `update-available` events gathered, each trigger
//! planning and sending on its own; state-mirroring channels (MQTT) told of every change.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use drydock_core::event::WatchEvent;
use drydock_core::model::Container;
use drydock_core::notification::{once_key, plan};
use drydock_core::ports::{Notification, NotificationEvent};
use tokio::sync::broadcast;

use crate::outbox::Notifications;
use crate::value::template_value;

/// How long `update-available` events are gathered before triggers plan: one watch cycle's
/// worth, so a batch trigger sends one message per cycle.
const GATHER: Duration = Duration::from_secs(2);

impl Notifications {
    /// Turns watch events into deliveries until `events` closes: first the messages a previous
    /// run left queued, then, for each burst of `update-available` events, every trigger plans
    /// and sends on its own task, so a failing channel never holds up another. Channels that
    /// mirror container state ([`drydock_core::ports::Notifier::publishes_state`]) are sent every
    /// added or changed container as well.
    pub async fn dispatch(self: Arc<Self>, mut events: broadcast::Receiver<WatchEvent>) {
        if self.triggers.is_empty() {
            return;
        }
        self.resume_pending().await;
        loop {
            // What a burst announces; after lost events, also what the store holds that no
            // channel was told of.
            let mut batch = Vec::new();
            let mut missed = false;
            match events.recv().await {
                Ok(WatchEvent::UpdateAvailable(container)) => batch.push(*container),
                Ok(
                    WatchEvent::ContainerAdded(container) | WatchEvent::ContainerUpdated(container),
                ) => {
                    self.publish_state(*container);
                    continue;
                }
                Ok(WatchEvent::Missed { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    missed = true;
                }
                Ok(WatchEvent::ContainerRemoved(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
            let gather = tokio::time::sleep(GATHER);
            tokio::pin!(gather);
            loop {
                tokio::select! {
                    () = &mut gather => break,
                    event = events.recv() => match event {
                        Ok(WatchEvent::UpdateAvailable(container)) => batch.push(*container),
                        Ok(WatchEvent::ContainerAdded(container) | WatchEvent::ContainerUpdated(container)) => {
                            self.publish_state(*container);
                        }
                        Ok(WatchEvent::Missed { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            missed = true;
                        }
                        Ok(WatchEvent::ContainerRemoved(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            if missed {
                tracing::warn!(
                    "notifications fell behind the watch events: announcing the stored updates no channel was told of"
                );
                match self.store.containers().await {
                    Ok(stored) => {
                        for container in stored {
                            if container.update_available
                                && !batch.iter().any(|c| c.id == container.id)
                            {
                                batch.push(container);
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the stored containers"),
                }
            }
            if batch.is_empty() {
                continue;
            }
            for index in 0..self.triggers.len() {
                let service = self.clone();
                let batch = batch.clone();
                tokio::spawn(async move { service.announce(index, &batch, missed).await });
            }
        }
    }

    /// Plans and sends trigger `index`'s messages for one cycle's updates.
    async fn announce(&self, index: usize, batch: &[Container], unannounced_only: bool) {
        let Some(trigger) = self.triggers.get(index) else {
            return;
        };
        let settings = trigger.settings();
        let mut announced = HashSet::new();
        for container in batch {
            let key = once_key(&settings.id, container);
            if self.store.announced(&key).await.unwrap_or(false) {
                announced.insert(key);
            }
        }
        // After lost events the batch holds stored updates too: only those never delivered
        // through this trigger, ONCE or not.
        let batch: Vec<Container> = batch
            .iter()
            .filter(|c| !unannounced_only || !announced.contains(&once_key(&settings.id, c)))
            .cloned()
            .collect();
        let planned = plan(settings, &batch, template_value, |key| {
            announced.contains(key)
        });
        for message in planned {
            self.send(trigger, message, self.retry).await;
        }
    }

    /// Sends a container's state to every trigger that mirrors state; a retained message needs
    /// no outbox: the next change publishes again.
    fn publish_state(self: &Arc<Self>, container: Container) {
        for index in 0..self.triggers.len() {
            if !self.triggers[index].notifier().publishes_state() {
                continue;
            }
            let service = self.clone();
            let container = container.clone();
            tokio::spawn(async move {
                let trigger = &service.triggers[index];
                let notification = Notification {
                    event: NotificationEvent::UpdateAvailable,
                    title: String::new(),
                    body: String::new(),
                    containers: vec![container],
                };
                if let Err(e) = trigger.notifier().notify(&notification).await {
                    tracing::warn!(trigger = trigger.notifier().id(), error = %e, "publishing a container's state failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drydock_core::notification::{TriggerId, TriggerSettings, once_key};
    use drydock_core::ports::Store as _;
    use drydock_testkit::{InMemoryStore, ManualClock, RecordingNotifier};

    use super::*;
    use crate::{Trigger, sample_container};

    fn named(name: &str) -> Container {
        Container {
            id: name.into(),
            name: name.into(),
            ..sample_container()
        }
    }

    /// The dispatcher fell behind by more events than its channel holds: the update whose event
    /// was lost is announced from the store, once; one already delivered is not sent again.
    #[tokio::test(start_paused = true)]
    async fn updates_whose_events_were_lost_are_announced_from_the_store() {
        let id = TriggerId {
            kind: "ntfy".into(),
            name: "one".into(),
        };
        // Without ONCE: what was delivered must still not be sent twice by the catch-up.
        let keys = BTreeMap::from([("ONCE".to_owned(), "false".to_owned())]);
        let settings = TriggerSettings::from_keys(id.clone(), &keys).unwrap();
        let notifier = Arc::new(RecordingNotifier::new("ntfy.one"));
        let store = Arc::new(InMemoryStore::new());
        let (lost, told) = (named("lost"), named("told"));
        store.save_container(&lost).await.unwrap();
        store.save_container(&told).await.unwrap();
        store.record_announced(&once_key(&id, &told)).await.unwrap();
        let notifications = Arc::new(Notifications::new(
            vec![Trigger::new(settings, notifier.clone(), BTreeMap::new())],
            store,
            Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
        ));
        let (sender, receiver) = broadcast::channel(4);
        sender
            .send(WatchEvent::UpdateAvailable(Box::new(lost.clone())))
            .unwrap();
        for i in 0..10 {
            let gone = named(&format!("gone-{i}"));
            sender
                .send(WatchEvent::ContainerRemoved(Box::new(gone)))
                .unwrap();
        }
        let dispatching = tokio::spawn(notifications.dispatch(receiver));
        for _ in 0..60 {
            if !notifier.delivered().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Long enough for a duplicate to arrive.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(sender);
        dispatching.await.unwrap();
        let titles: Vec<String> = notifier.delivered().into_iter().map(|n| n.title).collect();
        assert_eq!(titles, ["New tag found for container lost"]);
    }
}
