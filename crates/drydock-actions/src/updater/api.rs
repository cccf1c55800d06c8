//! The updater and what it offers: update, rollback, preview, backups, the audit log; the
//! claim that keeps two operations off one container.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::discovery::LabelSettings;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Container, ContainerStatus, KindOfUpdate};
use drydock_core::operation::{Backup, Operation, OperationKind, Phase};
use drydock_core::ports::{
    Action, ActionError, ActionReport, Clock, ContainerRuntime, ContainerSpec, RuntimeError, Store,
    StoreError,
};

use crate::hooks::{Hook, HookPoint};
use crate::settings::{ActionSettings, Automatic};

use super::history::*;

/// Finished operations kept in the journal (the newest).
pub const KEEP_OPERATIONS: usize = 500;

/// Audit entries kept (the newest).
pub const KEEP_AUDIT: usize = 10_000;

/// Encodes the engine credential (`X-Registry-Auth`) for pulling an image, if it needs one.
pub type RegistryAuth = Arc<dyn Fn(&ImageReference) -> Option<String> + Send + Sync>;

/// Why an update, rollback or recovery did not happen as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No such container.
    #[error("container {container} not found")]
    NotFound {
        /// The id or name asked for.
        container: String,
    },
    /// The container has no update to apply.
    #[error("container {container} has no update to apply")]
    NothingToDo {
        /// Container name.
        container: String,
    },
    /// The container is of a kind drydock will not recreate; nothing was touched.
    #[error("container {container} cannot be updated: {reason}")]
    Refused {
        /// The container's name.
        container: String,
        /// Why.
        reason: String,
    },
    /// drydock is shutting down and starts no new update; nothing was touched.
    #[error("container {container}: drydock is shutting down and starts no new update")]
    ShuttingDown {
        /// The container's name.
        container: String,
    },
    /// Another operation on the container is in progress.
    #[error("container {container} is already being updated")]
    Busy {
        /// Container name.
        container: String,
    },
    /// The container has no backup to roll back to.
    #[error("container {container} has no backup{}", id.as_ref().map(|i| format!(" {i}")).unwrap_or_default())]
    NoBackup {
        /// Container name.
        container: String,
        /// The backup asked for, if one was.
        id: Option<String>,
    },
    /// A step failed before anything changed (pull, pre-hook, inspection).
    #[error("container {container}: {step} failed, nothing was changed: {reason}")]
    Failed {
        /// Container name.
        container: String,
        /// The step.
        step: String,
        /// What happened.
        reason: String,
    },
    /// A step failed and the old container was restored.
    #[error("container {container}: {step} failed, rolled back: {reason}")]
    RolledBack {
        /// Container name.
        container: String,
        /// The step.
        step: String,
        /// What happened.
        reason: String,
    },
    /// A step failed and the old container could not be restored; the journal keeps the
    /// operation so the next start-up tries again.
    #[error("container {container}: {step} failed and the rollback failed too: {reason}")]
    Stranded {
        /// Container name.
        container: String,
        /// The step.
        step: String,
        /// What happened.
        reason: String,
    },
    /// The journal could not be written, so nothing was changed.
    #[error("the update journal cannot be written: {0}")]
    Store(#[from] StoreError),
}

/// What an update or rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The journal record, finished.
    pub operation: Operation,
    /// The container that now holds the name.
    pub container_id: String,
    /// The backup taken before the change, if any.
    pub backup: Option<Backup>,
}

/// A dry run: what an update would do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Container name.
    pub container_name: String,
    /// The image it runs.
    pub current_image: String,
    /// The image it would run.
    pub new_image: String,
    /// Whether the new image would be pulled (it is not present locally).
    pub pull: bool,
    /// Whether the container runs (the new one would be started).
    pub is_running: bool,
    /// The configuration carried over, as the engine reports it (field → value), environment
    /// values hidden.
    pub settings: BTreeMap<String, String>,
    /// The networks it is connected to.
    pub networks: Vec<String>,
    /// The hooks that would run (`pre: ...`, `post: ...`).
    pub hooks: Vec<String>,
}

