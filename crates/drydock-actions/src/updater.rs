//! The Docker update: pull, back up, park the old container, create the new one with the same
//! configuration, verify it, swap, wait for health, and roll back on any failure. Every step is
//! journaled first, so [`Updater::recover`] can finish or undo it after a crash.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::discovery::LabelSettings;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::{Container, ContainerStatus, KindOfUpdate};
use drydock_core::operation::{
    self, AuditEntry, AuditStatus, Backup, Observed, Operation, OperationKind, Phase, RecoveryStep,
};
use drydock_core::ports::{
    Action, ActionError, ActionReport, Clock, ContainerRuntime, ContainerSpec, Health,
    RuntimeError, Store, StoreError,
};

use crate::hooks::{Hook, HookPoint};
use crate::settings::ActionSettings;

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
    /// The configuration carried over, as the engine reports it (field → value).
    pub settings: BTreeMap<String, String>,
    /// The networks it is connected to.
    pub networks: Vec<String>,
    /// The hooks that would run (`pre: ...`, `post: ...`).
    pub hooks: Vec<String>,
}

/// Runs container updates and rollbacks over the engine and store ports.
pub struct Updater {
    runtime: Arc<dyn ContainerRuntime>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: ActionSettings,
    auth: Option<RegistryAuth>,
    busy: Mutex<HashSet<String>>,
    poll: Duration,
}

impl std::fmt::Debug for Updater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updater")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Removes a name from the busy set when the operation ends, however it ends.
struct BusyGuard<'a> {
    set: &'a Mutex<HashSet<String>>,
    name: String,
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
struct StepError {
    step: &'static str,
    reason: String,
}

