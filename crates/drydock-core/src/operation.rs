//! Container updates as journaled operations: the steps, the journal record, backups, audit
//! entries, the configuration check and the recovery decision.
//!
//! An update replaces a container by a new one: rename the old, create the new under the old
//! name, stop the old, start the new, wait for health, check the configuration carried over, and
//! only then remove the old. Each step is written to the store's journal *before* it is taken, so
//! a crash at any moment leaves a record of where the operation stood. [`recovery`] turns that
//! record and what the engine shows now into the steps that leave exactly one container under the
//! original name: the new one if the update was committed, else the old one.
//!
//! ```
//! use drydock_core::operation::{recovery, Observed, Operation, Phase, RecoveryStep};
//!
//! let mut op = Operation::new("op1", "web", "old-id", "nginx:1.25", "nginx:1.26", "web-old-1", true);
//! op.phase = Phase::Created;
//! op.new_id = Some("new-id".into());
//! // drydock died after creating the new container: the old one is renamed and stopped.
//! // The holder of the name is the journaled new container, so it is the operation's own.
//! let seen = Observed {
//!     old_name: Some("web-old-1".into()),
//!     holder_of_name: Some("new-id".into()),
//!     holder_operation: None,
//!     old_running: false,
//! };
//! assert_eq!(
//!     recovery(&op, &seen),
//!     vec![
//!         RecoveryStep::RemoveContainer("new-id".into()),
//!         RecoveryStep::RenameOld("web".into()),
//!         RecoveryStep::StartOld,
//!     ]
//! );
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Where an update stands. The journal records the phase *about to be entered* before acting,
/// so after a crash the step of the recorded phase may or may not have happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Phase {
    /// Accepted; nothing changed yet.
    Queued,
    /// Pulling the new image (the container is untouched).
    Pulling,
    /// Renaming the old container out of the way.
    Renaming,
    /// Creating the new container under the original name.
    Creating,
    /// The new container exists (its id is in the record).
    Created,
    /// Stopping the old container.
    StoppingOld,
    /// Starting the new container.
    StartingNew,
    /// Waiting for the new container's health and checking its configuration.
    HealthGate,
    /// The new container passed: from here on, recovery keeps it.
    Committed,
    /// Done: the new container runs and the old one is gone.
    Succeeded,
    /// Failed and restored: the old container runs as before.
    RolledBack,
    /// Failed before anything changed (pull, pre-hook), or could not be restored.
    Failed,
}

impl Phase {
    /// Whether the operation is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::RolledBack | Self::Failed)
    }

    /// The API name (`health-gate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pulling => "pulling",
            Self::Renaming => "renaming",
            Self::Creating => "creating",
            Self::Created => "created",
            Self::StoppingOld => "stopping-old",
            Self::StartingNew => "starting-new",
            Self::HealthGate => "health-gate",
            Self::Committed => "committed",
            Self::Succeeded => "succeeded",
            Self::RolledBack => "rolled-back",
            Self::Failed => "failed",
        }
    }
}

/// The kind of change an operation makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum OperationKind {
    /// Move to the update candidate.
    Update,
    /// Move back to a backed-up image.
    Rollback,
}

/// One journaled container replacement.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Operation {
    /// Unique and chronological.
    pub id: String,
    /// Update or rollback.
    pub kind: OperationKind,
    /// The container's name, which the surviving container keeps.
    pub container_name: String,
    /// The old container's id.
    pub old_id: String,
    /// The new container's id, once created.
    pub new_id: Option<String>,
    /// The image the old container runs.
    pub from_image: String,
    /// The image the new container runs.
    pub to_image: String,
    /// The name the old container is parked under while the new one is tried.
    pub parked_name: String,
    /// Whether the old container was running (the survivor is left running if so).
    pub was_running: bool,
    /// Where it stands.
    pub phase: Phase,
    /// Why it failed or was rolled back.
    pub reason: Option<String>,
    /// The action trigger that runs it (`docker.local`).
    pub trigger: String,
    /// When it was accepted.
    pub started: DateTime<Utc>,
    /// When it last changed.
    pub updated: DateTime<Utc>,
}

