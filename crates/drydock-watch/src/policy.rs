//! Changing a container's update policy (skip, snooze, clear) and what it means for the update
//! shown now.

use drydock_core::model::Container;
use drydock_core::policy::{PolicyChange, PolicyError};
use drydock_core::ports::StoreError;

use crate::watcher::Watcher;

/// Why a policy change was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyChangeError {
    /// The change does not apply to the container as it is (nothing to skip, say).
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Watcher {
    /// Applies `change` to the policy of `container` (kept under its identity, `watcher/name`, so
    /// it survives the container's recreation), stores it durably, and returns the container as
    /// stored now with the policy applied: `updateAvailable` says whether the update still shows.
    ///
    /// # Errors
    ///
    /// [`PolicyChangeError::Invalid`] when the change does not apply (the policy is unchanged);
    /// [`PolicyChangeError::Store`] when the store fails.
    pub async fn change_policy(
        &self,
        container: &Container,
        change: PolicyChange,
    ) -> Result<Container, PolicyChangeError> {
        let identity = self.identity(&container.name);
        let store = self.store();
        let mut policy = store.policy(&identity).await?;
        policy.apply(change, &container.update_kind, self.now())?;
        // The policy is acknowledged only once it is durable.
        store.save_policy(&identity, &policy).await?;
        // A watch may have stored a newer result meanwhile: apply the policy to what is stored now.
        let mut current = store
            .container(&container.id)
            .await?
            .unwrap_or_else(|| container.clone());
        current.update_policy = policy;
        let kind = current.update_kind.clone();
        self.apply_policy(&mut current, kind, &identity).await?;
        store.save_container(&current).await?;
        Ok(current)
    }
}
