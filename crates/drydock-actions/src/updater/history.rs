//! The records an update leaves: backups by container, audit entries, chronological ids.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use drydock_core::operation::{AuditEntry, AuditStatus, Backup};
use drydock_core::ports::{Store, StoreError};

/// A unique id that sorts in time order: epoch milliseconds and a per-process sequence.
pub(super) fn chronological_id(now: DateTime<Utc>) -> String {
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
