//! The [`Store`] port: drydock's durable state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::Container;
use crate::notification::OutboxEntry;
use crate::operation::{AuditEntry, Backup, Operation};
use crate::policy::UpdatePolicy;

/// Durable state: containers, their policies, and when candidates were first seen.
///
/// A write that returns `Ok` survives a crash of the process. Policies and first-seen times are
/// keyed by the container's *identity* (`watcher/name`), not its id, so they outlive the container
/// being recreated by an update.
#[async_trait]
pub trait Store: Send + Sync {
    /// Inserts or replaces a container, keyed by id.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn save_container(&self, container: &Container) -> Result<(), StoreError>;

    /// The container with this id, if stored.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError>;

    /// Every stored container, ordered by id.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn containers(&self) -> Result<Vec<Container>, StoreError>;

    /// Removes a container; returns whether it was stored.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn remove_container(&self, id: &str) -> Result<bool, StoreError>;

    /// The policy of a container identity (empty when none was saved).
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn policy(&self, identity: &str) -> Result<UpdatePolicy, StoreError>;

    /// Saves the policy of a container identity; an empty policy removes it.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn save_policy(&self, identity: &str, policy: &UpdatePolicy) -> Result<(), StoreError>;

    /// Whether a notification with this `ONCE` key was delivered (see
    /// [`crate::notification::once_key`]).
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn announced(&self, key: &str) -> Result<bool, StoreError>;

    /// Records that a notification with this `ONCE` key was delivered; durable when it returns.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn record_announced(&self, key: &str) -> Result<(), StoreError>;

    /// Inserts or replaces an outbox entry (keyed by its id); durable when it returns.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// Every outbox entry, oldest first.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Inserts or replaces an operation's journal record (keyed by its id); durable when it
    /// returns, which is what makes updates crash-safe.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn save_operation(&self, operation: &Operation) -> Result<(), StoreError>;

    /// Every journaled operation, oldest first.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn operations(&self) -> Result<Vec<Operation>, StoreError>;

    /// Removes a journal record; returns whether it was stored.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError>;

    /// Inserts or replaces an image backup (keyed by its id).
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn save_backup(&self, backup: &Backup) -> Result<(), StoreError>;

    /// Every backup, oldest first.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn backups(&self) -> Result<Vec<Backup>, StoreError>;

    /// Removes a backup; returns whether it was stored.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError>;

    /// Appends an audit entry (keyed by its id).
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// The audit log, oldest first.
    ///
    /// Errors: [`StoreError::Corrupt`] when a stored record cannot be read back,
    /// [`StoreError::Unavailable`] when the store cannot be read; a read never reports
    /// [`StoreError::Full`].
    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError>;

    /// Removes an audit entry; returns whether it was stored.
    ///
    /// Errors: [`StoreError::Full`] when the disk is full (nothing was made durable),
    /// [`StoreError::Unavailable`] when the store cannot be written.
    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError>;

    /// Records that `candidate` was seen at `at`, keeping the earliest time, and returns it.
    ///
    /// Errors: those of a read ([`StoreError::Corrupt`], [`StoreError::Unavailable`]) and of a
    /// write ([`StoreError::Full`]) when the time is new.
    async fn record_first_seen(
        &self,
        candidate: &CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError>;
}

/// An update candidate of one container identity: the tag and digest offered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CandidateKey {
    /// The container identity (`watcher/name`).
    pub identity: String,
    /// The offered tag or digest.
    pub value: String,
}

/// Why a store call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored record cannot be read back.
    #[error("stored record {key} is unreadable: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// The disk holding the store is full: the write was not made durable.
    #[error("the disk holding the store is full: {reason}")]
    Full {
        /// Where, and what the store says.
        reason: String,
    },
    /// The store cannot be written or read (permissions, lock held, an I/O error).
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
}