/// Runs container updates and rollbacks over the engine and store ports.
pub struct Updater {
    pub(super) runtime: Arc<dyn ContainerRuntime>,
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: ActionSettings,
    pub(super) auth: Option<RegistryAuth>,
    pub(super) busy: Mutex<HashSet<String>>,
    pub(super) poll: Duration,
    pub(super) draining: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Updater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updater")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Removes a name from the busy set when the operation ends, however it ends.
pub(super) struct BusyGuard<'a> {
    pub(super) set: &'a Mutex<HashSet<String>>,
    pub(super) name: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// A failed step: its name and what happened.
pub(super) struct StepError {
    pub(super) step: &'static str,
    pub(super) reason: String,
}

pub(super) fn step(step: &'static str) -> impl FnOnce(RuntimeError) -> StepError {
    move |e| StepError {
        step,
        reason: e.to_string(),
    }
}

impl Updater {
    /// An updater over these ports.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: ActionSettings,
    ) -> Self {
        Self {
            runtime,
            store,
            clock,
            settings,
            auth: None,
            busy: Mutex::default(),
            poll: Duration::from_millis(250),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Uses `auth` to authenticate pulls.
    #[must_use]
    pub fn with_registry_auth(mut self, auth: RegistryAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Polls health this often (tests shorten it).
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The store it journals to (and where the watcher keeps the containers).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &ActionSettings {
        &self.settings
    }

    pub(super) fn next_id(&self) -> String {
        chronological_id(self.clock.now())
    }

    /// Accepts no new update or rollback from now on ([`UpdateError::ShuttingDown`]); those
    /// running go on. See [`Self::idle`].
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The containers an update or rollback of this updater works on now.
    pub fn running(&self) -> Vec<String> {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Waits until no update or rollback runs, or `limit` passes; returns whether none runs.
    pub async fn idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self
                .busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(self.poll.min(Duration::from_millis(100))).await;
        }
    }

    pub(super) fn claim(&self, name: &str) -> Result<BusyGuard<'_>, UpdateError> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: an update either started before draining began (and is
        // waited for) or is refused.
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(UpdateError::ShuttingDown {
                container: name.to_owned(),
            });
        }
        if !busy.insert(name.to_owned()) {
            return Err(UpdateError::Busy {
                container: name.to_owned(),
            });
        }
        Ok(BusyGuard {
            set: &self.busy,
            name: name.to_owned(),
        })
    }

    pub(super) async fn inspect(&self, id: &str) -> Result<ContainerSpec, UpdateError> {
        self.runtime
            .inspect_container(id)
            .await
            .map_err(|e| match e {
                RuntimeError::NotFound { .. } => UpdateError::NotFound {
                    container: id.to_owned(),
                },
                other => UpdateError::Failed {
                    container: id.to_owned(),
                    step: "inspect".into(),
                    reason: other.to_string(),
                },
            })
    }

    /// The image an update of `container` moves to: the same repository as the container was
    /// created with and the candidate tag, or the same tag again for a digest update.
    ///
    /// # Errors
    ///
    /// [`UpdateError::NothingToDo`] when the container has no update.
    pub fn target_image(container: &Container, current: &str) -> Result<String, UpdateError> {
        let nothing = || UpdateError::NothingToDo {
            container: container.name.clone(),
        };
        // A candidate held back by a skip or snooze can still be applied by hand.
        if !container.update_available && !container.update_kind.is_update() {
            return Err(nothing());
        }
        let result = container.result.as_ref().ok_or_else(nothing)?;
        let reference = ImageReference::parse(current).map_err(|_| nothing())?;
        let target = match container.update_kind.kind {
            KindOfUpdate::Digest => match (reference.digest(), &result.digest) {
                (Some(_), Some(digest)) => reference.with_digest(digest).map_err(|_| nothing())?,
                _ => reference,
            },
            _ => {
                let tag = result.tag.as_deref().ok_or_else(nothing)?;
                reference.with_tag(tag).map_err(|_| nothing())?
            }
        };
        // Keep the user's spelling (`nginx:1.26`, not `docker.io/library/nginx:1.26`).
        let familiar = ImageReference::parse(current).is_ok_and(|r| r.familiar() == current);
        Ok(if familiar {
            target.familiar()
        } else {
            target.to_string()
        })
    }

    /// Applies `container`'s available update; `actor` is recorded in the audit log.
    ///
    /// # Errors
    ///
    /// See [`UpdateError`]; on every error the container runs as before.
    pub async fn update(&self, container: &Container, actor: &str) -> Result<Outcome, UpdateError> {
        let spec = self.inspect(&container.id).await?;
        let target = Self::target_image(container, &spec.image)?;
        let kind = match container.update_kind.kind {
            KindOfUpdate::Digest => "digest".to_owned(),
            _ => container
                .update_kind
                .semver_diff
                .map_or_else(|| "tag".to_owned(), |d| d.as_str().to_owned()),
        };
        // Asked for by hand, beyond what would have been applied automatically: the audit entry
        // says so.
        let note = (actor != "auto")
            .then(|| {
                self.settings.automatic(
                    &LabelSettings::read(&container.labels),
                    container.update_kind.level(),
                )
            })
            .filter(|d| {
                matches!(
                    d,
                    Automatic::BeyondThreshold { .. } | Automatic::UnreadableThreshold(_)
                )
            })
            .map(|d| format!("applied on request beyond {}: {d}", self.settings.id));
        let outcome = self
            .replace(
                spec,
                &target,
                OperationKind::Update,
                actor,
                &kind,
                note.as_deref(),
            )
            .await;
        self.prune_history().await;
        outcome
    }

