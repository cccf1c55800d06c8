use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::model::Container;
use drydock_core::notification::OutboxEntry;
use drydock_core::operation::{AuditEntry, Backup, Operation};
use drydock_core::policy::UpdatePolicy;
use drydock_core::ports::{CandidateKey, Store, StoreError};

use crate::lock;

/// A [`Store`] held in memory: durable for the life of the value only.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    containers: BTreeMap<String, Container>,
    policies: HashMap<String, UpdatePolicy>,
    first_seen: HashMap<CandidateKey, DateTime<Utc>>,
    announced: std::collections::HashSet<String>,
    outbox: BTreeMap<String, OutboxEntry>,
    operations: BTreeMap<String, Operation>,
    backups: BTreeMap<String, Backup>,
    audit: BTreeMap<String, AuditEntry>,
    unavailable: Option<String>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`StoreError::Unavailable`] (a full disk), or heals it with `None`.
    pub fn set_unavailable(&self, reason: Option<&str>) {
        lock(&self.state).unavailable = reason.map(str::to_owned);
    }

    fn check(state: &State) -> Result<(), StoreError> {
        match &state.unavailable {
            Some(reason) => Err(StoreError::Unavailable {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn save_container(&self, container: &Container) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state
            .containers
            .insert(container.id.clone(), container.clone());
        Ok(())
    }

    async fn container(&self, id: &str) -> Result<Option<Container>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.containers.get(id).cloned())
    }

    async fn containers(&self) -> Result<Vec<Container>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.containers.values().cloned().collect())
    }

    async fn remove_container(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.containers.remove(id).is_some())
    }

    async fn policy(&self, identity: &str) -> Result<UpdatePolicy, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.policies.get(identity).cloned().unwrap_or_default())
    }

    async fn save_policy(&self, identity: &str, policy: &UpdatePolicy) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        if policy.is_empty() {
            state.policies.remove(identity);
        } else {
            state.policies.insert(identity.to_owned(), policy.clone());
        }
        Ok(())
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state.outbox.insert(entry.id.clone(), entry.clone());
        Ok(())
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.outbox.values().cloned().collect())
    }

    async fn save_operation(&self, operation: &Operation) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state
            .operations
            .insert(operation.id.clone(), operation.clone());
        Ok(())
    }

    async fn operations(&self) -> Result<Vec<Operation>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.operations.values().cloned().collect())
    }

    async fn remove_operation(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.operations.remove(id).is_some())
    }

    async fn remove_audit(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.audit.remove(id).is_some())
    }

    async fn save_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state.backups.insert(backup.id.clone(), backup.clone());
        Ok(())
    }

    async fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.backups.values().cloned().collect())
    }

    async fn remove_backup(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.backups.remove(id).is_some())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state.audit.insert(entry.id.clone(), entry.clone());
        Ok(())
    }

    async fn audit(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.audit.values().cloned().collect())
    }

    async fn announced(&self, key: &str) -> Result<bool, StoreError> {
        let state = lock(&self.state);
        Self::check(&state)?;
        Ok(state.announced.contains(key))
    }

    async fn record_announced(&self, key: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        state.announced.insert(key.to_owned());
        Ok(())
    }

    async fn record_first_seen(
        &self,
        candidate: &CandidateKey,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let mut state = lock(&self.state);
        Self::check(&state)?;
        let earliest = state.first_seen.entry(candidate.clone()).or_insert(at);
        if at < *earliest {
            *earliest = at;
        }
        Ok(*earliest)
    }
}