fn step(step: &'static str) -> impl FnOnce(RuntimeError) -> StepError {
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

    /// The settings.
    pub fn settings(&self) -> &ActionSettings {
        &self.settings
    }

    fn next_id(&self) -> String {
        chronological_id(self.clock.now())
    }

    fn claim(&self, name: &str) -> Result<BusyGuard<'_>, UpdateError> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
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

    async fn inspect(&self, id: &str) -> Result<ContainerSpec, UpdateError> {
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
        let outcome = self
            .replace(spec, &target, OperationKind::Update, actor, &kind)
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
            .replace(spec, &target, OperationKind::Rollback, actor, "rollback")
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
            settings,
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

    async fn journal(&self, op: &mut Operation, phase: Phase) -> Result<(), StoreError> {
        op.phase = phase;
        op.updated = self.clock.now();
        self.store.save_operation(op).await
    }

    /// The whole replacement, for updates and rollbacks.
    async fn replace(
        &self,
        spec: ContainerSpec,
        target: &str,
        kind: OperationKind,
        actor: &str,
        update_kind: &str,
    ) -> Result<Outcome, UpdateError> {
        let name = spec.name.clone();
        // A parked container belongs to an update in progress (or one a crash interrupted):
        // touching it would lose the user's container.
        if operation::is_parked_name(&name) {
            return Err(UpdateError::Busy { container: name });
        }
        let _guard = self.claim(&name)?;
        if self.store.operations().await?.iter().any(|op| {
            !op.phase.is_terminal() && (op.container_name == name || op.old_id == spec.id)
        }) {
            return Err(UpdateError::Busy { container: name });
        }
        let now = self.clock.now();
        let mut op = Operation::new(
            &self.next_id(),
            &name,
            &spec.id,
            &spec.image,
            target,
            &operation::parked_name(&name, now),
            spec.status == ContainerStatus::Running,
        );
        op.kind = kind;
        op.trigger = self.settings.id.clone();
        op.started = now;
        self.journal(&mut op, Phase::Queued).await?;
        let action = match kind {
            OperationKind::Update => "update",
            OperationKind::Rollback => "rollback",
        };
        let env = hook_env(&spec, target, update_kind);

        // Before anything changes: hooks, pull, backup. A failure here changes nothing.
        let prepared = self.prepare(&spec, target, &env, &mut op).await;
        let backup = match prepared {
            Ok(backup) => backup,
            Err(e) => {
                op.reason = Some(format!("{}: {}", e.step, e.reason));
                self.journal(&mut op, Phase::Failed).await?;
                self.audit(AuditDraft {
                    action: &format!("{action}-failed"),
                    actor,
                    container: &name,
                    from: Some(&spec.image),
                    to: Some(target),
                    status: AuditStatus::Error,
                    details: Some(format!("{}: {}", e.step, e.reason)),
                })
                .await;
                return Err(UpdateError::Failed {
                    container: name,
                    step: e.step.to_owned(),
                    reason: e.reason,
                });
            }
        };
        if self.settings.dry_run {
            op.reason = Some("dry run: pulled only".into());
            self.journal(&mut op, Phase::Succeeded).await?;
            self.audit(AuditDraft {
                action: "update-applied-dryrun",
                actor,
                container: &name,
                from: Some(&spec.image),
                to: Some(target),
                status: AuditStatus::Info,
                details: None,
            })
            .await;
            return Ok(Outcome {
                container_id: spec.id.clone(),
                operation: op,
                backup,
            });
        }

        match self.swap(&spec, target, &mut op).await {
            Ok(new_id) => {
                self.journal(&mut op, Phase::Succeeded).await?;
                self.after_success(&spec, target, &env, actor, action).await;
                Ok(Outcome {
                    container_id: new_id,
                    operation: op,
                    backup,
                })
            }
            Err(failure) => {
                tracing::warn!(container = %name, step = failure.step, reason = %failure.reason, "update failed, rolling back");
                let restored = self.restore(&mut op).await;
                let details = format!("{}: {}", failure.step, failure.reason);
                op.reason = Some(details.clone());
                let status_phase = if restored.is_ok() {
                    Phase::RolledBack
                } else {
                    // Keep the record open: the next start-up tries the recovery again.
                    op.phase
                };
                self.journal(&mut op, status_phase).await?;
                self.audit(AuditDraft {
                    action: &format!("{action}-failed"),
                    actor,
                    container: &name,
                    from: Some(&spec.image),
                    to: Some(target),
                    status: AuditStatus::Error,
                    details: Some(match &restored {
                        Ok(()) => format!("{details}; rolled back"),
                        Err(e) => format!("{details}; rollback failed: {e}"),
                    }),
                })
                .await;
                match restored {
                    Ok(()) => Err(UpdateError::RolledBack {
                        container: name,
                        step: failure.step.to_owned(),
                        reason: failure.reason,
                    }),
                    Err(e) => Err(UpdateError::Stranded {
                        container: name,
                        step: failure.step.to_owned(),
                        reason: format!("{}; rollback: {e}", failure.reason),
                    }),
                }
            }
        }
    }

    /// Pre-hook, pull and backup: nothing the user runs is touched.
    async fn prepare(
        &self,
        spec: &ContainerSpec,
        target: &str,
        env: &BTreeMap<String, String>,
        op: &mut Operation,
    ) -> Result<Option<Backup>, StepError> {
        if self.settings.hooks_enabled
            && let Some(hook) =
                Hook::from_labels(&LabelSettings::read(&spec.labels), HookPoint::Pre)
        {
            match hook.run(env).await {
                Ok(_) => {}
                Err(reason) if hook.abort_on_failure => {
                    return Err(StepError {
                        step: "pre-hook",
                        reason,
                    });
                }
                Err(reason) => {
                    tracing::warn!(container = %spec.name, %reason, "pre-hook failed; continuing as dd.hook.pre.abort=false");
                }
            }
        }
        self.journal(op, Phase::Pulling)
            .await
            .map_err(|e| StepError {
                step: "journal",
                reason: e.to_string(),
            })?;
        let reference = ImageReference::parse(target).map_err(|e| StepError {
            step: "pull",
            reason: e.to_string(),
        })?;
        let local = self.runtime.inspect_image(target).await.is_ok();
        // Digest updates re-pull the same tag; a rollback to a retained local image needs none.
        if !local || op.kind == OperationKind::Update {
            let auth = self.auth.as_ref().and_then(|auth| auth(&reference));
            self.runtime
                .pull_image(&reference, auth.as_deref())
                .await
                .map_err(step("pull"))?;
        }
        if op.kind == OperationKind::Rollback {
            return Ok(None);
        }
        self.back_up(spec).await.map(Some)
    }

    /// Records the old image and tags it so it is not pruned while the backup exists.
    async fn back_up(&self, spec: &ContainerSpec) -> Result<Backup, StepError> {
        let now = self.clock.now();
        let id = self.next_id();
        let reference = ImageReference::parse(&spec.image).ok();
        let (image_name, image_tag) = split_image(&spec.image);
        let image = self.runtime.inspect_image(&spec.image_id).await.ok();
        let digest = image
            .as_ref()
            .and_then(|i| i.repo_digests.first())
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| d.to_owned());
        let mut retained_as = None;
        if let Some(r) = &reference
            && !spec.image_id.is_empty()
            && let Ok(kept) = r.with_tag(&format!("dd-backup-{id}"))
        {
            self.runtime
                .tag_image(&spec.image_id, &kept)
                .await
                .map_err(step("backup"))?;
            retained_as = Some(kept.to_string());
        }
        let backup = Backup {
            id,
            container_id: spec.id.clone(),
            container_name: spec.name.clone(),
            image_name,
            image_tag,
            image_digest: digest,
            retained_as,
            timestamp: now,
            trigger_name: self.settings.id.clone(),
        };
        self.store
            .save_backup(&backup)
            .await
            .map_err(|e| StepError {
                step: "backup",
                reason: e.to_string(),
            })?;
        Ok(backup)
    }

    /// Park the old container, create the new one, check its configuration, swap them and wait
    /// for health. Returns the new container's id; on error the caller restores the old one.
    async fn swap(
        &self,
        spec: &ContainerSpec,
        target: &str,
        op: &mut Operation,
    ) -> Result<String, StepError> {
        let journal = |e: StoreError| StepError {
            step: "journal",
            reason: e.to_string(),
        };
        let before = self
            .runtime
            .container_settings(&spec.id)
            .await
            .map_err(step("inspect"))?;

        self.journal(op, Phase::Renaming).await.map_err(journal)?;
        self.runtime
            .rename_container(&spec.id, &op.parked_name)
            .await
            .map_err(step("rename"))?;

        self.journal(op, Phase::Creating).await.map_err(journal)?;
        let new_spec = ContainerSpec {
            image: target.to_owned(),
            ..spec.clone()
        };
        let new_id = self
            .runtime
            .create_container(&op.container_name, &new_spec)
            .await
            .map_err(step("create"))?;
        op.new_id = Some(new_id.clone());
        self.journal(op, Phase::Created).await.map_err(journal)?;

        // The configuration check runs before any downtime: a container that would come back
        // different never replaces the old one.
        let after = self
            .runtime
            .container_settings(&new_id)
            .await
            .map_err(step("verify"))?;
        let diff = operation::config_diff(&before, &after);
        if !diff.is_empty() {
            let fields: Vec<String> = diff.iter().map(ToString::to_string).collect();
            return Err(StepError {
                step: "verify",
                reason: format!(
                    "the new container's configuration differs: {}",
                    fields.join("; ")
                ),
            });
        }

        if op.was_running {
            self.journal(op, Phase::StoppingOld)
                .await
                .map_err(journal)?;
            self.runtime
                .stop_container(&spec.id, self.settings.stop_timeout)
                .await
                .map_err(step("stop old"))?;
            self.journal(op, Phase::StartingNew)
                .await
                .map_err(journal)?;
            self.runtime
                .start_container(&new_id)
                .await
                .map_err(step("start new"))?;
            self.journal(op, Phase::HealthGate).await.map_err(journal)?;
            self.wait_healthy(&new_id).await?;
        }

        self.journal(op, Phase::Committed).await.map_err(journal)?;
        if let Err(e) = self.runtime.remove_container(&spec.id, true).await {
            // The update stands; the parked container is left for recovery to remove.
            tracing::warn!(container = %op.container_name, error = %e, "cannot remove the old container");
        }
        Ok(new_id)
    }

    /// Waits until the container is healthy (when it has a health check) or has kept running
    /// for the grace period (when it has none).
    async fn wait_healthy(&self, id: &str) -> Result<(), StepError> {
        let started = tokio::time::Instant::now();
        loop {
            let spec = self
                .runtime
                .inspect_container(id)
                .await
                .map_err(step("health check"))?;
            let elapsed = started.elapsed();
            match (spec.status, spec.health) {
                (ContainerStatus::Exited | ContainerStatus::Dead, _) => {
                    return Err(StepError {
                        step: "health check",
                        reason: format!("the new container stopped ({})", spec.status.as_str()),
                    });
                }
                (_, Some(Health::Unhealthy)) => {
                    return Err(StepError {
                        step: "health check",
                        reason: "the new container reports unhealthy".into(),
                    });
                }
                (ContainerStatus::Running, Some(Health::Healthy)) => return Ok(()),
                (ContainerStatus::Running, None) if elapsed >= self.settings.grace => {
                    return Ok(());
                }
                _ => {}
            }
            if elapsed >= self.settings.health_timeout {
                return Err(StepError {
                    step: "health check",
                    reason: format!(
                        "not healthy after {} s",
                        self.settings.health_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Puts the old container back under its name, running if it ran.
    async fn restore(&self, op: &mut Operation) -> Result<(), String> {
        let seen = self.observe(op).await.map_err(|e| e.to_string())?;
        let steps = operation::recovery(op, &seen);
        self.execute(op, &steps).await
    }

    /// What the engine shows of an operation's containers now.
    async fn observe(&self, op: &Operation) -> Result<Observed, RuntimeError> {
        let old = match self.runtime.inspect_container(&op.old_id).await {
            Ok(spec) => Some(spec),
            Err(RuntimeError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let holder = match self.runtime.inspect_container(&op.container_name).await {
            // Docker also matches id prefixes; only an exact name counts.
            Ok(spec) if spec.name == op.container_name => Some(spec.id),
            Ok(_) | Err(RuntimeError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Observed {
            old_running: old
                .as_ref()
                .is_some_and(|s| s.status == ContainerStatus::Running),
            old_name: old.map(|s| s.name),
            holder_of_name: holder,
        })
    }

    async fn execute(&self, op: &Operation, steps: &[RecoveryStep]) -> Result<(), String> {
        for s in steps {
            let result = match s {
                RecoveryStep::RemoveContainer(id) => self.runtime.remove_container(id, true).await,
                RecoveryStep::RenameOld(name) => {
                    self.runtime.rename_container(&op.old_id, name).await
                }
                RecoveryStep::StartOld => self.runtime.start_container(&op.old_id).await,
                RecoveryStep::RemoveOld => self.runtime.remove_container(&op.old_id, true).await,
                RecoveryStep::StartNew(id) => self.runtime.start_container(id).await,
            };
            match result {
                Ok(()) | Err(RuntimeError::NotFound { .. })
                    if matches!(
                        s,
                        RecoveryStep::RemoveContainer(_) | RecoveryStep::RemoveOld
                    ) => {}
                Ok(()) => {}
                Err(e) => return Err(format!("{s:?}: {e}")),
            }
        }
        Ok(())
    }

    /// Finishes every operation a crash interrupted: each container ends under its name, running
    /// the new image if the update was committed and the old one otherwise. Returns the
    /// operations it finished.
    ///
    /// # Errors
    ///
    /// When the store cannot be read, or the engine is unreachable (call again later; nothing
    /// was half-done by this call).
    pub async fn recover(&self) -> Result<Vec<Operation>, UpdateError> {
        let mut finished = Vec::new();
        let mut first_error = None;
        for op in self.store.operations().await? {
            if op.phase.is_terminal() {
                continue;
            }
            // One stuck operation must not hold back the others.
            match self.recover_one(op).await {
                Ok(op) => finished.push(op),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.prune_history().await;
        match first_error {
            Some(e) => Err(e),
            None => Ok(finished),
        }
    }

    /// Forgets the oldest finished operations and audit entries beyond [`KEEP_OPERATIONS`] and
    /// [`KEEP_AUDIT`], so the journal every update reads stays small however long drydock runs.
    /// Unfinished operations are never removed. A store failure is logged: history is not worth
    /// failing an update for.
    async fn prune_history(&self) {
        let result: Result<(), StoreError> = async {
            let finished: Vec<Operation> = self
                .store
                .operations()
                .await?
                .into_iter()
                .filter(|op| op.phase.is_terminal())
                .collect();
            for op in finished
                .iter()
                .take(finished.len().saturating_sub(KEEP_OPERATIONS))
            {
                self.store.remove_operation(&op.id).await?;
            }
            let audit = self.store.audit().await?;
            for entry in audit.iter().take(audit.len().saturating_sub(KEEP_AUDIT)) {
                self.store.remove_audit(&entry.id).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot prune the update history");
        }
    }

    async fn recover_one(&self, mut op: Operation) -> Result<Operation, UpdateError> {
        // The claim ends with the journal's last word: once the operation reads as finished, an
        // update of the container must not be refused as busy while the audit entry is written.
        let (container, phase, what) = {
            let _guard = self.claim(&op.container_name)?;
            let engine = |e: RuntimeError| UpdateError::Stranded {
                container: op.container_name.clone(),
                step: "recovery".into(),
                reason: e.to_string(),
            };
            let container = op.container_name.clone();
            // Engine calls the dead process had sent (a rename, a stop) may still land after the
            // first pass: look again once they have had time to, and correct what they changed.
            let settle = if op.phase >= Phase::StoppingOld {
                self.settings.stop_timeout + self.poll * 4
            } else {
                self.poll * 4
            };
            for pass in 0..2 {
                if pass == 1 {
                    if op.phase < Phase::Renaming {
                        break;
                    }
                    tokio::time::sleep(settle).await;
                }
                let seen = self.observe(&op).await.map_err(engine)?;
                let steps = operation::recovery(&op, &seen);
                if let Err(reason) = self.execute(&op, &steps).await {
                    tracing::error!(%container, %reason, "recovery of an interrupted update failed; will retry");
                    return Err(UpdateError::Stranded {
                        container,
                        step: "recovery".into(),
                        reason,
                    });
                }
            }
            let now = self.observe(&op).await.map_err(|e| UpdateError::Stranded {
                container: container.clone(),
                step: "recovery".into(),
                reason: e.to_string(),
            })?;
            let (phase, what) = match now.holder_of_name {
                _ if op.phase < Phase::Renaming => (Phase::Failed, "interrupted before any change"),
                Some(holder) if holder == op.old_id => (
                    Phase::RolledBack,
                    "interrupted; the old container was restored",
                ),
                Some(_) => (Phase::Succeeded, "interrupted after the commit; finished"),
                None => (Phase::Failed, "interrupted; no container holds the name"),
            };
            op.reason = Some(what.to_owned());
            self.journal(&mut op, phase).await?;
            (container, phase, what)
        };
        tracing::info!(%container, phase = phase.as_str(), "recovered an interrupted update");
        self.audit(AuditDraft {
            action: "update-recovered",
            actor: "drydock",
            container: &container,
            from: Some(&op.from_image),
            to: Some(&op.to_image),
            status: if phase == Phase::Failed {
                AuditStatus::Error
            } else {
                AuditStatus::Info
            },
            details: Some(what.to_owned()),
        })
        .await;
        Ok(op)
    }

    async fn after_success(
        &self,
        spec: &ContainerSpec,
        target: &str,
        env: &BTreeMap<String, String>,
        actor: &str,
        action: &str,
    ) {
        self.audit(AuditDraft {
            action: if action == "update" {
                "update-applied"
            } else {
                "rollback"
            },
            actor,
            container: &spec.name,
            from: Some(&spec.image),
            to: Some(target),
            status: AuditStatus::Success,
            details: None,
        })
        .await;
        if self.settings.hooks_enabled
            && let Some(hook) =
                Hook::from_labels(&LabelSettings::read(&spec.labels), HookPoint::Post)
        {
            let (status, details) = match hook.run(env).await {
                Ok(out) => (AuditStatus::Success, out),
                Err(reason) => (AuditStatus::Error, reason),
            };
            self.audit(AuditDraft {
                action: if status == AuditStatus::Success {
                    "hook-post-success"
                } else {
                    "hook-post-failed"
                },
                actor,
                container: &spec.name,
                from: None,
                to: None,
                status,
                details: Some(details),
            })
            .await;
        }
        if let Some(options) = &self.settings.compose {
            let stamp = self.clock.now().timestamp_millis().to_string();
            // The container runs the new image either way; a file that cannot be patched is
            // reported, not a reason to undo the update.
            let (status, details) = match crate::compose::patch_compose_file(
                &spec.labels,
                options,
                target,
                &stamp,
            )
            .await
            {
                Ok(patch) => (
                    AuditStatus::Success,
                    format!("{} line {}", patch.file.display(), patch.line),
                ),
                Err(e) => {
                    tracing::warn!(container = %spec.name, error = %e, "compose file not updated");
                    (AuditStatus::Error, e.to_string())
                }
            };
            self.audit(AuditDraft {
                action: "compose-file-updated",
                actor,
                container: &spec.name,
                from: Some(&spec.image),
                to: Some(target),
                status,
                details: Some(details),
            })
            .await;
        }
        self.prune_backups(&spec.name).await;
        if self.settings.prune && action == "update" && spec.image != target {
            // The engine refuses to remove an image a container still uses; that is fine.
            if let Err(e) = self.runtime.remove_image(&spec.image).await {
                tracing::debug!(image = %spec.image, error = %e, "old image not pruned");
            }
        }
    }

    /// Keeps the newest `BACKUPCOUNT` backups of a container and untags the others.
    async fn prune_backups(&self, name: &str) {
        let Ok(backups) = self.backups(name).await else {
            return;
        };
        for old in backups.iter().skip(self.settings.backup_count) {
            if let Some(kept) = &old.retained_as
                && let Err(e) = self.runtime.remove_image(kept).await
            {
                tracing::debug!(image = %kept, error = %e, "backup tag not removed");
            }
            if let Err(e) = self.store.remove_backup(&old.id).await {
                tracing::warn!(backup = %old.id, error = %e, "cannot forget an old backup");
            }
        }
    }
}

/// A unique id that sorts in time order: epoch milliseconds and a per-process sequence.
fn chronological_id(now: DateTime<Utc>) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{:013}-{:06}", now.timestamp_millis(), n % 1_000_000)
}

/// The backups of the container named `name`, newest first.
///
/// # Errors
///
/// When the store cannot be read.
pub async fn backups_of(store: &dyn Store, name: &str) -> Result<Vec<Backup>, StoreError> {
    let mut backups: Vec<Backup> = store
        .backups()
        .await?
        .into_iter()
        .filter(|b| b.container_name == name)
        .collect();
    backups.reverse();
    Ok(backups)
}

/// Appends an audit entry taken at `at` by `trigger` (if any); a failure to write it is logged,
/// never fatal: the action itself already happened.
pub async fn record_audit(
    store: &dyn Store,
    at: DateTime<Utc>,
    trigger: Option<&str>,
    entry: AuditDraft<'_>,
) {
    let record = AuditEntry {
        id: chronological_id(at),
        timestamp: at,
        action: entry.action.to_owned(),
        actor: entry.actor.to_owned(),
        container_name: entry.container.to_owned(),
        from_version: entry.from.map(str::to_owned),
        to_version: entry.to.map(str::to_owned),
        trigger_name: trigger.map(str::to_owned),
        status: entry.status,
        details: entry.details,
    };
    if let Err(e) = store.append_audit(&record).await {
        tracing::error!(error = %e, action = entry.action, "cannot write the audit log");
    }
}

/// An audit entry before it gets an id and a time.
#[derive(Debug)]
pub struct AuditDraft<'a> {
    /// What (`update-applied`, `container-stop`, ...).
    pub action: &'a str,
    /// Who.
    pub actor: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// The image before.
    pub from: Option<&'a str>,
    /// The image after.
    pub to: Option<&'a str>,
    /// How it ended.
    pub status: AuditStatus,
    /// Why.
    pub details: Option<String>,
}

/// The environment hooks see.
fn hook_env(spec: &ContainerSpec, target: &str, kind: &str) -> BTreeMap<String, String> {
    let (name, tag) = split_image(&spec.image);
    BTreeMap::from([
        ("DD_CONTAINER_NAME".to_owned(), spec.name.clone()),
        ("DD_CONTAINER_ID".to_owned(), spec.id.clone()),
        ("DD_IMAGE_NAME".to_owned(), name),
        ("DD_IMAGE_TAG".to_owned(), tag),
        ("DD_UPDATE_KIND".to_owned(), kind.to_owned()),
        ("DD_UPDATE_FROM".to_owned(), spec.image.clone()),
        ("DD_UPDATE_TO".to_owned(), target.to_owned()),
    ])
}

/// `repo:tag` → (`repo`, `tag`), keeping a registry port in the name.
fn split_image(image: &str) -> (String, String) {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (without_digest.to_owned(), "latest".to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_images() {
        assert_eq!(
            split_image("127.0.0.1:5000/app:1.0"),
            ("127.0.0.1:5000/app".into(), "1.0".into())
        );
        assert_eq!(
            split_image("127.0.0.1:5000/app"),
            ("127.0.0.1:5000/app".into(), "latest".into())
        );
        assert_eq!(
            split_image("nginx@sha256:00"),
            ("nginx".into(), "latest".into())
        );
    }
}
