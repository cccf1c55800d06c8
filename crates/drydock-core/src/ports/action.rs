//! The [`Action`] port: something that changes a container, such as the Docker update.

use async_trait::async_trait;

use crate::model::Container;

/// An action trigger: something that changes a container (the Docker update, Docker Compose).
#[async_trait]
pub trait Action: Send + Sync {
    /// The trigger id, `{type}.{name}` (`docker.local`).
    ///
    /// Errors: none.
    fn id(&self) -> &str;

    /// Applies the container's available update. On failure the container must be left as it was
    /// (rolled back), and the error says why.
    ///
    /// Errors: [`ActionError::NothingToDo`] when the container has no update (nothing changed),
    /// [`ActionError::RolledBack`] when a step failed and the container is as it was,
    /// [`ActionError::Stranded`] when a step failed and it could not be restored: only then may the
    /// container differ from before the call.
    async fn run(&self, container: &Container) -> Result<ActionReport, ActionError>;
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionReport {
    /// The container after the action (its new id after a recreate).
    pub container_id: String,
    /// The image reference it runs now.
    pub image: String,
    /// A short account for the audit log.
    pub summary: String,
}

/// Why an action failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// There is nothing to do (no update available).
    #[error("{container}: no update to apply")]
    NothingToDo {
        /// Container name.
        container: String,
    },
    /// The action failed and the container was restored.
    #[error("{container}: {step} failed, rolled back: {reason}")]
    RolledBack {
        /// Container name.
        container: String,
        /// The step that failed (`pull`, `health check`).
        step: String,
        /// What happened.
        reason: String,
    },
    /// The action failed and the container could not be restored: a person must look.
    #[error("{container}: {step} failed and rollback failed: {reason}")]
    Stranded {
        /// Container name.
        container: String,
        /// The step that failed.
        step: String,
        /// What happened.
        reason: String,
    },
}