impl Operation {
    /// A queued update of container `old_id` (named `name`) from `from` to `to`; the old container
    /// will be parked as `parked`.
    pub fn new(
        id: &str,
        name: &str,
        old_id: &str,
        from: &str,
        to: &str,
        parked: &str,
        was_running: bool,
    ) -> Self {
        Self {
            id: id.to_owned(),
            kind: OperationKind::Update,
            container_name: name.to_owned(),
            old_id: old_id.to_owned(),
            new_id: None,
            from_image: from.to_owned(),
            to_image: to.to_owned(),
            parked_name: parked.to_owned(),
            was_running,
            phase: Phase::Queued,
            reason: None,
            trigger: String::new(),
            started: DateTime::<Utc>::UNIX_EPOCH,
            updated: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

/// The name an old container is parked under during an update: `{name}-old-{epoch ms}`, the
/// reference's spelling, which the API recognises and hides.
pub fn parked_name(name: &str, at: DateTime<Utc>) -> String {
    format!("{name}-old-{}", at.timestamp_millis())
}

/// Whether `name` is a container parked by an update in progress (`web-old-1700000000000`).
pub fn is_parked_name(name: &str) -> bool {
    name.rsplit_once("-old-").is_some_and(|(base, stamp)| {
        !base.is_empty() && stamp.len() >= 10 && stamp.bytes().all(|b| b.is_ascii_digit())
    })
}

/// What the engine shows of an interrupted operation's containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The old container's current name, `None` when it no longer exists.
    pub old_name: Option<String>,
    /// The id of the container that holds the original name now, if any.
    pub holder_of_name: Option<String>,
    /// That holder's [`OPERATION_LABEL`], if it has one.
    pub holder_operation: Option<String>,
    /// Whether the old container runs.
    pub old_running: bool,
}

/// The label drydock sets on the container it creates for an operation, to the operation's id:
/// recovery removes or keeps a container holding the name only when it is that one (by the
/// journaled id, or by this label when a crash came before the id was journaled), never one
/// someone else created.
pub const OPERATION_LABEL: &str = "dd.update.operation";

impl Observed {
    /// The holder of the name when it is the container drydock created for `op`.
    pub fn new_container_of(&self, op: &Operation) -> Option<&String> {
        self.holder_of_name.as_ref().filter(|holder| {
            **holder != op.old_id
                && (op.new_id.as_ref() == Some(*holder)
                    || self.holder_operation.as_deref() == Some(op.id.as_str()))
        })
    }
}

/// One step of recovering an interrupted operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryStep {
    /// Remove this container (the new one of a failed update), forcefully.
    RemoveContainer(String),
    /// Give the old container this name back.
    RenameOld(String),
    /// Start the old container.
    StartOld,
    /// Remove the old container (the update was committed).
    RemoveOld,
    /// Start the new container, by id.
    StartNew(String),
}

/// The steps that finish an interrupted operation, given what the engine shows now.
///
/// Before [`Phase::Committed`] the old container is restored: the container drydock created for
/// the operation is removed if it holds the name ([`Observed::new_container_of`]; a container
/// someone else created is never touched, and the rename back then fails, leaving the operation
/// to the operator), the old one gets its name back and runs again if it ran before. From `Committed` on, the
/// new container is kept and the old one removed. If the old container is gone before the commit
/// (removed by someone else), the new one is kept rather than leaving nothing.
pub fn recovery(op: &Operation, seen: &Observed) -> Vec<RecoveryStep> {
    let mut steps = Vec::new();
    let holder_is_new = seen.new_container_of(op);
    if op.phase.is_terminal() {
        return steps;
    }
    let keep_new = op.phase >= Phase::Committed || seen.old_name.is_none();
    if keep_new {
        if let Some(new_id) = holder_is_new {
            if seen.old_name.is_some() {
                steps.push(RecoveryStep::RemoveOld);
            }
            if op.was_running {
                steps.push(RecoveryStep::StartNew(new_id.clone()));
            }
            return steps;
        }
        // The new container is missing: fall through and restore the old one if it exists.
        if seen.old_name.is_none() {
            return steps;
        }
    }
    if let Some(new_id) = holder_is_new {
        steps.push(RecoveryStep::RemoveContainer(new_id.clone()));
    }
    if seen.old_name.as_deref() != Some(op.container_name.as_str()) {
        steps.push(RecoveryStep::RenameOld(op.container_name.clone()));
    }
    if op.was_running && !seen.old_running {
        steps.push(RecoveryStep::StartOld);
    }
    steps
}

/// The prefix of the settings fields that hold one environment variable each
/// (`Config.Env.DB_PASSWORD`): their values are often secrets and are never shown.
pub const ENV_FIELD_PREFIX: &str = "Config.Env.";

/// What is shown instead of a hidden value.
pub const HIDDEN: &str = "(hidden)";

/// Settings as they may be shown (a preview, an error): environment values replaced by
/// [`HIDDEN`], the variable names kept.
pub fn masked_settings(settings: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    settings
        .iter()
        .map(|(field, value)| {
            let value = if field.starts_with(ENV_FIELD_PREFIX) {
                HIDDEN.to_owned()
            } else {
                value.clone()
            };
            (field.clone(), value)
        })
        .collect()
}

/// The configuration fields that differ between two containers' settings, image aside.
///
/// `before` and `after` map a field path (`HostConfig.Binds`) to a canonical value, as
/// [`crate::ports::ContainerRuntime::container_settings`] returns them. The result names each
/// differing field with both values, in field order; an environment variable's values are
/// [`HIDDEN`] (it names the variable, never what it holds), since the diff reaches the journal,
/// the audit log, API answers and the log.
pub fn config_diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !is_image_field(k))
        .filter_map(|k| {
            let old = before.get(k);
            let new = after.get(k);
            let shown = |v: Option<&String>| {
                v.map(|v| {
                    if k.starts_with(ENV_FIELD_PREFIX) {
                        HIDDEN.to_owned()
                    } else {
                        v.clone()
                    }
                })
            };
            (old != new).then(|| FieldChange {
                field: k.clone(),
                before: shown(old),
                after: shown(new),
            })
        })
        .collect()
}

