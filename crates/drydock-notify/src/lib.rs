//! drydock's notification use case, over the `Store`, `Notifier` and `Clock` ports of
//! `drydock-core`: no channel, HTTP or database types in it.
//!
//! [`Notifications`] holds the configured [`Trigger`]s. Fed the watch events
//! ([`Notifications::dispatch`]), it gathers one cycle's `update-available` events, lets each
//! trigger plan its messages on its own (threshold, the container's include and exclude labels,
//! `ONCE`, simple or batch mode, templates: the core's `notification::plan`), and sends each message
//! through the store's outbox: queued first, delivered with retries and back-off ([`deliver`]),
//! then marked delivered (its `ONCE` keys recorded) or dead-lettered. Messages a crash left queued
//! are delivered at start-up. A failing channel never holds up another.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use drydock_core::notification::{TriggerId, TriggerSettings};
//! use drydock_notify::{Delivery, Notifications, Trigger, sample_container};
//! use drydock_testkit::{InMemoryStore, ManualClock, RecordingNotifier};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let id = TriggerId { kind: "ntfy".into(), name: "one".into() };
//! let settings = TriggerSettings::from_keys(id, &BTreeMap::new()).unwrap();
//! let notifier = Arc::new(RecordingNotifier::new("ntfy.one"));
//! let trigger = Trigger::new(settings, notifier.clone(), BTreeMap::new());
//! let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
//! let notifications = Notifications::new(vec![trigger], Arc::new(InMemoryStore::new()), clock);
//!
//! let trigger = notifications.find("ntfy", "one").unwrap();
//! let delivery = notifications.send_now(trigger, sample_container()).await;
//! assert_eq!(delivery, Delivery::Sent { attempts: 1 });
//! assert_eq!(notifier.delivered()[0].title, "New tag found for container drydock-test");
//! # });
//! ```

mod delivery;
mod dispatch;
mod outbox;
mod trigger;
mod value;

pub use delivery::{Delivery, RetryPolicy, deliver};
pub use outbox::Notifications;
pub use trigger::Trigger;
pub use value::{sample_container, template_value};
