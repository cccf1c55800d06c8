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
            let first = match events.recv().await {
                Ok(WatchEvent::UpdateAvailable(container)) => *container,
                Ok(
                    WatchEvent::ContainerAdded(container) | WatchEvent::ContainerUpdated(container),
                ) => {
                    self.publish_state(*container);
                    continue;
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut batch = vec![first];
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
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            for index in 0..self.triggers.len() {
                let service = self.clone();
                let batch = batch.clone();
                tokio::spawn(async move { service.announce(index, &batch).await });
            }
        }
    }

    /// Plans and sends trigger `index`'s messages for one cycle's updates.
    async fn announce(&self, index: usize, batch: &[Container]) {
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
        let planned = plan(settings, batch, template_value, |key| {
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