fn is_image_field(field: &str) -> bool {
    field == "Image" || field == "Config.Image"
}

/// One configuration field that changed across a recreation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FieldChange {
    /// The field path.
    pub field: String,
    /// Its value before, if set.
    pub before: Option<String>,
    /// Its value after, if set.
    pub after: Option<String>,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_owned());
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// A backed-up image a container ran before an update, in the Container API's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Backup {
    /// Unique and chronological.
    pub id: String,
    /// The container's id at the time of the backup.
    pub container_id: String,
    /// The container's name (backups follow the name across recreations).
    pub container_name: String,
    /// The image repository (`homeassistant/home-assistant`).
    pub image_name: String,
    /// The image tag it ran.
    pub image_tag: String,
    /// The registry digest it ran, if known.
    pub image_digest: Option<String>,
    /// The local tag that keeps the image from being pruned (`repo:dd-backup-…`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub retained_as: Option<String>,
    /// When it was taken.
    pub timestamp: DateTime<Utc>,
    /// The action trigger that took it (`docker.local`).
    pub trigger_name: String,
}

/// The outcome of an audited action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum AuditStatus {
    /// It worked.
    Success,
    /// It failed.
    Error,
    /// Informational.
    Info,
}

/// One line of the audit log: who did what to which container, from what to what, and how it
/// ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct AuditEntry {
    /// Unique and chronological.
    pub id: String,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// What (`update-applied`, `update-failed`, `rollback`, `container-stop`, ...).
    pub action: String,
    /// Who: the authenticated user, `api` without auth, or `auto` for automatic updates.
    pub actor: String,
    /// The container's name.
    pub container_name: String,
    /// The image before, if it changed.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub from_version: Option<String>,
    /// The image after, if it changed.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub to_version: Option<String>,
    /// The trigger involved.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub trigger_name: Option<String>,
    /// How it ended.
    pub status: AuditStatus,
    /// Why, for failures.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub details: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(phase: Phase) -> Operation {
        let mut op = Operation::new("1", "web", "old", "a:1", "a:2", "web-old-1", true);
        op.phase = phase;
        op
    }

    fn seen(old_name: Option<&str>, holder: Option<&str>, running: bool) -> Observed {
        Observed {
            old_name: old_name.map(str::to_owned),
            holder_of_name: holder.map(str::to_owned),
            // In these tests the holder that is not the old container is drydock's own.
            holder_operation: holder.filter(|h| *h != "old").map(|_| "1".to_owned()),
            old_running: running,
        }
    }

    #[test]
    fn a_container_drydock_did_not_create_is_never_removed() {
        for phase in [
            Phase::Creating,
            Phase::Created,
            Phase::HealthGate,
            Phase::Committed,
        ] {
            let mut foreign = seen(Some("web-old-1"), Some("theirs"), false);
            foreign.holder_operation = None;
            let steps = recovery(&op(phase), &foreign);
            assert!(
                !steps.iter().any(|s| matches!(
                    s,
                    RecoveryStep::RemoveContainer(_)
                        | RecoveryStep::StartNew(_)
                        | RecoveryStep::RemoveOld
                )),
                "{phase:?}: {steps:?}"
            );
            // Another operation's label is not this one's.
            foreign.holder_operation = Some("2".into());
            let steps = recovery(&op(phase), &foreign);
            assert!(
                !steps
                    .iter()
                    .any(|s| matches!(s, RecoveryStep::RemoveContainer(_))),
                "{phase:?}: {steps:?}"
            );
        }
        // The journaled id is enough without the label.
        let mut journaled = op(Phase::HealthGate);
        journaled.new_id = Some("new".into());
        let mut holder = seen(Some("web-old-1"), Some("new"), false);
        holder.holder_operation = None;
        assert_eq!(
            recovery(&journaled, &holder)[0],
            RecoveryStep::RemoveContainer("new".into())
        );
    }

    #[test]
    fn nothing_happened_yet_needs_nothing() {
        let steps = recovery(&op(Phase::Pulling), &seen(Some("web"), Some("old"), true));
        assert!(steps.is_empty());
    }

    #[test]
    fn crash_after_rename_renames_back() {
        let steps = recovery(&op(Phase::Renaming), &seen(Some("web-old-1"), None, true));
        assert_eq!(steps, vec![RecoveryStep::RenameOld("web".into())]);
    }

    #[test]
    fn crash_after_stopping_old_removes_new_and_restarts_old() {
        let steps = recovery(
            &op(Phase::StartingNew),
            &seen(Some("web-old-1"), Some("new"), false),
        );
        assert_eq!(
            steps,
            vec![
                RecoveryStep::RemoveContainer("new".into()),
                RecoveryStep::RenameOld("web".into()),
                RecoveryStep::StartOld
            ]
        );
    }

    #[test]
    fn committed_keeps_new() {
        let steps = recovery(
            &op(Phase::Committed),
            &seen(Some("web-old-1"), Some("new"), false),
        );
        assert_eq!(
            steps,
            vec![
                RecoveryStep::RemoveOld,
                RecoveryStep::StartNew("new".into())
            ]
        );
    }

    #[test]
    fn committed_but_old_already_gone_only_starts_new() {
        let steps = recovery(&op(Phase::Committed), &seen(None, Some("new"), false));
        assert_eq!(steps, vec![RecoveryStep::StartNew("new".into())]);
    }

    #[test]
    fn committed_but_new_missing_restores_old() {
        let steps = recovery(&op(Phase::Committed), &seen(Some("web-old-1"), None, false));
        assert_eq!(
            steps,
            vec![
                RecoveryStep::RenameOld("web".into()),
                RecoveryStep::StartOld
            ]
        );
    }

    #[test]
    fn never_removes_the_only_container() {
        for phase in [Phase::Creating, Phase::Created, Phase::HealthGate] {
            let steps = recovery(&op(phase), &seen(None, Some("new"), false));
            assert!(
                !steps
                    .iter()
                    .any(|s| matches!(s, RecoveryStep::RemoveContainer(_))),
                "{phase:?}: {steps:?}"
            );
        }
    }

    #[test]
    fn terminal_operations_need_nothing() {
        for phase in [Phase::Succeeded, Phase::RolledBack, Phase::Failed] {
            assert!(recovery(&op(phase), &seen(Some("web-old-1"), Some("x"), false)).is_empty());
        }
    }

    #[test]
    fn parked_names() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let name = parked_name("web", at);
        assert_eq!(name, "web-old-1700000000000");
        assert!(is_parked_name(&name));
        assert!(!is_parked_name("web-old-data"));
        assert!(!is_parked_name("-old-1700000000000"));
        assert!(!is_parked_name("web"));
    }

    #[test]
    fn environment_values_never_appear_in_a_diff_or_masked_settings() {
        let before = BTreeMap::from([
            (
                "Config.Env.DB_PASSWORD".to_owned(),
                "\"hunter2\"".to_owned(),
            ),
            ("Config.Env.TZ".to_owned(), "\"UTC\"".to_owned()),
            ("Config.User".to_owned(), "\"1000\"".to_owned()),
        ]);
        let mut after = before.clone();
        after.insert("Config.Env.DB_PASSWORD".into(), "\"swordfish\"".into());
        after.remove("Config.Env.TZ");
        after.insert("Config.Env.DEBUG".into(), "\"1\"".into());
        let shown: Vec<String> = config_diff(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            vec![
                "Config.Env.DB_PASSWORD: (hidden) -> (hidden)",
                "Config.Env.DEBUG: (unset) -> (hidden)",
                "Config.Env.TZ: (hidden) -> (unset)",
            ]
        );
        let masked = masked_settings(&before);
        assert_eq!(masked["Config.Env.DB_PASSWORD"], HIDDEN);
        assert_eq!(masked["Config.User"], "\"1000\"");
        assert!(!format!("{masked:?}").contains("hunter2"));
    }

    #[test]
    fn diff_names_fields_and_ignores_the_image() {
        let before = BTreeMap::from([
            ("Image".to_owned(), "a:1".to_owned()),
            ("Config.Env".to_owned(), "[\"A=1\"]".to_owned()),
            ("HostConfig.Binds".to_owned(), "[\"/a:/b\"]".to_owned()),
        ]);
        let mut after = before.clone();
        after.insert("Image".into(), "a:2".into());
        assert!(config_diff(&before, &after).is_empty());
        after.remove("HostConfig.Binds");
        after.insert("Config.User".into(), "\"1000\"".into());
        let diff = config_diff(&before, &after);
        let shown: Vec<String> = diff.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "Config.User: (unset) -> \"1000\"",
                "HostConfig.Binds: [\"/a:/b\"] -> (unset)"
            ]
        );
    }
}
