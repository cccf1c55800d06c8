//! Finishing or undoing an operation from what the engine shows: after a failed step, and at
//! start-up for every unfinished journal record.

use drydock_core::model::ContainerStatus;
use drydock_core::operation::{self, AuditStatus, Observed, Operation, Phase, RecoveryStep};
use drydock_core::ports::RuntimeError;

use super::api::*;
use super::history::*;

impl Updater {
    /// Puts the old container back under its name, running if it ran.
    pub(super) async fn restore(&self, op: &mut Operation) -> Result<(), String> {
        let seen = self.observe(op).await.map_err(|e| e.to_string())?;
        let steps = operation::recovery(op, &seen);
        self.execute(op, &steps).await
    }

    /// What the engine shows of an operation's containers now.
    pub(super) async fn observe(&self, op: &Operation) -> Result<Observed, RuntimeError> {
        let old = match self.runtime.inspect_container(&op.old_id).await {
            Ok(spec) => Some(spec),
            Err(RuntimeError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let holder = match self.runtime.inspect_container(&op.container_name).await {
            // Docker also matches id prefixes; only an exact name counts.
            Ok(spec) if spec.name == op.container_name => Some(spec),
            Ok(_) | Err(RuntimeError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Observed {
            old_running: old
                .as_ref()
                .is_some_and(|s| s.status == ContainerStatus::Running),
            old_name: old.map(|s| s.name),
            holder_operation: holder
                .as_ref()
                .and_then(|h| h.labels.get(operation::OPERATION_LABEL).cloned()),
            holder_of_name: holder.map(|h| h.id),
        })
    }

    pub(super) async fn execute(
        &self,
        op: &Operation,
        steps: &[RecoveryStep],
    ) -> Result<(), String> {
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

    pub(super) async fn recover_one(&self, mut op: Operation) -> Result<Operation, UpdateError> {
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
                if let Some(holder) = seen
                    .holder_of_name
                    .as_ref()
                    .filter(|h| **h != op.old_id && seen.new_container_of(&op).is_none())
                {
                    return Err(foreign_holder(&op, holder));
                }
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
            let ours = now.new_container_of(&op).is_some();
            let (phase, what) = match &now.holder_of_name {
                _ if op.phase < Phase::Renaming => (Phase::Failed, "interrupted before any change"),
                Some(holder) if *holder == op.old_id => (
                    Phase::RolledBack,
                    "interrupted; the old container was restored",
                ),
                Some(_) if ours => (Phase::Succeeded, "interrupted after the commit; finished"),
                Some(holder) => return Err(foreign_holder(&op, holder)),
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
}

/// A container drydock did not create holds the operation's name: recovery touches neither it
/// nor the old container, and says so.
fn foreign_holder(op: &Operation, holder: &str) -> UpdateError {
    tracing::error!(container = %op.container_name, %holder, parked = %op.parked_name, "a container drydock did not create holds the name of an interrupted update; left untouched");
    UpdateError::Stranded {
        container: op.container_name.clone(),
        step: "recovery".into(),
        reason: format!(
            "container {holder}, which drydock did not create, holds the name; left untouched (the old container is {})",
            op.parked_name
        ),
    }
}