    /// Moves the container back to a backed-up image: `backup_id`, or the newest backup.
    ///
    /// # Errors
    ///
    /// [`UpdateError::NoBackup`] without a matching backup; otherwise as [`Self::update`].
    pub async fn rollback(
        &self,
        container_id: &str,
        backup_id: Option<&str>,
        actor: &str,
    ) -> Result<Outcome, UpdateError> {
        let spec = self.inspect(container_id).await?;
        let backups = self.backups(&spec.name).await?;
        let backup = match backup_id {
            Some(id) => backups.into_iter().find(|b| b.id == id),
            None => backups.into_iter().next(),
        }
        .ok_or_else(|| UpdateError::NoBackup {
            container: spec.name.clone(),
            id: backup_id.map(str::to_owned),
        })?;
        let target = format!("{}:{}", backup.image_name, backup.image_tag);
        // The retained tag still holds the old image: point the original tag at it again, so the
        // container runs `repo:tag` as before, without a pull.
        if let Some(kept) = &backup.retained_as
            && let Ok(reference) = ImageReference::parse(&target)
            && self.runtime.inspect_image(kept).await.is_ok()
            && let Err(e) = self.runtime.tag_image(kept, &reference).await
        {
            tracing::warn!(backup = %kept, error = %e, "cannot re-tag the backup; pulling instead");
        }
        let outcome = self
            .replace(
                spec,
                &target,
                OperationKind::Rollback,
                actor,
                "rollback",
                None,
            )
            .await;
        self.prune_history().await;
        let mut outcome = outcome?;
        outcome.backup = Some(backup);
        Ok(outcome)
    }

    /// What updating `container` would do, changing nothing.
    ///
    /// # Errors
    ///
    /// As [`Self::update`] for a missing container or update.
    pub async fn preview(&self, container: &Container) -> Result<Preview, UpdateError> {
        let spec = self.inspect(&container.id).await?;
        let target = Self::target_image(container, &spec.image)?;
        let settings = self
            .runtime
            .container_settings(&spec.id)
            .await
            .map_err(|e| UpdateError::Failed {
                container: spec.name.clone(),
                step: "inspect".into(),
                reason: e.to_string(),
            })?;
        let networks = settings
            .keys()
            .filter_map(|k| k.strip_prefix("Networks."))
            .map(str::to_owned)
            .collect();
        let pull = container.update_kind.kind == KindOfUpdate::Digest
            || self.runtime.inspect_image(&target).await.is_err();
        let hooks = [HookPoint::Pre, HookPoint::Post]
            .into_iter()
            .filter(|_| self.settings.hooks_enabled)
            .filter_map(|point| {
                Hook::from_labels(&LabelSettings::read(&spec.labels), point).map(|h| match point {
                    HookPoint::Pre => format!("pre: {}", h.command),
                    HookPoint::Post => format!("post: {}", h.command),
                })
            })
            .collect();
        Ok(Preview {
            container_name: spec.name.clone(),
            current_image: spec.image.clone(),
            new_image: target,
            pull,
            is_running: spec.status == ContainerStatus::Running,
            // Environment values are often passwords: the preview names the variables only.
            settings: drydock_core::operation::masked_settings(&settings),
            networks,
            hooks,
        })
    }

    /// The backups of the container named `name`, newest first.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub async fn backups(&self, name: &str) -> Result<Vec<Backup>, UpdateError> {
        Ok(backups_of(self.store.as_ref(), name).await?)
    }

    /// Appends an audit entry naming this trigger; a failure to write it is logged, never fatal.
    pub async fn audit(&self, entry: AuditDraft<'_>) {
        record_audit(
            self.store.as_ref(),
            self.clock.now(),
            Some(&self.settings.id),
            entry,
        )
        .await;
    }

    /// Records that `op` enters `phase`. Only a record that was written moves `op` on: a failed
    /// write leaves it in the phase the journal holds, so what happens next (a rollback rather
    /// than finishing a commit nobody recorded) matches what a restart would find.
    pub(super) async fn journal(&self, op: &mut Operation, phase: Phase) -> Result<(), StoreError> {
        let mut next = op.clone();
        next.phase = phase;
        next.updated = self.clock.now();
        self.store.save_operation(&next).await?;
        *op = next;
        Ok(())
    }
}

/// The [`Action`] port: applies a container's update, as an automatic update does.
#[async_trait]
impl Action for Updater {
    fn id(&self) -> &str {
        &self.settings.id
    }

    async fn run(&self, container: &Container) -> Result<ActionReport, ActionError> {
        // Automatic updates respect skips, snoozes and maturity, which `update_available` reflects.
        if !container.update_available {
            return Err(ActionError::NothingToDo {
                container: container.name.clone(),
            });
        }
        match self.update(container, "auto").await {
            Ok(outcome) => Ok(ActionReport {
                container_id: outcome.container_id,
                image: outcome.operation.to_image.clone(),
                summary: format!(
                    "{}: {} -> {}",
                    outcome.operation.container_name,
                    outcome.operation.from_image,
                    outcome.operation.to_image
                ),
            }),
            Err(UpdateError::NothingToDo { container }) => {
                Err(ActionError::NothingToDo { container })
            }
            Err(UpdateError::Stranded {
                container,
                step,
                reason,
            }) => Err(ActionError::Stranded {
                container,
                step,
                reason,
            }),
            Err(e) => Err(ActionError::RolledBack {
                container: container.name.clone(),
                step: "update".into(),
                reason: e.to_string(),
            }),
        }
    }
}
