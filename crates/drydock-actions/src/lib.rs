//! drydock's container actions: the Docker update behind the core's [`Action`] port.
//!
//! An update pulls the candidate, backs up the old image (a [`Backup`] record and a retained
//! `dd-backup-…` tag), parks the old container under `{name}-old-{epoch ms}`, creates the new one
//! under the original name with the old one's complete configuration (its image's own defaults
//! left to the new image), checks that the engine reports the same configuration for both (image
//! aside) *before* any downtime, stops the old, starts the new, waits for its health check (or a
//! grace period without one), and only then removes the old. Any failure restores the old
//! container. Every step is written to the store's journal before it is taken, and
//! [`Updater::recover`] finishes or undoes interrupted operations at start-up, so a crash at any
//! moment leaves each container under its name, running the old image or the new one.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use drydock_actions::{ActionSettings, Updater};
//! use drydock_testkit::{FakeRuntime, InMemoryStore, ManualClock};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let updater = Updater::new(
//!     Arc::new(FakeRuntime::new()),
//!     Arc::new(InMemoryStore::new()),
//!     Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
//!     ActionSettings::new("local"),
//! );
//! // Nothing was interrupted, so there is nothing to recover.
//! assert!(updater.recover().await.unwrap().is_empty());
//! # });
//! ```
//!
//! [`Action`]: drydock_core::ports::Action
//! [`Backup`]: drydock_core::operation::Backup

mod automatic;
pub mod compose;
mod hooks;
mod settings;
mod updater;

pub use automatic::Updaters;
pub use compose::{ComposeOptions, ComposePatch, ComposePatchError, patch_compose_file};
pub use hooks::{Hook, HookPoint};
pub use settings::{ActionSettings, AutoMode, Automatic, SettingsError};
pub use updater::{
    AuditDraft, KEEP_AUDIT, KEEP_OPERATIONS, Outcome, Preview, RegistryAuth, UpdateError, Updater,
    backups_of, record_audit,
};
