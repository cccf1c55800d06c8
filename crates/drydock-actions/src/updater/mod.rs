//! The Docker update: pull, back up, park the old container, create the new one with the same
//! configuration, verify it, swap, wait for health, and roll back on any failure. Every step is
//! journaled first, so [`Updater::recover`] can finish or undo it after a crash.

mod api;
mod history;
mod recovery;
mod swap;
#[cfg(test)]
mod tests;

pub use api::{KEEP_AUDIT, KEEP_OPERATIONS, Outcome, Preview, RegistryAuth, UpdateError, Updater};
pub use history::{AuditDraft, backups_of, record_audit};
