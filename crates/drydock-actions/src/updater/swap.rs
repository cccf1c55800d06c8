//! The forward update: pull and back up, park the old container, create the new one with the
//! same configuration, verify it, swap, wait for health, then clean up and prune.

use std::collections::BTreeMap;

use drydock_core::discovery::LabelSettings;
use drydock_core::image_ref::ImageReference;
use drydock_core::model::ContainerStatus;
use drydock_core::operation::{self, AuditStatus, Backup, Operation, OperationKind, Phase};
use drydock_core::ports::{ContainerSpec, Health, StoreError};

use crate::hooks::{Hook, HookPoint};

use super::api::*;
use super::history::*;

impl Updater {
    /// The whole replacement, for updates and rollbacks.
    pub(super) async fn replace(
        &self,
        spec: ContainerSpec,
        target: &str,
        kind: OperationKind,
        actor: &str,
        update_kind: &str,
        note: Option<&str>,
    ) -> Result<Outcome, UpdateError> {
        let name = spec.name.clone();
        // The update's own stop step would make the engine destroy an auto-remove container,
        // leaving nothing to roll back to: refused before anything is touched.
        if spec.auto_remove {
            return Err(UpdateError::Refused {
                container: name,
                reason: "it was started with --rm (HostConfig.AutoRemove): stopping it would destroy it, leaving nothing to roll back to; recreate it without --rm to let drydock update it".into(),
            });
        }
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
                // Committed is recorded: the update stands whether or not this last word is
                // written (the next start-up's recovery finishes a committed record).
                if let Err(e) = self.journal(&mut op, Phase::Succeeded).await {
                    tracing::error!(container = %name, error = %e, "the update succeeded but the journal could not record it");
                }
                self.after_success(&spec, target, &env, actor, action, note)
                    .await;
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
                // The answer says what the engine shows, whether or not the journal can record
                // it (a full disk): an open record is finished by the next start-up's recovery.
                let unrecorded = self.journal(&mut op, status_phase).await.err();
                let failure = match unrecorded {
                    Some(e) => StepError {
                        reason: format!(
                            "{}; the journal could not record the outcome: {e}",
                            failure.reason
                        ),
                        ..failure
                    },
                    None => failure,
                };
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
    pub(super) async fn prepare(
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
    pub(super) async fn back_up(&self, spec: &ContainerSpec) -> Result<Backup, StepError> {
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
    pub(super) async fn swap(
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
        // The label tells recovery this container is the operation's own, even if a crash comes
        // before its id is journaled.
        let mut labels = spec.labels.clone();
        labels.insert(operation::OPERATION_LABEL.to_owned(), op.id.clone());
        let new_spec = ContainerSpec {
            image: target.to_owned(),
            labels,
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
    pub(super) async fn wait_healthy(&self, id: &str) -> Result<(), StepError> {
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

    pub(super) async fn after_success(
        &self,
        spec: &ContainerSpec,
        target: &str,
        env: &BTreeMap<String, String>,
        actor: &str,
        action: &str,
        note: Option<&str>,
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
            details: note.map(str::to_owned),
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

    /// Forgets the oldest finished operations and audit entries beyond [`KEEP_OPERATIONS`] and
    /// [`KEEP_AUDIT`], so the journal every update reads stays small however long drydock runs.
    /// Unfinished operations are never removed. A store failure is logged: history is not worth
    /// failing an update for.
    pub(super) async fn prune_history(&self) {
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

    /// Keeps the newest `BACKUPCOUNT` backups of a container and untags the others.
    pub(super) async fn prune_backups(&self, name: &str) {
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

/// The environment hooks see.
pub(super) fn hook_env(spec: &ContainerSpec, target: &str, kind: &str) -> BTreeMap<String, String> {
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
pub(super) fn split_image(image: &str) -> (String, String) {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (without_digest.to_owned(), "latest".to_owned()),
    }
}
