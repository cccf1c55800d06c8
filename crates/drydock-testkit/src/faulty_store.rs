//! A store that forwards to a real one and fails the writes a test picks: a full disk or a
//! failing device at one chosen moment of an update, with the real store behind it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::model::Container;
use drydock_core::notification::OutboxEntry;
use drydock_core::operation::{AuditEntry, Backup, Operation, Phase};
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{CandidateKey, Store, StoreError};

/// Forwards every call to `inner`, except journal writes of the phases in
/// [`FaultyStore::fail_journal_at`] and, once [`FaultyStore::fail_all_writes`] is set, every
/// write: those fail with [`StoreError::Full`] and change nothing.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    failing_phases: Mutex<Vec<Phase>>,
    all_writes: AtomicBool,
}

impl<S: Store> FaultyStore<S> {
    /// A store that fails nothing yet.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            failing_phases: Mutex::new(Vec::new()),
            all_writes: AtomicBool::new(false),
        }
    }

    /// From now on, journal writes of an operation entering `phase` fail, and so does every
    /// write after the first such failure (a disk that filled up stays full).
    pub fn fail_journal_at(&self, phase: Phase) {
        lock(&self.failing_phases).push(phase);
    }

    /// The store behind.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn write(&self) -> Result<(), StoreError> {
        if self.all_writes.load(Ordering::SeqCst) {
            return Err(full());
        }
        Ok(())
    }
}

fn full() -> StoreError {
    StoreError::Full {
        reason: "no space left on device (injected by the test)".into(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl<S: Store> Store for FaultyStore<S> {
    async fn save_container(&self, container: &Container) -> Result<(), StoreError> {
        self.write()?;
        self.inner.save_container(container).await
    }
    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError> {
        self.inner.container(id).await
    }
    async fn containers(&self) -> Result<Vec<Container>, StoreError> {
        self.inner.containers().await
    }
    async fn remove_container(&self, id: &str) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.remove_container(id).await
    }
    async fn policy(&self, identity: &str) -> Result<UpdatePolicy, StoreError> {
        self.inner.policy(identity).await
    }
    async fn save_policy(&self, identity: &str, policy: &UpdatePolicy) -> Result<(), StoreError> {
        self.write()?;
        self.inner.save_policy(identity, policy).await
    }
    async fn announced(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.announced(key).await
    }
    async fn record_announced(&self, key: &str) -> Result<(), StoreError> {
        self.write()?;
        self.inner.record_announced(key).await
    }
    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.write()?;
        self.inner.save_outbox(entry).await
    }
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox().await
    }
    async fn save_operation(&self, operation: &Operation) -> Result<(), StoreError> {
        self.write()?;
        if lock(&self.failing_phases).contains(&operation.phase) {
            self.all_writes.store(true, Ordering::SeqCst);
            return Err(full());
        }
        self.inner.save_operation(operation).await
    }
    async fn operations(&self) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations().await
    }
    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.remove_operation(id).await
    }
    async fn save_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        self.write()?;
        self.inner.save_backup(backup).await
    }
    async fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        self.inner.backups().await
    }
    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.remove_backup(id).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.write()?;
        self.inner.append_audit(entry).await
    }
    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit().await
    }
    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.remove_audit(id).await
    }
    async fn record_first_seen(
        &self,
        candidate: &CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.inner.record_first_seen(candidate, at).await
    }
}
